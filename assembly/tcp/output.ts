// Building and sending TCP segments: an option writer (each personality composes its own option
// layout) and tcpSend(), which wraps header, options and payload in IPv4 and Ethernet.
// Called by the personalities (linux.ts, freebsd.ts, bsd43.ts), conn.ts and input.ts.
import { count } from '../stack';
import { C_TCP_OUT_SEGS, C_TCP_OUT_RSTS } from '../abi';
import { wr16, wr32 } from '../wire/bytes';
import { sumBytes, pseudoSum, finish } from '../wire/checksum';
import { ipBegin, ipCommit, PROTO_TCP } from '../net/ip';
import { TH_RST, TCPOPT_NOP, TCPOPT_MSS, TCPOPT_WS, TCPOPT_SACK_PERM, TCPOPT_SACK, TCPOPT_TS, TCPOPT_EOL } from './segment';

const optBuf = new StaticArray<u8>(40);
let optLen: i32 = 0;

@inline export function optReset(): void { optLen = 0; }
@inline export function optLength(): i32 { return optLen; }
@inline function put8(v: u32): void { if (optLen < 40) { unchecked(optBuf[optLen] = <u8>v); optLen++; } }
@inline function put16(v: u32): void { put8(v >> 8); put8(v); }
@inline function put32(v: u32): void { put16(v >> 16); put16(v); }
export function optNop(): void { put8(TCPOPT_NOP); }
export function optMssW(mss: u32): void { put8(TCPOPT_MSS); put8(4); put16(mss); }
export function optWsW(shift: u32): void { put8(TCPOPT_WS); put8(3); put8(shift); }
export function optSackPermW(): void { put8(TCPOPT_SACK_PERM); put8(2); }
export function optTsW(val: u32, ecr: u32): void { put8(TCPOPT_TS); put8(10); put32(val); put32(ecr); }
/** SACK option header for `n` blocks (RFC 2018 §3); follow with n optSackBlock() calls. */
export function optSackBegin(n: i32): void { put8(TCPOPT_SACK); put8(2 + 8 * <u32>n); }
export function optSackBlock(left: u32, right: u32): void { put32(left); put32(right); }
/** Bytes of option space still free. */
export function optRoom(): i32 { return 40 - optLen; }
/** Pad to a multiple of 4 (EOL then zeros, as FreeBSD's tcp_addoptions does). */
export function optPad(): void {
  if ((optLen & 3) != 0) { put8(TCPOPT_EOL); while ((optLen & 3) != 0) put8(0); }
}

/**
 * Send one segment with the options currently in the writer (optReset() first for none).
 * Returns false when it could not be queued (no route or no buffer; counted by the layers below).
 */
export function tcpSend(
  iface: i32, src: u32, dst: u32, sport: u32, dport: u32,
  seq: u32, ack: u32, flags: u32, wnd: u32, data: usize, dataLen: i32,
): bool {
  const q = tcpBegin(iface, src, dst, sport, dport, seq, ack, flags, wnd, dataLen);
  if (q == 0) return false;
  if (dataLen > 0) memory.copy(q, data, dataLen);
  tcpEnd();
  return true;
}

let tStart: usize = 0;
let tTotal: i32 = 0;
let tSrc: u32 = 0;
let tDst: u32 = 0;
let tFlags: u32 = 0;

/**
 * tcpSend in two halves, for a sender that writes the payload in place (send.ts copies from its
 * send buffer straight into the frame): the header and options are written and a pointer to where
 * the `dataLen` payload bytes go is returned (0 when the segment cannot be queued: nothing to end).
 * Fill exactly `dataLen` bytes there, then call tcpEnd() before any other segment is begun.
 */
export function tcpBegin(
  iface: i32, src: u32, dst: u32, sport: u32, dport: u32,
  seq: u32, ack: u32, flags: u32, wnd: u32, dataLen: i32,
): usize {
  const hlen = 20 + ((optLen + 3) & ~3);
  const p = ipBegin(iface, src, dst, PROTO_TCP, hlen + dataLen);
  if (p == 0) { optLen = 0; return 0; }
  wr16(p, sport); wr16(p + 2, dport);
  wr32(p + 4, seq); wr32(p + 8, ack);
  store<u8>(p + 12, <u8>((hlen >> 2) << 4));
  store<u8>(p + 13, <u8>flags);
  wr16(p + 14, wnd > 0xFFFF ? 0xFFFF : wnd);
  store<u16>(p + 16, 0);
  store<u16>(p + 18, 0);
  for (let i = 0; i < optLen; i++) store<u8>(p + 20 + <usize>i, unchecked(optBuf[i]));
  for (let i = optLen; i < hlen - 20; i++) store<u8>(p + 20 + <usize>i, 0);
  tStart = p; tTotal = hlen + dataLen; tSrc = src; tDst = dst; tFlags = flags;
  optLen = 0;
  return p + <usize>hlen;
}

/** Finish the segment begun by tcpBegin: the checksum over header and payload, then IP and Ethernet. */
export function tcpEnd(): void {
  const p = tStart, total = tTotal;
  store<u16>(p + 16, finish(sumBytes(p, total, pseudoSum(tSrc, tDst, PROTO_TCP, total))));
  ipCommit(total);
  count(C_TCP_OUT_SEGS);
  if ((tFlags & TH_RST) != 0) count(C_TCP_OUT_RSTS);
}
