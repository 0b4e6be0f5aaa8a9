// Wire parsing alone: frames the core drops early, or answers without creating state.
//  - notForUs: another host's destination MAC, dropped at the Ethernet check;
//  - badIpSum: IPv4 header checksum wrong, dropped after the IP header check;
//  - badTcpSum: a SYN for the listener with a wrong TCP checksum, dropped after the checksum
//    (IP checked, TCP checksum over 40 bytes + pseudo-header);
//  - closedPort: a good SYN to a port nobody listens on: demultiplexed (connection, SYN-queue and
//    listener lookups miss) and answered with a RST|ACK (built, checksummed, queued for output);
//  - host: the same copies without the core.
// 4,096 distinct SYN frames per kind (Linux client options), 256 per input() call.
import { makeStack, counterDelta } from '../lib/wtcp.mjs';
import { writeTcpRecord, synOptions, tcpRecordSize, tupleAddr, tuplePort, tupleIsn, CLIENT_TSVAL, TH_SYN, ip4 } from '../lib/frames.mjs';
import { measurePaired } from '../lib/measure.mjs';

const REC = tcpRecordSize(20);
const T0 = performance.now();
const clock = () => (1000 + (performance.now() - T0)) >>> 0;

function frames(F, extra) {
  const buf = new Uint8Array(F * REC);
  const base = ip4('13.0.0.0');
  const opts = synOptions(CLIENT_TSVAL);
  for (let t = 0; t < F; t++) {
    writeTcpRecord(buf, t * REC, { src: tupleAddr(base, t), sport: tuplePort(t), seq: tupleIsn(t), flags: TH_SYN, win: 64240, opts, ...extra });
  }
  return buf;
}

export async function run({ runs = 7, sampleMs = 150, B = 256 } = {}) {
  const F = 4096;
  const kinds = {
    notForUs: frames(F, { dstMac: [0x02, 0, 0, 0, 0, 0x77] }),
    badIpSum: frames(F, { badIpSum: true }),
    badTcpSum: frames(F, { badTcpSum: true }),
    closedPort: frames(F, { dport: 81 }),
  };
  const s = await makeStack({ maxSyn: 4096, maxConn: 4096 });
  const w = s.w, inPtr = w.inputPtr();
  const mk = (buf, core) => {
    let cur = 0;
    return (iters) => {
      for (let i = 0; i < iters; i++) {
        s.mem().set(buf.subarray(cur * REC, (cur + B) * REC), inPtr);
        cur = (cur + B) % F;
        if (core) { w.input(B, clock()); w.outputReset(); w.eventsReset(); }
      }
      return iters * B;
    };
  };
  const c0 = s.counters();
  const mem0 = s.memorySize();
  const res = measurePaired([
    ...Object.entries(kinds).map(([name, buf]) => ({ name, fn: mk(buf, true) })),
    { name: 'host', fn: mk(kinds.closedPort, false) },
  ], { runs, sampleMs });
  const d = counterDelta(c0, s.counters());
  const checks = {
    // every kind was taken for what it is, nothing reached the listener
    notForUsCounted: d.WtcpNotForUs > 0,
    badIpSumCounted: d.IpInHdrErrors > 0,
    badTcpSumCounted: d.TcpInCsumErrors > 0,
    closedPortAnsweredWithRst: d.TcpOutRsts > 0 && d.TcpOutRsts === d.TcpOutSegs,
    noPassiveOpens: !d.TcpPassiveOpens && !d.TcpExtSyncookiesSent,
    synqEmpty: w.listenerGet(s.listener, 2) === 0,
    memoryFlat: s.memorySize() === mem0,
  };
  const host = { title: 'host-only copy of the same frames (no core)', value: res.host.rate, unit: 'frames/s' };
  const fig = (id, title, r) => ({ id, title, value: r.rate, unit: 'frames/s', runs, samples: r.samples, baseline: host, extra: { nsPerFrame: 1e9 / r.rate } });
  return {
    figures: [
      fig('parse_not_for_us', 'Parse: wrong destination MAC (dropped at Ethernet)', res.notForUs),
      fig('parse_bad_ip_checksum', 'Parse: bad IPv4 header checksum (dropped at IP)', res.badIpSum),
      fig('parse_bad_tcp_checksum', 'Parse: SYN with bad TCP checksum (dropped after checksum)', res.badTcpSum),
      fig('parse_closed_port_rst', 'Parse + demux + RST reply: SYN to a closed port', res.closedPort),
    ],
    checks, counters: d,
  };
}
