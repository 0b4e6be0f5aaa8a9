// IPv4 input and output (RFC 791, RFC 1122 §3.2.1): header checks, options skipped, fragments
// counted and dropped, demultiplexing to ICMP and TCP; ipBegin()/ipCommit() for senders.
import { count, knob } from '../stack';
import {
  C_IP_IN_RECEIVES, C_IP_IN_HDR_ERRORS, C_IP_IN_ADDR_ERRORS, C_IP_IN_UNKNOWN_PROTOS,
  C_IP_IN_DELIVERS, C_IP_OUT_REQUESTS, C_IP_REASM_REQDS, C_IP_REASM_FAILS, C_IP_IN_DISCARDS,
  K_IP_DEFAULT_TTL,
} from '../abi';
import { rd16, rd32, wr16, wr32 } from '../wire/bytes';
import { sumBytes, verifies, finish } from '../wire/checksum';
import { ifaceAddr, ifaceByAddr, isBroadcast, isMulticast } from './iface';
import { ethBegin, ethCommit } from './arp';
import { icmpInput } from './icmp';
import { tcpInput } from '../tcp/input';

@inline export const IP_HDR: i32 = 20;
@inline export const PROTO_ICMP: u32 = 1;
@inline export const PROTO_TCP: u32 = 6;
// header fields (RFC 791 §3.1)
@inline const IP_VIHL: usize = 0;
@inline const IP_TOS: usize = 1;
@inline const IP_LEN: usize = 2;
@inline const IP_ID: usize = 4;
@inline export const IP_FRAG: usize = 6;
@inline const IP_TTL: usize = 8;
@inline const IP_PROTO: usize = 9;
@inline const IP_SUM: usize = 10;
@inline const IP_SRC: usize = 12;
@inline const IP_DST: usize = 16;
@inline export const IP_DF: u32 = 0x4000;
@inline const IP_MF: u32 = 0x2000;
@inline const IP_OFFMASK: u32 = 0x1FFF;
/** RFC 1122 §3.2.1.7: never send TTL 0; the default if the knob was never set (Linux, FreeBSD) */
@inline const TTL_FALLBACK: i32 = 64;

export function ipInput(iface: i32, p: usize, len: i32, l2multi: bool): void {
  count(C_IP_IN_RECEIVES);
  if (len < IP_HDR) { count(C_IP_IN_HDR_ERRORS); return; }
  const vihl = <u32>load<u8>(p + IP_VIHL);
  const ihl = <i32>(vihl & 0xF) << 2;
  const total = <i32>rd16(p + IP_LEN);
  // RFC 1122 §3.2.1.1-2: version 4, a header of at least 20 bytes inside a total length that the
  // frame holds (bytes after the total length are Ethernet padding), and a checksum that verifies
  if ((vihl >> 4) != 4 || ihl < IP_HDR || total < ihl || total > len) { count(C_IP_IN_HDR_ERRORS); return; }
  if (!verifies(sumBytes(p, ihl, 0))) { count(C_IP_IN_HDR_ERRORS); return; }
  const src = rd32(p + IP_SRC);
  const dst = rd32(p + IP_DST);
  if (martianSource(iface, src)) { count(C_IP_IN_ADDR_ERRORS); return; }
  const bcast = isBroadcast(iface, dst) || isMulticast(dst);
  if (dst != ifaceAddr(iface) && !bcast) { count(C_IP_IN_ADDR_ERRORS); return; }
  if ((rd16(p + IP_FRAG) & (IP_MF | IP_OFFMASK)) != 0) {
    // a fragment: this stack does not reassemble (each one is a request that fails)
    count(C_IP_REASM_REQDS); count(C_IP_REASM_FAILS);
    return;
  }
  const proto = <u32>load<u8>(p + IP_PROTO);
  const body = p + <usize>ihl;
  const blen = total - ihl;
  // TCP is unicast only: a segment that reached us as a group frame at either layer is discarded
  // here, before any TCP code could answer it from a broadcast address (RFC 1122 §4.2.3.10: "MUST
  // silently discard an incoming SYN segment that is addressed to a broadcast or multicast
  // address"; Linux drops pkt_type != PACKET_HOST in tcp_v4_rcv, refuses RTCF_BROADCAST|MULTICAST
  // in tcp_v4_conn_request and sends no reset unless RTN_LOCAL). ICMP decides by the IP
  // destination, as Linux icmp_rcv does (the route's broadcast/multicast flag).
  if (proto == PROTO_TCP) {
    if (bcast || l2multi) { count(C_IP_IN_DISCARDS); return; }
    count(C_IP_IN_DELIVERS); tcpInput(iface, src, dst, body, blen, false);
  }
  else if (proto == PROTO_ICMP) { count(C_IP_IN_DELIVERS); icmpInput(iface, src, dst, body, blen, bcast); }
  else if (bcast) count(C_IP_IN_DISCARDS);
  else count(C_IP_IN_UNKNOWN_PROTOS);
}

/**
 * Sources a host must never believe or answer (RFC 1122 §3.2.1.3, Linux ip_route_input_slow's
 * martian_source): "this network" 0/8, loopback 127/8, broadcast and multicast, and our own
 * addresses (a reflected or spoofed packet; Linux fib_validate_source without accept_local).
 */
function martianSource(iface: i32, src: u32): bool {
  const top = src >>> 24;
  return top == 0 || top == 127 || isMulticast(src) || src == 0xFFFFFFFF || isBroadcast(iface, src) || ifaceByAddr(src) >= 0;
}

let ipStart: usize = 0;
let ipId: u32 = 0;

/**
 * Begin an IPv4 packet from `src` to `dst`; returns a pointer to where the payload goes, or 0
 * when the packet cannot be sent (no route, no buffer). Finish with ipCommit(payloadLen).
 */
export function ipBegin(iface: i32, src: u32, dst: u32, proto: u32, maxPayload: i32): usize {
  const f = ethBegin(iface, dst, 14 + IP_HDR + maxPayload);
  if (f == 0) return 0;
  const p = f + 14;
  ipStart = p;
  store<u8>(p + IP_VIHL, 0x45); store<u8>(p + IP_TOS, 0);
  wr16(p + IP_ID, ipId & 0xFFFF); ipId++;
  wr16(p + IP_FRAG, IP_DF); // DF, as Linux sets for TCP (path MTU discovery); ICMP clears it
  let ttl = knob(K_IP_DEFAULT_TTL);
  if (ttl < 1 || ttl > 255) ttl = TTL_FALLBACK;
  store<u8>(p + IP_TTL, <u8>ttl);
  store<u8>(p + IP_PROTO, <u8>proto);
  wr32(p + IP_SRC, src); wr32(p + IP_DST, dst);
  return p + IP_HDR;
}

export function ipCommit(payloadLen: i32): void {
  const p = ipStart;
  wr16(p + IP_LEN, IP_HDR + payloadLen);
  store<u16>(p + IP_SUM, 0);
  store<u16>(p + IP_SUM, finish(sumBytes(p, IP_HDR, 0)));
  count(C_IP_OUT_REQUESTS);
  ethCommit(14 + IP_HDR + payloadLen);
}
