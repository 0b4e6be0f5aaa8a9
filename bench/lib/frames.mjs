// Frame building for the benchmarks: Ethernet II + IPv4 + TCP frames as a Linux client sends them,
// written as input records ([u16 length LE][u16 iface LE][frame][pad to 4]) so that a batch of
// pre-built records is one copy into the core's input area. Also: ARP requests, the Internet
// checksum, and the RFC 1624 incremental checksum patch used in the timed loops.
//
// Topology: the stack is 198.18.0.2/24 with MAC 02:00:00:00:00:02 and gateway 198.18.0.1
// (02:00:00:00:00:01). Clients are off-link (10.0.0.0/8 etc.), so every frame comes from the
// gateway's MAC and every reply goes to it: one ARP entry serves any number of client addresses.

export const SERVER_MAC = [0x02, 0, 0, 0, 0, 0x02];
export const GW_MAC = [0x02, 0, 0, 0, 0, 0x01];
export const ip4 = (s) => s.split('.').reduce((a, b) => ((a * 256) + Number(b)) >>> 0, 0);
export const SERVER_IP = ip4('198.18.0.2');
export const GW_IP = ip4('198.18.0.1');
export const SERVER_PORT = 80;

export const TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_PSH = 0x08, TH_ACK = 0x10;

// Record layout offsets (record = 4-byte header + frame): everything the timed loops patch.
export const REC_HDR = 4;
export const R_IP = REC_HDR + 14;          // IPv4 header
export const R_TCP = R_IP + 20;            // TCP header (no IP options here)
export const R_TCP_SEQ = R_TCP + 4;
export const R_TCP_ACK = R_TCP + 8;
export const R_TCP_SUM = R_TCP + 16;
// ACK/FIN records carry NOP NOP TS(val, ecr): TSecr at TCP option offset 8
export const R_ACK_TSECR = R_TCP + 20 + 8;

/** one's-complement 16-bit sum of buf[off..off+len), big-endian words, added to acc (unfolded) */
export function sum16(buf, off, len, acc = 0) {
  let s = acc;
  const end = off + (len & ~1);
  for (let i = off; i < end; i += 2) s += (buf[i] << 8) | buf[i + 1];
  if (len & 1) s += buf[off + len - 1] << 8;
  return s;
}
export function fold16(s) {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

const put16 = (b, o, v) => { b[o] = (v >>> 8) & 255; b[o + 1] = v & 255; };
const put32 = (b, o, v) => { b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 255; b[o + 2] = (v >>> 8) & 255; b[o + 3] = v & 255; };
export const get16 = (b, o) => (b[o] << 8) | b[o + 1];
export const get32 = (b, o) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

/** Linux client SYN options: MSS 1460, SACK-permitted, TS(val, 0), NOP, WS 7 (20 bytes) */
export function synOptions(tsval) {
  return [2, 4, 0x05, 0xb4, 4, 2, 8, 10, tsval >>> 24, (tsval >>> 16) & 255, (tsval >>> 8) & 255, tsval & 255,
    0, 0, 0, 0, 1, 3, 3, 7];
}
/** ACK options with timestamps: NOP NOP TS(val, ecr) (12 bytes) */
export function ackOptions(tsval, tsecr = 0) {
  return [1, 1, 8, 10, tsval >>> 24, (tsval >>> 16) & 255, (tsval >>> 8) & 255, tsval & 255,
    tsecr >>> 24, (tsecr >>> 16) & 255, (tsecr >>> 8) & 255, tsecr & 255];
}

/** Size of the record holding a TCP frame with `optLen` option bytes and no payload. */
export const tcpRecordSize = (optLen) => (REC_HDR + 14 + 20 + 20 + optLen + 3) & ~3;

/**
 * Write one TCP input record at buf[off]. Returns the record's size (padded to 4).
 * f: { src, dst, sport, dport, seq, ack, flags, win, opts, dstMac, srcMac, badTcpSum, badIpSum }
 */
export function writeTcpRecord(buf, off, f) {
  const opts = f.opts ?? [];
  const tcpLen = 20 + opts.length;
  const frameLen = 14 + 20 + tcpLen;
  const size = (REC_HDR + frameLen + 3) & ~3;
  buf.fill(0, off, off + size);
  buf[off] = frameLen & 255; buf[off + 1] = frameLen >>> 8;   // u16 LE length
  buf[off + 2] = 0; buf[off + 3] = 0;                         // u16 LE iface 0
  const e = off + REC_HDR;
  buf.set(f.dstMac ?? SERVER_MAC, e); buf.set(f.srcMac ?? GW_MAC, e + 6); put16(buf, e + 12, 0x0800);
  const i = e + 14;
  buf[i] = 0x45; put16(buf, i + 2, 20 + tcpLen); put16(buf, i + 4, f.ipId ?? 0); put16(buf, i + 6, 0x4000);
  buf[i + 8] = 64; buf[i + 9] = 6;
  put32(buf, i + 12, f.src); put32(buf, i + 16, f.dst ?? SERVER_IP);
  let ipSum = (~fold16(sum16(buf, i, 20))) & 0xffff;
  if (f.badIpSum) ipSum ^= 0x5a5a;
  put16(buf, i + 10, ipSum);
  const t = i + 20;
  put16(buf, t, f.sport); put16(buf, t + 2, f.dport ?? SERVER_PORT);
  put32(buf, t + 4, f.seq >>> 0); put32(buf, t + 8, (f.ack ?? 0) >>> 0);
  buf[t + 12] = (tcpLen / 4) << 4; buf[t + 13] = f.flags; put16(buf, t + 14, f.win ?? 64240);
  for (let k = 0; k < opts.length; k++) buf[t + 20 + k] = opts[k];
  // pseudo-header: src, dst, proto, TCP length
  let s = sum16(buf, i + 12, 8) + 6 + tcpLen;
  s = sum16(buf, t, tcpLen, s);
  let tcpSum = (~fold16(s)) & 0xffff;
  if (f.badTcpSum) tcpSum ^= 0x1234;
  put16(buf, t + 16, tcpSum);
  return size;
}

/** ARP request record from (senderIp, senderMac) asking for targetIp. */
export function writeArpRequest(buf, off, senderIp, senderMac, targetIp) {
  const frameLen = 42;
  buf.fill(0, off, off + 48);
  buf[off] = frameLen; buf[off + 1] = 0;
  const e = off + REC_HDR;
  buf.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], e); buf.set(senderMac, e + 6); put16(buf, e + 12, 0x0806);
  const a = e + 14;
  put16(buf, a, 1); put16(buf, a + 2, 0x0800); buf[a + 4] = 6; buf[a + 5] = 4; put16(buf, a + 6, 1);
  buf.set(senderMac, a + 8); put32(buf, a + 14, senderIp); put32(buf, a + 24, targetIp);
  return 48;
}

/**
 * RFC 1624 eqn. 3 in place: set the TCP ack (32 bits) and TSecr (32 bits) of the record at `r`
 * (whose template holds 0 in both) and fix its checksum incrementally: HC' = ~(~HC + ~m + m').
 * `m` is a Uint8Array over the core's memory. This is what the timed loops pay per patched frame.
 */
export function patchAckEcr(m, r, ack, ecr) {
  const c = r + R_TCP_SUM;
  let s = (~((m[c] << 8) | m[c + 1])) & 0xffff;
  // old words were 0: ~0 = 0xffff each, four of them
  s += 0x3fffc + (ack >>> 16) + (ack & 0xffff) + (ecr >>> 16) + (ecr & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  const hc = ~s & 0xffff;
  const a = r + R_TCP_ACK;
  m[a] = ack >>> 24; m[a + 1] = (ack >>> 16) & 255; m[a + 2] = (ack >>> 8) & 255; m[a + 3] = ack & 255;
  const t = r + R_ACK_TSECR;
  m[t] = ecr >>> 24; m[t + 1] = (ecr >>> 16) & 255; m[t + 2] = (ecr >>> 8) & 255; m[t + 3] = ecr & 255;
  m[c] = hc >>> 8; m[c + 1] = hc & 255;
}

/** Check a TCP record's checksum in full (setup-time self-test of patchAckEcr). */
export function tcpRecordChecksumOk(buf, r) {
  const frameLen = buf[r] | (buf[r + 1] << 8);
  const tcpLen = frameLen - 34;
  let s = sum16(buf, r + R_IP + 12, 8) + 6 + tcpLen;
  s = sum16(buf, r + R_TCP, tcpLen, s);
  return fold16(s) === 0xffff;
}

/**
 * Client tuple t -> (address, port). Addresses from `base` upwards, 4,096 ports each (20000..24095),
 * so a million tuples use 245 addresses: distinct 4-tuples, realistic hash inputs.
 */
export const tupleAddr = (base, t) => (base + 1 + (t >>> 12)) >>> 0;
export const tuplePort = (t) => 20000 + (t & 4095);
/** the client's ISN and TSval for tuple t (any fixed values do; these are spread out) */
export const tupleIsn = (t) => Math.imul(t + 1, 0x9e3779b1) >>> 0;
export const CLIENT_TSVAL = 0x10000;
