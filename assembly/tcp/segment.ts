// The parsed TCP segment being processed (one at a time: the core is single-threaded) and the
// option parser. tcp/input.ts fills it after checking the segment once; every handler reads it.
import { rd16, rd32 } from '../wire/bytes';

@inline export const TH_FIN: u32 = 0x01;
@inline export const TH_SYN: u32 = 0x02;
@inline export const TH_RST: u32 = 0x04;
@inline export const TH_PUSH: u32 = 0x08;
@inline export const TH_ACK: u32 = 0x10;
@inline export const TH_URG: u32 = 0x20;
@inline export const TH_ECE: u32 = 0x40;
@inline export const TH_CWR: u32 = 0x80;

@inline export const TCPOPT_EOL: u8 = 0;
@inline export const TCPOPT_NOP: u8 = 1;
@inline export const TCPOPT_MSS: u8 = 2;
@inline export const TCPOPT_WS: u8 = 3;
@inline export const TCPOPT_SACK_PERM: u8 = 4;
@inline export const TCPOPT_SACK: u8 = 5;
@inline export const TCPOPT_TS: u8 = 8;

export let segIface: i32 = 0;
export let segSrc: u32 = 0;        // remote address
export let segDst: u32 = 0;        // local address
export let segSport: u32 = 0;      // remote port
export let segDport: u32 = 0;      // local port
export let segSeq: u32 = 0;
export let segAck: u32 = 0;
export let segFlags: u32 = 0;
export let segWnd: u32 = 0;
export let segLen: i32 = 0;        // payload bytes
export let segData: usize = 0;     // payload pointer
export let segBcast: bool = false; // sent to a broadcast/multicast address
// options
export let optMss: u32 = 0;        // 0 = none
export let optWs: i32 = -1;        // -1 = none
export let optSackOk: bool = false;
export let optTs: bool = false;
export let optTsVal: u32 = 0;
export let optTsEcr: u32 = 0;
/** SACK blocks of the segment (RFC 2018 §3: at most 4 fit), left/right edges; the sender's scoreboard reads them. */
export let optSackN: i32 = 0;
export const optSackL = new StaticArray<u32>(4);
export const optSackR = new StaticArray<u32>(4);
/**
 * A SYN that ended a TIME-WAIT connection carries that connection's suggestion for the new ISS
 * (Linux tcp_timewait_state_process: tw_snd_nxt + 65535 + 2; 4.3BSD: rcv_nxt + TCP_ISSINCR).
 * Set by conn.ts for the one segment being processed; Linux also lets such a SYN skip the
 * SYN-queue-full test (tcp_conn_request's `!isn`).
 */
export let twIss: u32 = 0;
export let twIssSet: bool = false;
export function setTwIss(v: u32): void { twIss = v; twIssSet = true; }

export function segSet(iface: i32, src: u32, dst: u32, p: usize, hlen: i32, len: i32, bcast: bool): void {
  segIface = iface; segSrc = src; segDst = dst;
  segSport = rd16(p); segDport = rd16(p + 2);
  segSeq = rd32(p + 4); segAck = rd32(p + 8);
  segFlags = <u32>load<u8>(p + 13);
  segWnd = rd16(p + 14);
  segData = p + <usize>hlen; segLen = len - hlen;
  segBcast = bcast;
  twIssSet = false;
  parseOptions(p + 20, hlen - 20);
}

/**
 * Options (RFC 9293 §3.1, RFC 7323, RFC 2018). A malformed length ends parsing, keeping what was
 * read so far, as Linux's tcp_parse_options does; options of the wrong size are ignored.
 */
function parseOptions(p: usize, n: i32): void {
  optMss = 0; optWs = -1; optSackOk = false; optTs = false; optTsVal = 0; optTsEcr = 0; optSackN = 0;
  let i: i32 = 0;
  while (i < n) {
    const kind = load<u8>(p + <usize>i);
    if (kind == TCPOPT_EOL) return;
    if (kind == TCPOPT_NOP) { i++; continue; }
    if (i + 1 >= n) return;
    const len = <i32>load<u8>(p + <usize>i + 1);
    if (len < 2 || i + len > n) return;
    const q = p + <usize>i + 2;
    if (kind == TCPOPT_MSS && len == 4) optMss = rd16(q);
    else if (kind == TCPOPT_WS && len == 3) { let w = <i32>load<u8>(q); if (w > 14) w = 14; optWs = w; }
    else if (kind == TCPOPT_SACK_PERM && len == 2) optSackOk = true;
    else if (kind == TCPOPT_TS && len == 10) { optTs = true; optTsVal = rd32(q); optTsEcr = rd32(q + 4); }
    else if (kind == TCPOPT_SACK && len >= 10 && ((len - 2) & 7) == 0) {
      // RFC 2018 §3: 8 bytes per block; a length that is not 2 + 8n is ignored as a whole
      let nb = (len - 2) >> 3; if (nb > 4) nb = 4;
      for (let b = 0; b < nb; b++) {
        unchecked(optSackL[b] = rd32(q + <usize>(b << 3))); unchecked(optSackR[b] = rd32(q + <usize>(b << 3) + 4));
      }
      optSackN = nb;
    }
    i += len;
  }
}
