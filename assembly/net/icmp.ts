// ICMP (RFC 792, RFC 1122 §3.2.2): echo requests get echo replies, so `ping` works; everything else
// is counted and dropped. Called by net/ip.ts; sends through ipBegin()/ipCommit().
import { count, FRAME_MAX } from '../stack';
import { C_ICMP_IN_MSGS, C_ICMP_IN_ERRORS, C_ICMP_IN_CSUM_ERRORS, C_ICMP_IN_ECHOS, C_ICMP_OUT_MSGS, C_ICMP_OUT_ECHO_REPS } from '../abi';
import { sumBytes, verifies, finish } from '../wire/checksum';
import { wr16 } from '../wire/bytes';
import { ipBegin, ipCommit, PROTO_ICMP, IP_HDR, IP_FRAG } from './ip';

@inline const ICMP_HDR: i32 = 8;
@inline const ICMP_TYPE: usize = 0;
@inline const ICMP_SUM: usize = 2;
@inline const ICMP_ECHO_REPLY: u8 = 0;
@inline const ICMP_ECHO: u8 = 8;

export function icmpInput(iface: i32, src: u32, dst: u32, p: usize, len: i32, bcast: bool): void {
  count(C_ICMP_IN_MSGS);
  if (len < ICMP_HDR) { count(C_ICMP_IN_ERRORS); return; }
  if (!verifies(sumBytes(p, len, 0))) { count(C_ICMP_IN_CSUM_ERRORS); count(C_ICMP_IN_ERRORS); return; }
  if (load<u8>(p + ICMP_TYPE) != ICMP_ECHO) return;
  count(C_ICMP_IN_ECHOS);
  if (bcast) return; // icmp_echo_ignore_broadcasts=1, as Linux and FreeBSD default
  // RFC 1122 §3.2.2.6: the reply carries the request's identifier, sequence number and data. One
  // too big for a frame (only possible over a link that delivers jumbo frames) is not answered.
  if (14 + IP_HDR + len > FRAME_MAX) return;
  const q = ipBegin(iface, dst, src, PROTO_ICMP, len);
  if (q == 0) return;
  // DF clear, as Linux (icmp socket pmtudisc DONT) and FreeBSD send their replies
  wr16(q - <usize>IP_HDR + IP_FRAG, 0);
  memory.copy(q, p, len);
  // only the type changes: Linux icmp_echo and FreeBSD icmp_reflect keep the request's code
  store<u8>(q + ICMP_TYPE, ICMP_ECHO_REPLY);
  store<u16>(q + ICMP_SUM, 0);
  store<u16>(q + ICMP_SUM, finish(sumBytes(q, len, 0)));
  ipCommit(len);
  count(C_ICMP_OUT_MSGS); count(C_ICMP_OUT_ECHO_REPS);
}
