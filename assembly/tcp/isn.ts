// Initial sequence numbers (RFC 6528) and per-address-pair timestamp offsets. Owns the two 128-bit
// secrets and the 4-microsecond clock M. Called by the connection code for every active open and
// every non-cookie SYN-ACK (isnGenerate), and by the timestamp option code (tsOffset), including the
// Linux cookie path, which adds the offset after encoding the option bits into TSval
// (listen-behaviour.md §8 item 4). The host seeds it once with 256 random bits (isnSeed): the core
// has no random source of its own.

import { sipHash2, sipHash3, sipKeyStore } from './siphash';

// Linux net/core/secure_seq.c keeps two siphash keys, net_secret (secure_tcp_seq) and ts_secret
// (secure_tcp_ts_off). Same split here: knowing one never helps with the other.
const ISN_SECRET: usize = memory.data(16);
const TS_SECRET: usize = memory.data(16);

// M: RFC 6528 §3, "M is the 4 microsecond timer". The host's clock is a wrapping u32 of
// microseconds, so nowUs >> 2 alone would be a 30-bit clock that steps back by 2^30 ticks every
// 2^32 us (71.6 min). RFC 9293 §3.4.1 asks for a 32-bit clock ticking every 4 us, so the ticks are
// accumulated here instead: the elapsed time since the previous call (u32 wrapping difference, always
// taken as forward) is added to a 64-bit microsecond count, and M is its bits 2..33. Until the host
// clock first wraps this equals nowUs >> 2 exactly. Calls must come less than 71.6 min apart for M to
// track real time; a longer gap still moves M forward, just by less.
let clockStarted = false;
let clockLastUs: u32 = 0;
let clockTotalUs: u64 = 0;

/**
 * Installs the secrets: k0..k3 = the ISN key (Linux net_secret), k4..k7 = the timestamp-offset key
 * (Linux ts_secret). Restarts the 4-us clock at the next call.
 */
export function isnSeed(k0: u32, k1: u32, k2: u32, k3: u32, k4: u32, k5: u32, k6: u32, k7: u32): void {
  sipKeyStore(ISN_SECRET, k0, k1, k2, k3);
  sipKeyStore(TS_SECRET, k4, k5, k6, k7);
  clockStarted = false;
  clockLastUs = 0;
  clockTotalUs = 0;
}

/** Advances and returns M, the 32-bit 4-microsecond clock. */
function isnClockTicks(nowUs: u32): u32 {
  if (!clockStarted) {
    clockStarted = true;
    clockTotalUs = <u64>nowUs;
  } else {
    clockTotalUs += <u64>(nowUs - clockLastUs); // u32 subtraction wraps: elapsed us since last call
  }
  clockLastUs = nowUs;
  return <u32>(clockTotalUs >> 2);
}

/**
 * RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), F = SipHash-2-4
 * keyed by the ISN secret over (saddr, daddr, sport << 16 | dport), the word layout of Linux
 * secure_tcp_seq (net/core/secure_seq.c). Linux then adds a 64-ns clock (seq_scale); RFC 6528's 4-us
 * M is used here instead. Host-order values, always (local address, remote address, local port,
 * remote port): Linux passes that order both in tcp_v4_connect and in tcp_v4_init_seq (the SYN's
 * daddr, saddr, dest, source), so an active and a passive open of one 4-tuple share F. Wraps mod 2^32.
 */
export function isnGenerate(saddr: u32, daddr: u32, sport: u32, dport: u32, nowUs: u32): u32 {
  const f = <u32>sipHash3(ISN_SECRET, saddr, daddr, ((sport & 0xffff) << 16) | (dport & 0xffff));
  return f + isnClockTicks(nowUs);
}

/**
 * Timestamp offset for an address pair: SipHash-2-4 keyed by the timestamp secret over
 * (saddr, daddr), the layout of Linux secure_tcp_ts_off (net/core/secure_seq.c). Linux calls it as
 * secure_tcp_ts_off(net, local, remote) both when it answers a SYN (tcp_v4_init_ts_off) and when it
 * checks a cookie ACK (cookie_v4_check), so callers pass (local address, remote address). Used only
 * when tcp_timestamps == 1; with 2 the offset is 0.
 */
export function tsOffset(saddr: u32, daddr: u32): u32 {
  return <u32>sipHash2(TS_SECRET, saddr, daddr);
}
