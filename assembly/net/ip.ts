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
import { ifaceAddr, isBroadcast, isMulticast } from './iface';
import { ethBegin, ethCommit } from './arp';
import { icmpInput } from './icmp';
import { tcpInput } from '../tcp/input';

@inline export const IP_HDR: i32 = 20;
@inline export const PROTO_ICMP: u32 = 1;
@inline export const PROTO_TCP: u32 = 6;

export function ipInput(iface: i32, p: usize, len: i32, l2multi: bool): void {
  count(C_IP_IN_RECEIVES);
  if (len < IP_HDR) { count(C_IP_IN_HDR_ERRORS); return; }
  const vihl = <u32>load<u8>(p);
  const ihl = <i32>(vihl & 0xF) << 2;
  const total = <i32>rd16(p + 2);
  if ((vihl >> 4) != 4 || ihl < IP_HDR || total < ihl || total > len) { count(C_IP_IN_HDR_ERRORS); return; }
  if (!verifies(sumBytes(p, ihl, 0))) { count(C_IP_IN_HDR_ERRORS); return; }
  const src = rd32(p + 12);
  const dst = rd32(p + 16);
  // martian sources (RFC 1122 §3.2.1.3): never answer a broadcast or multicast source
  if (isMulticast(src) || src == 0xFFFFFFFF || isBroadcast(iface, src)) { count(C_IP_IN_ADDR_ERRORS); return; }
  const bcast = isBroadcast(iface, dst) || isMulticast(dst);
  if (dst != ifaceAddr(iface) && !bcast) { count(C_IP_IN_ADDR_ERRORS); return; }
  const frag = rd16(p + 6);
  if ((frag & 0x3FFF) != 0) {
    // MF set or a non-zero offset: this stack does not reassemble
    count(C_IP_REASM_REQDS); count(C_IP_REASM_FAILS);
    return;
  }
  const proto = <u32>load<u8>(p + 9);
  const body = p + <usize>ihl;
  const blen = total - ihl;
  if (proto == PROTO_TCP) { count(C_IP_IN_DELIVERS); tcpInput(iface, src, dst, body, blen, bcast || l2multi); }
  else if (proto == PROTO_ICMP) { count(C_IP_IN_DELIVERS); icmpInput(iface, src, dst, body, blen, bcast || l2multi); }
  else if (bcast) count(C_IP_IN_DISCARDS);
  else count(C_IP_IN_UNKNOWN_PROTOS);
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
  store<u8>(p, 0x45); store<u8>(p + 1, 0);
  wr16(p + 4, ipId & 0xFFFF); ipId++;
  wr16(p + 6, 0x4000); // DF, as Linux sets for TCP
  store<u8>(p + 8, <u8>knob(K_IP_DEFAULT_TTL));
  store<u8>(p + 9, <u8>proto);
  wr32(p + 12, src); wr32(p + 16, dst);
  return p + IP_HDR;
}

export function ipCommit(payloadLen: i32): void {
  const p = ipStart;
  wr16(p + 2, IP_HDR + payloadLen);
  store<u16>(p + 10, 0);
  store<u16>(p + 10, finish(sumBytes(p, IP_HDR, 0)));
  count(C_IP_OUT_REQUESTS);
  ethCommit(14 + IP_HDR + payloadLen);
}
