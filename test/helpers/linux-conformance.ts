// Shared setup for the Linux personality's conformance suite (test/conformance/linux-*.test.ts):
// one Stack per test on a VirtualClock, joined by a MemoryLink to a scripted Peer at 198.18.0.99,
// a listener on 0.0.0.0:8080, and small helpers that keep the tests reading like packet traces.
// Spec = /work/shared/listen-behaviour.md; `c` is the peer's ISN, `s` the stack's ISS.
import { expect } from 'vitest';
import { Stack, type SynFloodEvent } from '../../src/stack.js';
import { VirtualClock } from '../../src/clock.js';
import { MemoryLink } from '../../src/links/memory.js';
import { Peer, type TcpFlow, type ReceivedSegment, type SegmentTemplate } from '../../src/testing/peer.js';
import type { TcpOptions } from '../../src/testing/frames.js';
import type { SysctlOverrides } from '../../src/sysctl.js';
import type { CounterName } from '../../src/core-abi.js';

export const STACK_IP = '198.18.0.2';
export const PEER_IP = '198.18.0.99';
export const BCAST_IP = '198.18.0.255';
export const PORT = 8080;

export const LINUX_PRESETS = ['linux-4.14', 'linux-5.4', 'linux-6.13', 'linux-6.18'] as const;
export type LinuxPreset = (typeof LINUX_PRESETS)[number];

/** What differs between the presets (spec 2.2, 2.3, 2.13, and the 6.18 observations). */
export interface PresetFacts {
  /** net.core.somaxconn default: 128 before 5.4, 4096 from 5.4 (spec 2.2, man-pages 5.05) */
  somaxconn: number;
  /** SYN queue full at qlen > backlog (6.13+) instead of qlen >= backlog (4.4 ... 6.12) */
  synqGt: boolean;
  /** non-exact in-window RST in SYN-RECEIVED draws a challenge ACK (6.18 observation 1) */
  rstChallenge: boolean;
  /** third-ACK TSecr must echo a SYN-ACK TSval (6.15+, 6.18 observation 3) */
  tsecrCheck: boolean;
  /** window scale offered: ilog2(tcp_rmem[2]) - 15 (6 MiB => 7; 32 MiB since 6.16 => 10) */
  wscale: number;
}

export const FACTS: Readonly<Record<LinuxPreset, PresetFacts>> = {
  'linux-4.14': { somaxconn: 128, synqGt: false, rstChallenge: false, tsecrCheck: false, wscale: 7 },
  'linux-5.4': { somaxconn: 4096, synqGt: false, rstChallenge: false, tsecrCheck: false, wscale: 7 },
  'linux-6.13': { somaxconn: 4096, synqGt: true, rstChallenge: false, tsecrCheck: false, wscale: 7 },
  'linux-6.18': { somaxconn: 4096, synqGt: true, rstChallenge: true, tsecrCheck: true, wscale: 10 },
};

/** A SYN as a Linux client sends it: MSS, SACK-permitted, timestamps, window scale 7. */
export function linuxSynOptions(tsval = 1000): TcpOptions {
  return { mss: 1460, sackOk: true, ts: [tsval, 0], wscale: 7 };
}

export interface Env {
  preset: LinuxPreset;
  facts: PresetFacts;
  clock: VirtualClock;
  stack: Stack;
  peer: Peer;
  /** the listening descriptor (-1 if setup was told not to listen) */
  fd: number;
  /** kernel log lines ("Possible SYN flooding ...") */
  logs: string[];
  /** the stack's 'synflood' events */
  floods: SynFloodEvent[];
}

export interface SetupOptions {
  sysctls?: SysctlOverrides;
  backlog?: number;
  /** false: socket and bind only */
  listen?: boolean;
  /** false: no socket at all */
  socket?: boolean;
  /** socket options to set before listen() */
  before?: (stack: Stack, fd: number) => void;
}

export async function setup(preset: LinuxPreset, opts: SetupOptions = {}): Promise<Env> {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const stack = new Stack({
    personality: preset,
    sysctls: opts.sysctls ?? {},
    clock,
    link: a,
    interfaces: [{ ip: `${STACK_IP}/24` }],
    seed: 11,
    core: { debug: true },
  });
  const logs: string[] = [];
  stack.on('log', (e) => logs.push(e.message));
  const floods: SynFloodEvent[] = [];
  stack.on('synflood', (e) => floods.push(e));
  const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP, template: { dport: PORT } });
  let fd = -1;
  if (opts.socket !== false) {
    fd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
    opts.before?.(stack, fd);
    stack.bsd.bind(fd, { address: '0.0.0.0', port: PORT });
    if (opts.listen !== false) stack.bsd.listen(fd, opts.backlog ?? 5);
  }
  // let the peer learn the stack's MAC and the stack the peer's
  await peer.resolve({ within: 10 });
  return { preset, facts: FACTS[preset], clock, stack, peer, fd, logs, floods };
}

let nextPort = 20000;
/** A new flow from a fresh source port. */
export function flow(env: Env, isn = 1000): TcpFlow {
  if (nextPort > 65000) nextPort = 20000;
  return env.peer.flow({ sport: nextPort++, dport: PORT, isn });
}

/** → [S], ← [S.] ack=c+1. Returns the SYN-ACK. */
export async function syn(f: TcpFlow, options: TcpOptions = { mss: 1460 }, within = 0): Promise<ReceivedSegment> {
  f.send({ flags: 'S', options });
  return f.expect({ flags: 'S.', ack: u32(f.isn + 1) }, { within });
}

/** → [S], ← [S.], → [.]. Returns the SYN-ACK. */
export async function handshake(f: TcpFlow, options: TcpOptions = { mss: 1460 }): Promise<ReceivedSegment> {
  const sa = await syn(f, options);
  const ts = sa.options.ts;
  f.send({ flags: '.', ...(ts && options.ts ? { options: { ts: [options.ts[0] + 1, ts[0]] } } : {}) });
  return sa;
}

/** The bare third ACK of a flow whose SYN-ACK was expected: <SEQ=c+1><ACK=s+1>. */
export function ackOf(f: TcpFlow, extra: Partial<SegmentTemplate> = {}): Uint8Array {
  return f.send({ flags: '.', ...extra });
}

/** Non-blocking accept(), returning the errno name instead of throwing. */
export function tryAccept(env: Env, fd = env.fd): { fd: number; address: string; port: number } | string {
  try {
    return env.stack.bsd.accept(fd);
  } catch (e) {
    return (e as { code: string }).code;
  }
}

/** accept() until EAGAIN; returns how many were accepted. */
export function drainAccept(env: Env, fd = env.fd): number {
  let n = 0;
  for (;;) {
    const r = tryAccept(env, fd);
    if (typeof r === 'string') {
      expect(r).toBe('EAGAIN');
      return n;
    }
    n++;
  }
}

/** The errno name a call throws (fails the test if it does not throw a SocketError). */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (typeof code === 'string') return code;
    throw e;
  }
  throw new Error('expected the call to fail, but it returned');
}

export function listener(env: Env, fd = env.fd) {
  const l = env.stack.listeners().find((x) => x.fd === fd);
  if (!l) throw new Error(`no listener on fd ${fd}`);
  return l;
}

export const ctr = (env: Env): Record<CounterName, number> => env.stack.counters();

/** Counter deltas since `before`, only the names asked for. */
export function delta(env: Env, before: Record<CounterName, number>, names: CounterName[]): Record<string, number> {
  const now = ctr(env);
  const out: Record<string, number> = {};
  for (const n of names) out[n] = now[n] - before[n];
  return out;
}

/** Let virtual time run to `t` ms (absolute), collecting what arrives. */
export async function until(env: Env, t: number): Promise<void> {
  const now = env.clock.now();
  if (t > now) await env.peer.wait(t - now);
}

/** Nothing may arrive until absolute time `t`. */
export async function nothingUntil(env: Env, t: number): Promise<void> {
  const now = env.clock.now();
  await env.peer.expectNothing(Math.max(0, t - now));
}

export const u32 = (x: number): number => x >>> 0;

/** Raw SYN-ACK option bytes with the timestamp values blanked (for layout checks). */
export function optionLayout(seg: ReceivedSegment): number[] {
  const raw = Array.from(seg.rawOptions);
  for (let i = 0; i < raw.length; ) {
    const kind = raw[i] as number;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = raw[i + 1] as number;
    if (kind === 8) for (let j = i + 2; j < i + 10; j++) raw[j] = 0;
    i += Math.max(2, len);
  }
  return raw;
}
