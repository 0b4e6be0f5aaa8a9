// Bad input through every API a user calls: the BSD socket layer (errno-style SocketError with a
// message, per personality), sysctls, Node's net API (Node-shaped errors: TypeError / RangeError
// thrown where Node throws, OS errors emitted asynchronously where Node emits them), the links'
// constructors, Stack options, runQueueBench's config and the `wtcp` command (status 2 and a
// message). Never a crash, never a promise that hangs: every promise here must settle within a
// bound (`settles`), and every error must carry a message.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it, expect } from 'vitest';
import { SocketError } from '../../src/errno.js';
import { VirtualClock } from '../../src/clock.js';
import { FaultLink } from '../../src/links/fault.js';
import { LengthPrefixedDecoder } from '../../src/links/framing.js';
import { MemoryHub, MemoryLink } from '../../src/links/memory.js';
import { PcapLink, PcapWriter } from '../../src/links/pcap.js';
import { LearningSwitch } from '../../src/links/switch.js';
import { V86Link } from '../../src/links/v86.js';
import { WebSocketLink } from '../../src/links/websocket.js';
import '../../src/net.js';
import { runQueueBench, type QueueBenchConfig } from '../../src/queue-bench.js';
import { Stack } from '../../src/stack.js';
import { SysctlError } from '../../src/sysctl.js';
import type { PersonalityName } from '../../src/personalities.js';

const A = '198.18.0.1';
const B = '198.18.0.2';

/** The promise settles within `ms` of real time; resolves to its outcome. */
async function settles<T>(p: Promise<T>, what: string, ms = 3000): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<'hang'>((r) => { timer = setTimeout(() => r('hang'), ms); });
  const out = await Promise.race([
    p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })),
    hang,
  ]);
  clearTimeout(timer);
  if (out === 'hang') throw new Error(`${what}: the promise did not settle within ${ms} ms`);
  return out;
}

/** It rejects (within the bound) with an Error of `type` whose message matches. */
async function rejectsWith(p: Promise<unknown>, what: string, type: new (...a: never[]) => Error, code?: string | RegExp): Promise<Error> {
  const r = await settles(p, what);
  expect(r.ok, `${what}: resolved`).toBe(false);
  const e = (r as { error: unknown }).error as Error & { code?: string };
  expect(e, what).toBeInstanceOf(type);
  expect(e.message.length, `${what}: empty message`).toBeGreaterThan(5);
  if (code !== undefined) expect(e.code, what).toMatch(code instanceof RegExp ? code : new RegExp(`^${code}$`));
  return e;
}

/** It throws synchronously an Error of `type` with a message (and code, if given). */
function throwsWith(fn: () => unknown, what: string, type: new (...a: never[]) => Error, code?: string): Error & { code?: string } {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `${what}: did not throw`).toBeDefined();
  const e = thrown as Error & { code?: string };
  expect(e, what).toBeInstanceOf(type);
  expect(e.message.length, `${what}: empty message`).toBeGreaterThan(5);
  if (code !== undefined) expect(e.code, what).toBe(code);
  return e;
}

function pair(personality: PersonalityName = 'linux-5.4'): { a: Stack; b: Stack; clock: VirtualClock } {
  const clock = new VirtualClock();
  const [la, lb] = MemoryLink.pair();
  const a = new Stack({ personality, clock, link: la, interfaces: [{ ip: `${A}/24` }], seed: 1 });
  const b = new Stack({ personality, clock, link: lb, interfaces: [{ ip: `${B}/24` }], seed: 2 });
  return { a, b, clock };
}

/** Step the virtual clock while `p` is pending (up to `ms`), then return its outcome. */
async function drive<T>(clock: VirtualClock, p: Promise<T>, what: string, ms = 200_000) {
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  const end = clock.now() + ms;
  for (let i = 0; !done && i < 100_000; i++) {
    await new Promise((r) => setImmediate(r));
    const due = clock.nextDue();
    if (done || due === undefined || due > end) break;
    clock.advanceTo(Math.max(due, clock.now()));
  }
  return settles(p, what, 1000);
}

// ------------------------------------------------------------------------------------------------
// BSD sockets
// ------------------------------------------------------------------------------------------------

describe('BSD API: bad arguments', () => {
  const { a } = pair();
  const bsd = a.bsd;
  const fd = bsd.socket('AF_INET', 'SOCK_STREAM');

  it('socket(): unknown family, type or protocol are errnos; wrong types are TypeErrors', () => {
    expect(throwsWith(() => bsd.socket('AF_INET6' as never, 'SOCK_STREAM'), 'AF_INET6', SocketError).code).toBe('EAFNOSUPPORT');
    expect(throwsWith(() => bsd.socket('AF_INET', 'SOCK_RAW' as never), 'SOCK_RAW', SocketError).code).toBe('ESOCKTNOSUPPORT');
    expect(throwsWith(() => bsd.socket('AF_INET', 'SOCK_STREAM', 17 as never), 'protocol 17', SocketError).code).toBe('EPROTONOSUPPORT');
    throwsWith(() => bsd.socket(2 as never, 1 as never), 'numeric domain', TypeError);
    throwsWith(() => (bsd.socket as () => number)(), 'no arguments', TypeError);
  });

  it('bind(): ports outside 0..65535, non-integers, bad addresses, foreign addresses, bad descriptors', () => {
    for (const port of [-1, 65536, 1.5, Number.NaN, Infinity, '80']) {
      throwsWith(() => bsd.bind(fd, { address: '0.0.0.0', port: port as number }), `port ${String(port)}`, RangeError);
    }
    for (const address of ['300.1.1.1', '::1', '1.2.3', '', 'localhost']) {
      throwsWith(() => bsd.bind(fd, { address, port: 80 }), `address ${address}`, TypeError);
    }
    expect(throwsWith(() => bsd.bind(fd, { address: '198.18.0.9', port: 80 }), 'foreign address', SocketError).code).toBe('EADDRNOTAVAIL');
    throwsWith(() => bsd.bind(fd, null as never), 'null address', TypeError);
    throwsWith(() => bsd.bind('x' as never, { address: '0.0.0.0', port: 80 }), 'string fd', TypeError);
    expect(throwsWith(() => bsd.bind(-1, { address: '0.0.0.0', port: 80 }), 'fd -1', SocketError).code).toBe('EBADF');
    expect(throwsWith(() => bsd.bind(1e9, { address: '0.0.0.0', port: 80 }), 'fd 1e9', SocketError).code).toBe('EBADF');
    expect(throwsWith(() => bsd.bind(1, { address: '0.0.0.0', port: 80 }), 'stdout', SocketError).code).toBe('ENOTSOCK');
  });

  it('listen(): backlogs that are not C ints are refused; a negative one is clamped as the OS does', () => {
    const s = bsd.socket('AF_INET', 'SOCK_STREAM');
    for (const backlog of [Number.NaN, 1.5, Infinity, 'x']) throwsWith(() => bsd.listen(s, backlog as number), `backlog ${String(backlog)}`, TypeError);
    throwsWith(() => bsd.listen(s, 1e12), 'backlog 1e12', RangeError);
    // Linux: (unsigned) backlog > somaxconn ⇒ somaxconn (net/socket.c __sys_listen)
    expect(bsd.listen(s, -5)).toBe(0);
    const row = a.listeners().find((l) => l.fd === s);
    expect(row?.backlog).toBe(4096);
    bsd.close(s);
  });

  it('setsockopt/getsockopt: unknown levels and names, wrong value types, values no C int holds', () => {
    const s = bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(throwsWith(() => bsd.setsockopt(s, 'SOL_FOO' as never, 'SO_REUSEADDR', 1), 'level', SocketError).code).toBe('ENOPROTOOPT');
    expect(throwsWith(() => bsd.setsockopt(s, 'SOL_SOCKET', 'SO_FOO' as never, 1), 'name', SocketError).code).toBe('ENOPROTOOPT');
    expect(throwsWith(() => bsd.setsockopt(s, 'IPPROTO_TCP', 'SO_REUSEADDR', 1), 'wrong level', SocketError).code).toBe('ENOPROTOOPT');
    for (const v of ['yes', {}, Number.NaN, undefined, 2 ** 32, -(2 ** 31) - 1, 1e20]) {
      const e = throwsWith(() => bsd.setsockopt(s, 'SOL_SOCKET', 'SO_RCVBUF', v as never), `SO_RCVBUF ${String(v)}`, SocketError);
      expect(e.code).toBe('EINVAL');
      expect(e.message).toMatch(/takes an int/);
    }
    expect(bsd.setsockopt(s, 'SOL_SOCKET', 'SO_RCVBUF', 2 ** 31 - 1)).toBe(0);
    expect(throwsWith(() => bsd.setsockopt(s, 'IPPROTO_TCP', 'TCP_CONGESTION', 5), 'cc number', SocketError).code).toBe('EINVAL');
    expect(throwsWith(() => bsd.setsockopt(s, 'IPPROTO_TCP', 'TCP_CONGESTION', 'bbr'), 'cc name', SocketError).code).toBe('ENOENT');
    expect(throwsWith(() => bsd.setsockopt(s, 'IPPROTO_TCP', 'TCP_SYNCNT', 0), 'TCP_SYNCNT 0', SocketError).code).toBe('EINVAL');
    expect(throwsWith(() => bsd.setsockopt(s, 'IPPROTO_TCP', 'TCP_KEEPIDLE', 0), 'TCP_KEEPIDLE 0', SocketError).code).toBe('EINVAL');
    expect(throwsWith(() => bsd.setsockopt(s, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'x' }), 'accept filter on linux', SocketError).code).toBe('ENOPROTOOPT');
    expect(throwsWith(() => bsd.getsockopt(s, 'SOL_SOCKET', 'SO_FOO' as never), 'getsockopt name', SocketError).code).toBe('ENOPROTOOPT');
    throwsWith(() => bsd.getsockopt(s, 99 as never, 1 as never), 'getsockopt numeric level', TypeError);
    bsd.close(s);
  });

  it('send/recv/shutdown: wrong types, negative sizes, unknown how, not connected', () => {
    const s = bsd.socket('AF_INET', 'SOCK_STREAM');
    throwsWith(() => bsd.send(s, 'abc' as never), 'send string', TypeError);
    expect(throwsWith(() => bsd.send(s, new Uint8Array(3)), 'send unconnected', SocketError).code).toBe('ENOTCONN');
    throwsWith(() => bsd.recv(s, -1), 'recv -1', RangeError);
    throwsWith(() => bsd.recv(s, Number.NaN), 'recv NaN', RangeError);
    expect(throwsWith(() => bsd.shutdown(s, 'SHUT_X' as never), 'shutdown how', SocketError).code).toBe('EINVAL');
    bsd.close(s);
  });

  it('the FreeBSD and 4.3BSD personalities answer with their own errnos', () => {
    const fb = pair('freebsd-12.1').a;
    const s = fb.bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(throwsWith(() => fb.bsd.setsockopt(s, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'nope' }), 'unknown filter', SocketError).code).toBe('ENOENT');
    expect(throwsWith(() => fb.bsd.setsockopt(s, 'IPPROTO_TCP', 'TCP_CONGESTION', 'bbr'), 'freebsd cc', SocketError).code).toBe('EINVAL');
    const old = pair('4.3bsd').a;
    const t = old.bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(throwsWith(() => old.bsd.setsockopt(t, 'IPPROTO_TCP', 'TCP_CONGESTION', 'reno'), '4.3bsd cc', SocketError).code).toBe('EINVAL');
    expect(throwsWith(() => old.bsd.setsockopt(t, 'SOL_SOCKET', 'SO_REUSEPORT', 1), '4.3bsd SO_REUSEPORT', SocketError).code).toMatch(/^E/);
    fb.close();
    old.close();
  });

  it('async calls with bad arguments reject (never hang)', async () => {
    const s = bsd.socket('AF_INET', 'SOCK_STREAM');
    await rejectsWith(bsd.connectAsync(s, { address: A, port: -4 }), 'connect port -4', RangeError);
    await rejectsWith(bsd.connectAsync(s, { address: 'nope', port: 80 }), 'connect address', TypeError);
    await rejectsWith(bsd.recvAsync(999, 10), 'recvAsync bad fd', SocketError, 'EBADF');
    await rejectsWith(bsd.acceptAsync(s), 'acceptAsync not listening', SocketError, 'EINVAL');
    await rejectsWith(bsd.sendAsync(s, new Uint8Array(1)), 'sendAsync unconnected', SocketError, 'ENOTCONN');
    bsd.close(s);
  });
});

describe('BSD API: connect() to addresses it cannot reach fails at once, with the OS\'s errno', () => {
  const cases: [PersonalityName, string, string | RegExp][] = [
    ['linux-5.4', '255.255.255.255', 'ENETUNREACH'], ['linux-5.4', '198.18.0.255', 'ENETUNREACH'], ['linux-5.4', '224.0.0.1', 'ENETUNREACH'],
    ['linux-5.4', '10.0.0.1', 'ENETUNREACH'], ['freebsd-12.1', '224.0.0.1', 'EAFNOSUPPORT'], ['freebsd-12.1', '10.0.0.1', 'ENETUNREACH'],
    ['4.3bsd', '10.0.0.1', 'ENETUNREACH'],
  ];
  for (const [p, address, code] of cases) {
    it(`${p}: connect to ${address} (no gateway) ⇒ ${String(code)}, no SYN sent`, async () => {
      const { a } = pair(p);
      const before = a.counters().TcpOutSegs;
      const fd = a.bsd.socket('AF_INET', 'SOCK_STREAM');
      await rejectsWith(a.bsd.connectAsync(fd, { address, port: 80 }), `connect ${address}`, SocketError, code);
      expect(a.counters().TcpOutSegs).toBe(before);
      a.close();
    });
  }

  it('with a gateway, an off-link address is reachable: the SYN goes out', async () => {
    const clock = new VirtualClock();
    const [la] = MemoryLink.pair();
    const a = new Stack({ clock, link: la, interfaces: [{ ip: `${A}/24`, gateway: B }], seed: 1 });
    const fd = a.bsd.socket('AF_INET', 'SOCK_STREAM');
    const p = a.bsd.connectAsync(fd, { address: '10.0.0.1', port: 80 });
    p.catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    expect(a.counters().TcpActiveOpens).toBe(1);
    a.close();
    await rejectsWith(p, 'connect pending at close', SocketError, /^E/);
  });
});

describe('BSD API: use after close', () => {
  it('double close and every call on a closed descriptor are EBADF', async () => {
    const { a } = pair();
    const fd = a.bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(a.bsd.close(fd)).toBe(0);
    expect(throwsWith(() => a.bsd.close(fd), 'double close', SocketError).code).toBe('EBADF');
    for (const [name, fn] of [
      ['bind', () => a.bsd.bind(fd, { address: '0.0.0.0', port: 80 })],
      ['listen', () => a.bsd.listen(fd, 5)],
      ['accept', () => a.bsd.accept(fd)],
      ['getsockname', () => a.bsd.getsockname(fd)],
      ['getpeername', () => a.bsd.getpeername(fd)],
      ['send', () => a.bsd.send(fd, new Uint8Array(1))],
      ['recv', () => a.bsd.recv(fd, 1)],
      ['shutdown', () => a.bsd.shutdown(fd, 'SHUT_WR')],
      ['setsockopt', () => a.bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1)],
    ] as const) {
      expect(throwsWith(fn, name, SocketError).code, name).toBe('EBADF');
    }
    await rejectsWith(a.bsd.acceptAsync(fd), 'acceptAsync', SocketError, 'EBADF');
    await rejectsWith(a.bsd.connectAsync(fd, { address: B, port: 80 }), 'connectAsync', SocketError, 'EBADF');
    a.close();
  });

  it('an acceptAsync pending when its listener is closed settles', async () => {
    const { a } = pair();
    const fd = a.bsd.socket('AF_INET', 'SOCK_STREAM');
    a.bsd.bind(fd, { address: '0.0.0.0', port: 80 });
    a.bsd.listen(fd, 5);
    const p = a.bsd.acceptAsync(fd);
    a.bsd.close(fd);
    await rejectsWith(p, 'pending acceptAsync, listener closed', SocketError, /^E/);
    a.close();
  });

  it('calls pending when the stack closes settle; calls after it are EBADF', async () => {
    const { a, b, clock } = pair();
    const l = b.bsd.socket('AF_INET', 'SOCK_STREAM');
    b.bsd.bind(l, { address: '0.0.0.0', port: 80 });
    b.bsd.listen(l, 5);
    const c = a.bsd.socket('AF_INET', 'SOCK_STREAM');
    expect((await drive(clock, a.bsd.connectAsync(c, { address: B, port: 80 }), 'connect')).ok).toBe(true);
    const pendingRecv = a.bsd.recvAsync(c, 100);
    const pendingAccept = a.bsd.acceptAsync((() => {
      const s = a.bsd.socket('AF_INET', 'SOCK_STREAM');
      a.bsd.bind(s, { address: '0.0.0.0', port: 81 });
      a.bsd.listen(s, 1);
      return s;
    })());
    a.close();
    await rejectsWith(pendingRecv, 'recvAsync pending at stack close', SocketError, /^E/);
    await rejectsWith(pendingAccept, 'acceptAsync pending at stack close', SocketError, /^E/);
    expect(throwsWith(() => a.bsd.socket('AF_INET', 'SOCK_STREAM'), 'socket after close', SocketError).code).toBe('EBADF');
    await rejectsWith(a.bsd.connectAsync(3, { address: B, port: 80 }), 'connectAsync after close', SocketError, 'EBADF');
    await rejectsWith(a.bsd.sendAsync(c, new Uint8Array(1)), 'sendAsync after close', SocketError, 'EBADF');
    expect(() => a.close()).not.toThrow(); // idempotent
    expect(a.listeners()).toEqual([]);
    expect(a.counters().WtcpInFrames).toBeGreaterThan(0); // still readable
    b.close();
  });
});

// ------------------------------------------------------------------------------------------------
// sysctls
// ------------------------------------------------------------------------------------------------

describe('sysctls: bad names and values', () => {
  it('unknown names are ENOENT, bad values EINVAL with the accepted range, creation-only ones EPERM', () => {
    const { a } = pair();
    const e1 = throwsWith(() => a.sysctl.set('net.foo', 1), 'unknown', SysctlError);
    expect(e1.code).toBe('ENOENT');
    throwsWith(() => a.sysctl.get('net.foo'), 'get unknown', SysctlError);
    throwsWith(() => a.sysctl.set(5 as never, 1), 'numeric name', SysctlError);
    for (const v of [-1, 'abc', Number.NaN, {}, 1e20, 2 ** 31]) {
      const e = throwsWith(() => a.sysctl.set('net.core.somaxconn', v as never), `somaxconn ${String(v)}`, SysctlError);
      expect(e.code).toBe('EINVAL');
      expect(e.message).toMatch(/0\.\.2147483647/);
    }
    expect(throwsWith(() => a.sysctl.set('net.ipv4.ip_local_port_range', '5 3'), 'range order', SysctlError).code).toBe('EINVAL');
    expect(throwsWith(() => a.sysctl.set('net.ipv4.tcp_congestion_control', 'bbr'), 'cc', SysctlError).code).toBe('ENOENT');
    expect(a.sysctl.get('net.core.somaxconn')).toBe(4096); // nothing half-applied
    const fb = pair('freebsd-12.1').a;
    expect(throwsWith(() => fb.sysctl.set('net.inet.tcp.syncache.hashsize', 1024), 'creation only', SysctlError).code).toBe('EPERM');
    throwsWith(() => new Stack({ sysctls: { 'net.core.somaxconn': -1 } }), 'bad sysctl at creation', SysctlError);
    a.close();
    fb.close();
  });
});

// ------------------------------------------------------------------------------------------------
// net
// ------------------------------------------------------------------------------------------------

/** The first 'error' event, checking it is not emitted synchronously. */
function nextError(emitter: { once(ev: 'error', fn: (e: Error) => void): unknown }, sync: { done: boolean }): Promise<Error & { code?: string; syscall?: string }> {
  return new Promise((resolve, reject) => {
    emitter.once('error', (e) => (sync.done ? resolve(e) : reject(new Error(`error emitted synchronously: ${e.message}`))));
  });
}

describe('net API: bad arguments', () => {
  it('connect: bad ports and option types throw as Node does', () => {
    const { a } = pair();
    for (const port of [-1, 65536, Number.NaN, undefined, 'abc']) {
      throwsWith(() => a.net.connect(port as number, B), `port ${String(port)}`, RangeError, 'ERR_SOCKET_BAD_PORT');
    }
    throwsWith(() => a.net.connect({ port: 80, host: 5 as never }), 'host number', TypeError, 'ERR_INVALID_ARG_TYPE');
    throwsWith(() => a.net.connect({ port: 80, host: B, localAddress: 'x' }), 'localAddress', TypeError, 'ERR_INVALID_IP_ADDRESS');
    throwsWith(() => a.net.connect({ port: 80, host: B, localPort: 99999 }), 'localPort', RangeError, 'ERR_SOCKET_BAD_PORT');
    throwsWith(() => a.net.connect({ port: 80, host: B, timeout: -5 }), 'timeout', RangeError, 'ERR_OUT_OF_RANGE');
    a.close();
  });

  it('connect: a host name fails ENOTFOUND, a closed port ECONNREFUSED, asynchronously', async () => {
    const { a, b, clock } = pair();
    const sync = { done: false };
    const s1 = a.net.connect(80, 'example.invalid');
    const e1 = nextError(s1, sync);
    const s2 = a.net.connect(9, B);
    const e2 = nextError(s2, sync);
    sync.done = true;
    const r1 = await settles(e1, 'ENOTFOUND');
    expect(r1.ok && r1.value.code).toBe('ENOTFOUND');
    expect(r1.ok && r1.value.syscall).toBe('getaddrinfo');
    const r2 = await drive(clock, e2, 'ECONNREFUSED');
    expect(r2.ok && r2.value.code).toBe('ECONNREFUSED');
    expect(r2.ok && r2.value.syscall).toBe('connect');
    a.close();
    b.close();
  });

  it('listen: bad ports, host and backlog types throw; a host name and a used port fail asynchronously', async () => {
    const { a } = pair();
    for (const port of [-1, 70000, 'abc']) {
      throwsWith(() => a.net.createServer().listen(port as number), `port ${String(port)}`, RangeError, 'ERR_SOCKET_BAD_PORT');
    }
    throwsWith(() => a.net.createServer().listen({ port: 80, host: 5 as never }), 'host type', TypeError, 'ERR_INVALID_ARG_TYPE');
    throwsWith(() => a.net.createServer().listen({ port: 80, backlog: 'x' as never }), 'backlog type', TypeError, 'ERR_INVALID_ARG_TYPE');
    throwsWith(() => a.net.createServer().listen({ port: 80, backlog: 1.5 }), 'backlog 1.5', RangeError, 'ERR_OUT_OF_RANGE');
    throwsWith(() => a.net.createServer().listen({ port: 80, backlog: 2 ** 31 }), 'backlog 2^31', RangeError, 'ERR_OUT_OF_RANGE');
    const sync = { done: false };
    const named = a.net.createServer();
    const e1 = nextError(named, sync);
    named.listen(80, 'not-an-ip');
    const first = a.net.createServer();
    first.listen(80, A);
    const second = a.net.createServer();
    const e2 = nextError(second, sync);
    second.listen(80, A);
    sync.done = true;
    const r1 = await settles(e1, 'listen on a name');
    expect(r1.ok && r1.value.code).toBe('ENOTFOUND');
    const r2 = await settles(e2, 'listen on a used port');
    expect(r2.ok && r2.value.code).toBe('EADDRINUSE');
    expect(r2.ok && r2.value.syscall).toBe('listen');
    expect(throwsWith(() => first.listen(81), 'listen twice', Error).code).toBe('ERR_SERVER_ALREADY_LISTEN');
    // close on a server that is not listening: ERR_SERVER_NOT_RUNNING through the callback
    const closed = await settles(new Promise<Error | undefined>((r) => a.net.createServer().close(r)), 'close not listening');
    expect(closed.ok && (closed.value as Error & { code?: string })?.code).toBe('ERR_SERVER_NOT_RUNNING');
    a.close();
  });

  it('write of a wrong type throws; write after destroy errors; everything on a closed stack fails EBADF asynchronously', async () => {
    const { a, b, clock } = pair();
    const srv = b.net.createServer((s) => s.resume());
    srv.listen(80, B);
    const sock = a.net.connect(80, B);
    expect((await drive(clock, new Promise((r) => sock.once('connect', r)), 'connect')).ok).toBe(true);
    throwsWith(() => sock.write(5 as never), 'write number', TypeError, 'ERR_INVALID_ARG_TYPE');
    sock.destroy();
    const w = await settles(new Promise<Error | null | undefined>((r) => sock.write('x', (e) => r(e))), 'write after destroy');
    expect(w.ok && (w.value as Error & { code?: string })?.code).toBe('ERR_STREAM_DESTROYED');
    a.close();
    const sync = { done: false };
    const late = a.net.connect(80, B);
    const e = nextError(late, sync);
    const lateServer = a.net.createServer();
    const e2 = nextError(lateServer, sync);
    lateServer.listen(80);
    sync.done = true;
    const r = await settles(e, 'connect on a closed stack');
    expect(r.ok && r.value.code).toBe('EBADF');
    const r2 = await settles(e2, 'listen on a closed stack');
    expect(r2.ok && r2.value.code).toBe('EBADF');
    srv.close();
    b.close();
  });
});

// ------------------------------------------------------------------------------------------------
// Constructors and configs
// ------------------------------------------------------------------------------------------------

describe('links, Stack and runQueueBench: bad options', () => {
  it('the links refuse bad options with a TypeError or RangeError naming them', () => {
    const [, inner] = MemoryLink.pair();
    const clock = new VirtualClock();
    throwsWith(() => MemoryLink.pair({ mtu: 5 }), 'MemoryLink mtu', RangeError);
    throwsWith(() => MemoryLink.pair({ delivery: 'x' as never }), 'MemoryLink delivery', TypeError);
    throwsWith(() => new MemoryHub({ mtu: -1 }), 'MemoryHub mtu', RangeError);
    throwsWith(() => new MemoryHub('x' as never), 'MemoryHub options', TypeError);
    throwsWith(() => new FaultLink(null as never, { seed: 1 }), 'FaultLink inner', TypeError);
    throwsWith(() => new FaultLink(inner, {} as never), 'FaultLink seed', RangeError);
    for (const [k, v] of [['loss', 2], ['loss', -1], ['reorder', 5], ['delay', -1], ['rate', 0], ['duplicate', Number.NaN]] as const) {
      const e = throwsWith(() => new FaultLink(inner, { seed: 1, clock, [k]: v } as never), `FaultLink ${k}`, RangeError);
      expect(e.message).toContain(k);
    }
    throwsWith(() => new FaultLink(inner, { seed: 1, clock, lossy: 1 } as never), 'FaultLink unknown option', TypeError);
    throwsWith(() => new FaultLink(inner, { seed: 1, delay: 10 }), 'FaultLink delay without a clock', TypeError);
    throwsWith(() => new PcapLink(inner, null as never), 'PcapLink sink', TypeError);
    throwsWith(() => new PcapLink(null as never, () => undefined), 'PcapLink inner', TypeError);
    throwsWith(() => new PcapWriter(() => undefined, { snaplen: 0 }), 'PcapWriter snaplen', RangeError);
    class FakeWebSocket {}
    throwsWith(() => new WebSocketLink({ url: 5 as never }), 'WebSocketLink url', TypeError);
    throwsWith(() => new WebSocketLink({ url: 'http://x', WebSocket: FakeWebSocket as never }), 'WebSocketLink scheme', TypeError);
    throwsWith(() => new WebSocketLink({ url: 'ws://198.18.0.1:1', framing: 'x' as never, WebSocket: FakeWebSocket as never }), 'framing', TypeError);
    throwsWith(() => new WebSocketLink({ url: 'ws://198.18.0.1:1', maxBufferedBytes: -1, WebSocket: FakeWebSocket as never }), 'maxBufferedBytes', RangeError);
    throwsWith(() => new V86Link(null as never), 'V86Link emulator', TypeError);
    throwsWith(() => new V86Link({ bus: { register() {}, send() {} }, add_listener() {} } as never, { adapter: -1 }), 'V86Link adapter', RangeError);
    throwsWith(() => new LearningSwitch({ ageingMs: 'x' as never }), 'LearningSwitch ageing', RangeError);
    throwsWith(() => new LengthPrefixedDecoder(5 as never), 'decoder maxFrame', RangeError);
  });

  it('Stack refuses bad options with a message', () => {
    const [l] = MemoryLink.pair();
    throwsWith(() => new Stack(5 as never), 'options', TypeError);
    throwsWith(() => new Stack({ interfaces: [{ ip: '198.18.0.2/33' }] }), 'prefix', RangeError);
    throwsWith(() => new Stack({ interfaces: [{ ip: '0.0.0.0/24' }] }), 'address 0', RangeError);
    throwsWith(() => new Stack({ personality: 'windows' as never }), 'personality', Error);
    throwsWith(() => new Stack({ limits: { connections: -1 } }), 'limits', RangeError);
    throwsWith(() => new Stack({ limits: { connections: 1e9 } }), 'limits huge', RangeError);
    throwsWith(() => new Stack({ interfaces: Array.from({ length: 9 }, (_, i) => ({ ip: `198.18.${i}.2/24` })) }), 'nine interfaces', RangeError);
    throwsWith(() => new Stack({ link: l }), 'link without an address', TypeError);
    throwsWith(() => new Stack({ link: {} as never, interfaces: [{ ip: `${B}/24` }] }), 'link not a Link', TypeError);
    throwsWith(() => new Stack({ clock: {} as never }), 'clock', TypeError);
    throwsWith(() => new Stack({ seed: 'x' as never }), 'seed', TypeError);
  });

  it('runQueueBench rejects bad configs (the promise settles, with a message)', async () => {
    const base: QueueBenchConfig = { personality: 'linux-5.4', backlog: 4, connections: 5, durationMs: 100 };
    const bad: [string, unknown][] = [
      ['null', null], ['personality', { ...base, personality: 'windows' }], ['client', { ...base, clientPersonality: 'x' }],
      ['backlog', { ...base, backlog: 2 ** 31 }], ['connections', { ...base, connections: 0 }], ['duration', { ...base, durationMs: Number.NaN }],
      ['accept rate', { ...base, accept: { rate: -1 } }], ['accept batch', { ...base, accept: { batch: 0 } }],
      ['pauses', { ...base, accept: { pauseEveryMs: 10 } }], ['arrival', { ...base, arrival: 'x' }], ['flood', { ...base, floodRate: -5 }],
      ['burst size', { ...base, arrival: 'burst', burstSize: 0 }], ['sample', { ...base, sampleMs: 0 }], ['seed', { ...base, seed: 'x' }],
      ['client timeout', { ...base, clientTimeoutMs: Infinity }], ['sysctls', { ...base, sysctls: 5 }], ['unknown sysctl', { ...base, sysctls: { 'net.foo': 1 } }],
      ['accept', { ...base, accept: 5 }],
    ];
    for (const [what, cfg] of bad) {
      const r = await settles(runQueueBench(cfg as QueueBenchConfig), `runQueueBench ${what}`, 10_000);
      expect(r.ok, `runQueueBench ${what} resolved`).toBe(false);
      const e = (r as { error: Error }).error;
      expect(e, what).toBeInstanceOf(Error);
      expect(e.message.length, what).toBeGreaterThan(5);
      expect(e.message, what).not.toMatch(/Cannot read properties/);
    }
    const ok = await settles(runQueueBench(base), 'runQueueBench good config', 20_000);
    expect(ok.ok).toBe(true);
  });
});

// ------------------------------------------------------------------------------------------------
// The command
// ------------------------------------------------------------------------------------------------

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = `${root}dist/cli.js`;

async function wtcp(...args: string[]): Promise<{ code: number; stderr: string }> {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build`);
  try {
    const r = await run(process.execPath, [cli, ...args], { cwd: root, timeout: 30_000 });
    return { code: 0, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stderr: err.stderr ?? '' };
  }
}

describe('wtcp: bad arguments exit with status 2 and one message, never a stack trace', () => {
  it('every command', async () => {
    const cases = [
      ['nosuch'], ['demo', '--backlog', 'x'], ['demo', '--clients', '0'], ['demo', '--sysctl', 'foo'],
      ['demo', '--sysctl', 'net.foo=1'], ['demo', '--sysctl', 'net.core.somaxconn=-5'],
      ['bench', 'queue', '--connections', '-1'], ['bench', 'queue', '--backlog', '99999999999'], ['bench', 'queue', '--seed', 'x'],
      ['bench', 'queue', '--sysctl', 'net.core.somaxconn=x'], ['bench', 'queue', '--pause-every', '100'], ['bench', 'nosuch'],
      ['serve'], ['serve', '--ws', 'ws://198.18.0.1:1', '--ip', '198.18.0.2/24', '--port', '70000'],
      ['serve', '--tap', 't0', '--ip', '300.1.1.1/24'], ['relay', '--port', '99999'], ['stats', '--control', 'nohostport'],
      ['start', '--port', 'x'], ['start', '--personality', 'windows'], ['presets', '--x'], ['sysctl', '--personality', 'windows'],
    ];
    const results = await Promise.all(cases.map((args) => wtcp(...args)));
    results.forEach((r, i) => {
      const what = `wtcp ${cases[i]!.join(' ')}`;
      expect(r.code, `${what}: ${r.stderr}`).toBe(2);
      expect(r.stderr, what).toMatch(/^wtcp: \S/);
      expect(r.stderr, what).not.toMatch(/\n\s+at /);
    });
  }, 120_000);
});
