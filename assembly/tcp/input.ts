// TCP input: check the segment once (length, header, checksum), parse it into the segment record,
// and hand it to its owner: a connection, a SYN-queue entry, a listener, or nobody (RST).
// Demultiplexing order follows the kernels: established/TIME-WAIT first, then half-open, then
// listeners (Linux ehash then listening hash; the BSDs' exact PCB match then wildcard).
import { knob, count } from '../stack';
import { K_FAMILY, FAMILY_LINUX, FAMILY_FREEBSD, C_TCP_IN_SEGS, C_TCP_IN_ERRS, C_TCP_IN_CSUM_ERRORS } from '../abi';
import { sumBytes, pseudoSum, verifies } from '../wire/checksum';
import { PROTO_TCP } from '../net/ip';
import { segSet, segDst, segDport, segSrc, segSport, segFlags, segBcast, TH_RST } from './segment';
import { connLookup, connInput, replyReset } from './conn';
import { synLookup, sListener } from './synq';
import { listenerLookup } from './listener';
import { linuxListenerInput, linuxEmbryoInput } from './linux';
import { fbsdListenerInput } from './freebsd';
import { bsdListenerInput, bsdEmbryoInput } from './bsd43';

export function tcpInput(iface: i32, src: u32, dst: u32, p: usize, len: i32, bcast: bool): void {
  if (len < 20) { count(C_TCP_IN_ERRS); return; }
  const hlen = <i32>(load<u8>(p + 12) >> 4) << 2;
  if (hlen < 20 || hlen > len) { count(C_TCP_IN_ERRS); return; }
  if (!verifies(sumBytes(p, len, pseudoSum(src, dst, PROTO_TCP, <u32>len)))) {
    count(C_TCP_IN_CSUM_ERRORS); count(C_TCP_IN_ERRS);
    return;
  }
  count(C_TCP_IN_SEGS);
  segSet(iface, src, dst, p, hlen, len, bcast);
  tcpDispatch();
}

export function tcpDispatch(): void {
  const c = connLookup(segDst, segDport, segSrc, segSport);
  if (c >= 0) { connInput(c); return; }
  const fam = knob(K_FAMILY);
  const e = synLookup(segDst, segDport, segSrc, segSport);
  if (fam == FAMILY_LINUX) {
    if (e >= 0) { linuxEmbryoInput(e); return; }
    const l = listenerLookup(segDst, segDport, segSrc, segSport);
    if (l >= 0) { linuxListenerInput(l); return; }
  } else if (fam == FAMILY_FREEBSD) {
    // the syncache is reached only through a live listener (tcp_input's listen branch)
    const l = listenerLookup(segDst, segDport, segSrc, segSport);
    if (l >= 0) { fbsdListenerInput(l, e); return; }
  } else {
    if (e >= 0) { bsdEmbryoInput(e); return; }
    const l = listenerLookup(segDst, segDport, segSrc, segSport);
    if (l >= 0) { bsdListenerInput(l); return; }
  }
  noSocket();
}

/** No socket at all: RFC 9293 §3.10.7.1 (CLOSED). Never answer a RST or a broadcast. */
export function noSocket(): void {
  if ((segFlags & TH_RST) != 0 || segBcast) return;
  replyReset();
}
