// The host and the core number knobs, counters and events the same way (src/core-abi.ts mirrors
// assembly/abi.ts): a drift here would silently set the wrong knob or misname a counter.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { KNOBS, COUNTERS } from '../../src/core-abi.js';

const src = readFileSync(new URL('../../assembly/abi.ts', import.meta.url), 'utf8');
const consts = new Map<string, number>();
for (const m of src.matchAll(/export const (\w+): i32 = (\d+);/g)) consts.set(m[1]!, Number(m[2]));

describe('core ABI', () => {
  it('every knob has the same index in the core', () => {
    expect(consts.get('KNOB_COUNT')).toBe(KNOBS.length);
    KNOBS.forEach((name, i) => expect([name, consts.get(`K_${name.toUpperCase()}`)]).toEqual([name, i]));
  });

  it('counters are numbered 0..N-1 without gaps, as many as the host names', () => {
    const ids = [...consts].filter(([k]) => k.startsWith('C_')).map(([, v]) => v).sort((a, b) => a - b);
    expect(consts.get('COUNTER_COUNT')).toBe(COUNTERS.length);
    expect(ids).toEqual(COUNTERS.map((_, i) => i));
  });

  it('counter names line up with the core constants', () => {
    const pairs: [string, string][] = [
      ['C_IP_IN_RECEIVES', 'IpInReceives'], ['C_TCP_PASSIVE_OPENS', 'TcpPassiveOpens'],
      ['C_TCP_IN_CSUM_ERRORS', 'TcpInCsumErrors'], ['C_SYNCOOKIES_SENT', 'TcpExtSyncookiesSent'],
      ['C_LISTEN_OVERFLOWS', 'TcpExtListenOverflows'], ['C_LISTEN_DROPS', 'TcpExtListenDrops'],
      ['C_REQQ_FULL_DROP', 'TcpExtTCPReqQFullDrop'], ['C_SC_ADDED', 'TcpScAdded'],
      ['C_SC_RECVCOOKIE', 'TcpScRecvCookie'], ['C_ACCFILT_DROPS', 'TcpAccFiltDrops'],
      ['C_IN_FRAMES', 'WtcpInFrames'], ['C_RST_RATE_LIMITED', 'WtcpRstRateLimited'],
    ];
    for (const [c, name] of pairs) expect([c, COUNTERS[consts.get(c)!]]).toEqual([c, name]);
  });
});
