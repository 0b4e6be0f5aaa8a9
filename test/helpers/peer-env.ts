// One stack and a scripted Peer joined in memory on a VirtualClock: the set-up the conformance
// suites that drive segments by hand share (state transitions, RFC 5961, blind attacks, resource
// exhaustion). Addresses from 198.18.0.0/15; the seed is each suite's own, so its ISNs stay put.
import { Stack, type StackLimits } from '../../src/stack.js';
import { MemoryLink } from '../../src/links/memory.js';
import { VirtualClock } from '../../src/clock.js';
import { Peer } from '../../src/testing/peer.js';
import type { PersonalityName } from '../../src/personalities.js';

export const STACK_IP = '198.18.0.2';
export const PEER_IP = '198.18.0.99';

export function peerEnv<P extends PersonalityName>(
  personality: P,
  opts: { seed: number; sysctls?: Record<string, number>; limits?: StackLimits },
) {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const stack = new Stack({
    personality, clock, link: a, interfaces: [{ ip: `${STACK_IP}/24` }], seed: opts.seed,
    ...(opts.limits ? { limits: opts.limits } : {}), ...(opts.sysctls ? { sysctls: opts.sysctls } : {}),
  });
  const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP });
  return { stack, bsd: stack.bsd, peer, clock, personality };
}
