/**
 * From a client-side capture to per-connection segment lists, normalised for comparison.
 *
 * Owns: matching captured TCP segments to client connections (by client port), the time base (the
 * connection's first SYN), relative sequence numbers (server ISN from its first SYN-ACK, client ISN
 * from its SYN), the SYN arrival rank, and the burst sanity check.
 * Called by: run-scenario.ts; the records it makes are compared by compare.ts.
 */
import {
  TCP_ACK,
  TCP_SYN,
  tcpFlagString,
  tcpOptionNames,
  type PcapFile,
  type TcpSegment,
} from '../helpers/pcap.js';

/** One segment, normalised. */
export interface NormSegment {
  /** ms after the connection's first SYN (as captured on the client side) */
  t: number;
  /** tcpdump style: "S.", ".", "R", "R.", "P.", "F." */
  flags: string;
  /** relative to the sender's ISN; raw if that ISN is unknown (e.g. a RST before any SYN-ACK) */
  seq: number;
  /** relative to the receiver's ISN; null if the ACK flag is clear */
  ack: number | null;
  len: number;
  /** sorted, unique option kinds ("the set of option kinds") */
  optionKinds: number[];
  /** diagnostics only, not compared */
  window: number;
  mss?: number;
  wscale?: number;
}

export interface ConnectionCapture {
  localPort: number;
  /** epoch ms of the first client SYN; undefined if none was captured */
  firstSynEpochMs?: number;
  clientIsn?: number;
  serverIsn?: number;
  /** segments the server sent to this connection's port */
  server: NormSegment[];
  /** segments the client sent from this port (diagnostics) */
  client: NormSegment[];
}

function rel(x: number, base: number | undefined): number {
  return base === undefined ? x : (x - base) >>> 0;
}

function normalise(seg: TcpSegment, t: number, ownIsn: number | undefined, peerIsn: number | undefined): NormSegment {
  const n: NormSegment = {
    t: Math.round(t * 10) / 10,
    flags: tcpFlagString(seg.flags),
    seq: rel(seg.seq, ownIsn),
    ack: seg.flags & TCP_ACK ? rel(seg.ack, peerIsn) : null,
    len: seg.payloadLength,
    optionKinds: [...new Set(seg.optionKinds)].sort((a, b) => a - b),
    window: seg.window,
  };
  if (seg.optionValues.mss !== undefined) n.mss = seg.optionValues.mss;
  if (seg.optionValues.wscale !== undefined) n.wscale = seg.optionValues.wscale;
  return n;
}

/**
 * Splits the capture by connection. `clientPorts` are the ports the clients bound; segments between
 * clientIp:port and serverIp:serverPort belong to that connection.
 */
export function splitConnections(
  pcap: PcapFile,
  clientIp: string,
  serverIp: string,
  serverPort: number,
  clientPorts: number[],
): Map<number, ConnectionCapture> {
  type Raw = { timeMs: number; seg: TcpSegment; fromClient: boolean };
  const raw = new Map<number, Raw[]>();
  for (const p of clientPorts) raw.set(p, []);
  for (const rec of pcap.records) {
    const seg = rec.tcp;
    if (!seg) continue;
    if (seg.src === clientIp && seg.dst === serverIp && seg.dstPort === serverPort && raw.has(seg.srcPort)) {
      raw.get(seg.srcPort)!.push({ timeMs: rec.timeMs, seg, fromClient: true });
    } else if (seg.src === serverIp && seg.dst === clientIp && seg.srcPort === serverPort && raw.has(seg.dstPort)) {
      raw.get(seg.dstPort)!.push({ timeMs: rec.timeMs, seg, fromClient: false });
    }
  }
  const out = new Map<number, ConnectionCapture>();
  for (const [port, list] of raw) {
    const firstSyn = list.find((r) => r.fromClient && (r.seg.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN);
    const firstSynAck = list.find((r) => !r.fromClient && (r.seg.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK));
    const clientIsn = firstSyn?.seg.seq;
    const serverIsn = firstSynAck?.seg.seq;
    const t0 = firstSyn?.timeMs ?? list[0]?.timeMs ?? 0;
    const c: ConnectionCapture = { localPort: port, server: [], client: [] };
    if (firstSyn) c.firstSynEpochMs = firstSyn.timeMs;
    if (clientIsn !== undefined) c.clientIsn = clientIsn;
    if (serverIsn !== undefined) c.serverIsn = serverIsn;
    for (const r of list) {
      if (r.fromClient) c.client.push(normalise(r.seg, r.timeMs - t0, clientIsn, serverIsn));
      else c.server.push(normalise(r.seg, r.timeMs - t0, serverIsn, clientIsn));
    }
    out.set(port, c);
  }
  return out;
}

/**
 * Ranks connections by the capture time of their first SYN (0 = first). Connections without a
 * captured SYN come last, by port.
 */
export function synRanks(conns: ConnectionCapture[]): Map<number, number> {
  const sorted = [...conns].sort((a, b) => {
    const ta = a.firstSynEpochMs ?? Infinity;
    const tb = b.firstSynEpochMs ?? Infinity;
    return ta !== tb ? ta - tb : a.localPort - b.localPort;
  });
  return new Map(sorted.map((c, i) => [c.localPort, i]));
}

/**
 * A burst is clean if every burst connection's first SYN was captured before any segment the
 * server sent to a burst connection: then every SYN reached the server before any third ACK. If not,
 * the run says nothing reliable about concurrent arrival and the harness reports that (not a
 * stack/kernel mismatch).
 */
export function burstIsClean(conns: ConnectionCapture[]): { clean: boolean; detail: string } {
  const synTimes = conns.map((c) => c.firstSynEpochMs);
  if (synTimes.some((t) => t === undefined)) return { clean: false, detail: 'a burst connection has no captured SYN' };
  const lastSyn = Math.max(...(synTimes as number[]));
  let firstReply = Infinity;
  for (const c of conns) {
    const s = c.server[0];
    if (s) firstReply = Math.min(firstReply, c.firstSynEpochMs! + s.t);
  }
  const clean = lastSyn < firstReply;
  return {
    clean,
    detail: `burst SYNs spread over ${(lastSyn - Math.min(...(synTimes as number[]))).toFixed(1)} ms; first server reply ${
      firstReply === Infinity ? 'none' : `${(firstReply - Math.min(...(synTimes as number[]))).toFixed(1)} ms`
    } after the first SYN`,
  };
}

/**
 * "+100.2ms S. seq 0 ack 1 [mss,sackOK,TS,wscale]"; `verbose` adds the values that are shown but
 * not compared: "win 65160 mss 1460 ws 7".
 */
export function formatSegment(s: NormSegment, verbose = false): string {
  const ack = s.ack === null ? '' : ` ack ${s.ack}`;
  const len = s.len ? ` len ${s.len}` : '';
  const opts = s.optionKinds.length ? ` [${tcpOptionNames(s.optionKinds)}]` : '';
  const extra = verbose
    ? ` win ${s.window}${s.mss !== undefined ? ` mss ${s.mss}` : ''}${s.wscale !== undefined ? ` ws ${s.wscale}` : ''}`
    : '';
  return `+${s.t.toFixed(1)}ms ${s.flags} seq ${s.seq}${ack}${len}${opts}${extra}`;
}
