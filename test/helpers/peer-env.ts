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

export type PeerEnv = ReturnType<typeof peerEnv>;

/** A listening socket on `port` (backlog 8 unless given). */
export function listenOn(env: PeerEnv, port = 80, backlog = 8): number {
  const fd = env.bsd.socket('AF_INET', 'SOCK_STREAM');
  env.bsd.bind(fd, { address: '0.0.0.0', port });
  env.bsd.listen(fd, backlog);
  return fd;
}

/**
 * A passive open from the peer (ISN 1000, MSS option only) completed and accepted on port 80: the
 * stack is ESTABLISHED with RCV.NXT = 1001; `s` is its ISS.
 */
export async function acceptedFromPeer(env: PeerEnv, sport = 40000) {
  const lfd = listenOn(env);
  const f = env.peer.flow({ sport, dport: 80, isn: 1000 });
  const sa = await f.connect({ options: { mss: 1460 } });
  await env.peer.settle();
  const { fd } = env.bsd.accept(lfd);
  return { lfd, fd, f, s: sa.seq, sport };
}
