// ICMP (RFC 792): echo requests get echo replies, so `ping` works; everything else is counted.
// Called by net/ip.ts.
import { count } from '../stack';
import { C_ICMP_IN_MSGS, C_ICMP_IN_ERRORS, C_ICMP_IN_CSUM_ERRORS, C_ICMP_IN_ECHOS, C_ICMP_OUT_MSGS, C_ICMP_OUT_ECHO_REPS } from '../abi';
import { sumBytes, verifies, finish } from '../wire/checksum';
import { ipBegin, ipCommit, PROTO_ICMP } from './ip';

@inline const ICMP_ECHO_REPLY: u8 = 0;
@inline const ICMP_ECHO: u8 = 8;

export function icmpInput(iface: i32, src: u32, dst: u32, p: usize, len: i32, bcast: bool): void {
  count(C_ICMP_IN_MSGS);
  if (len < 8) { count(C_ICMP_IN_ERRORS); return; }
  if (!verifies(sumBytes(p, len, 0))) { count(C_ICMP_IN_CSUM_ERRORS); count(C_ICMP_IN_ERRORS); return; }
  if (load<u8>(p) != ICMP_ECHO) return;
  count(C_ICMP_IN_ECHOS);
  if (bcast) return; // icmp_echo_ignore_broadcasts=1, as Linux and FreeBSD default
  const q = ipBegin(iface, dst, src, PROTO_ICMP, len);
  if (q == 0) return;
  memory.copy(q, p, len);
  store<u8>(q, ICMP_ECHO_REPLY);
  store<u16>(q + 2, 0);
  store<u16>(q + 2, finish(sumBytes(q, len, 0)));
  ipCommit(len);
  count(C_ICMP_OUT_MSGS); count(C_ICMP_OUT_ECHO_REPS);
}
