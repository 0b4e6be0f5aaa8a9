// The BSD socket layer (src/bsd.ts) per personality: the errno rules of listen(2), bind(2), accept(2)
// and the socket options, from /work/shared/listen-behaviour.md ("spec") sections 2.1, 2.2, 2.10,
// 2.11, 3.1-3.3, 3.9-3.11, 4.1, 4.6, 4.7 and scenarios 6.1, 6.3, 6.9. Runs on the real core over
// memory links and a virtual clock: no network, no sleeping.
import { describe, it, expect } from 'vitest';
import { retransToSecs, secsToRetrans, SocketError } from '../../src/bsd.js';
import { VirtualClock } from '../../src/clock.js';
import { MemoryLink } from '../../src/links/memory.js';
import { Stack, formatNetstatListeners, formatSsListeners, type StackOptions } from '../../src/stack.js';
import { Peer } from '../../src/testing/peer.js';

const STACK_IP = '198.18.0.2';
const PEER_IP = '198.18.0.99';
const ALL = ['linux-5.4', 'freebsd-12.1', '4.3bsd'] as const;
type P = (typeof ALL)[number] | 'linux-4.14' | 'linux-6.13';

function make(personality: P, extra: Partial<StackOptions> = {}) {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const stack = new Stack({ personality, clock, link: a, interfaces: [{ ip: `${STACK_IP}/24` }], seed: 42, ...extra });
  const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP });
  return { stack, bsd: stack.bsd, peer, clock };
}

/** The errno name `fn` fails with, or 'OK'. */
function errno(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (e) {
    if (e instanceof SocketError) return e.code;
    throw e;
  }
}

function listening(bsd: Stack['bsd'], port: number, backlog = 5, opts: { reuseAddr?: boolean; address?: string } = {}) {
  const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
  if (opts.reuseAddr) bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
  bsd.bind(fd, { address: opts.address ?? '0.0.0.0', port });
  bsd.listen(fd, backlog);
  return fd;
}

async function handshake(peer: Peer, dport: number, sport = 40000) {
  const c = peer.flow({ sport, dport, isn: 1000 });
  await c.connect({ options: { mss: 1460 } });
  await peer.settle();
  return c;
}

describe('descriptors (spec S01, S02)', () => {
  for (const p of ALL) {
    describe(p, () => {
      it('0, 1 and 2 exist but are not sockets: ENOTSOCK; unknown descriptors: EBADF', () => {
        const { bsd } = make(p);
        expect(errno(() => bsd.listen(0, 5))).toBe('ENOTSOCK');
        expect(errno(() => bsd.listen(2, 5))).toBe('ENOTSOCK');
        expect(errno(() => bsd.listen(9999, 5))).toBe('EBADF');
        expect(errno(() => bsd.listen(-1, 5))).toBe('EBADF');
        expect(errno(() => bsd.accept(1))).toBe('ENOTSOCK');
      });

      it('sockets take the lowest free number from 3; double close is EBADF', () => {
        const { bsd } = make(p);
        const a = bsd.socket('AF_INET', 'SOCK_STREAM');
        const b = bsd.socket('AF_INET', 'SOCK_STREAM');
        const c = bsd.socket('AF_INET', 'SOCK_DGRAM');
        expect([a, b, c]).toEqual([3, 4, 5]);
        bsd.close(b);
        expect(errno(() => bsd.close(b))).toBe('EBADF');
        expect(bsd.socket('AF_INET', 'SOCK_STREAM')).toBe(4);
        bsd.close(c);
        expect(bsd.socket('AF_INET', 'SOCK_STREAM')).toBe(5);
        bsd.close(0); // like a process closing stdin: 0 becomes the lowest free number
        expect(bsd.socket('AF_INET', 'SOCK_STREAM')).toBe(0);
      });
    });
  }

  it('bad argument types are TypeError/RangeError, not errno', () => {
    const { bsd } = make('linux-5.4');
    const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(() => bsd.listen('3' as never, 5)).toThrow(TypeError);
    expect(() => bsd.listen(3.5, 5)).toThrow(TypeError);
    expect(() => bsd.listen(fd, 1.5)).toThrow(TypeError);
    expect(() => bsd.listen(fd, 2 ** 40)).toThrow(RangeError);
    expect(() => bsd.bind(fd, { address: '198.18.0', port: 1 })).toThrow(TypeError);
    expect(() => bsd.bind(fd, { address: STACK_IP, port: 65536 })).toThrow(RangeError);
    expect(() => bsd.bind(fd, null as never)).toThrow(TypeError);
    expect(() => bsd.recv(fd, -1)).toThrow(RangeError);
    expect(() => bsd.socket(2 as never, 'SOCK_STREAM')).toThrow(TypeError);
  });

  it('errors carry the family errno number, the syscall and a message', () => {
    const linux = make('linux-5.4').bsd;
    const fb = make('freebsd-12.1').bsd;
    const fail = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as SocketError;
      }
      throw new Error('did not fail');
    };
    const l = fail(() => linux.listen(linux.socket('AF_INET', 'SOCK_DGRAM'), 5));
    expect(l.code).toBe('EOPNOTSUPP');
    expect(l.errno).toBe(95);
    expect(l.syscall).toBe('listen');
    expect(l.message).toBe('listen: EOPNOTSUPP: operation not supported on a SOCK_DGRAM socket');
    const f = fail(() => fb.listen(fb.socket('AF_INET', 'SOCK_DGRAM'), 5));
    expect(f.errno).toBe(45);
    const la = fail(() => linux.accept(listening(linux, 1000)));
    const fa = fail(() => fb.accept(listening(fb, 1000)));
    expect([la.code, la.errno, fa.code, fa.errno]).toEqual(['EAGAIN', 11, 'EAGAIN', 35]);
    const lb = fail(() => linux.bind(linux.socket('AF_INET', 'SOCK_STREAM'), { address: '0.0.0.0', port: 1000 }));
    const fbb = fail(() => fb.bind(fb.socket('AF_INET', 'SOCK_STREAM'), { address: '0.0.0.0', port: 1000 }));
    expect([lb.errno, fbb.errno, lb.port, lb.address]).toEqual([98, 48, 1000, '0.0.0.0']);
  });
});

describe('socket()', () => {
  it('linux: EAFNOSUPPORT, EINVAL, ESOCKTNOSUPPORT, EPROTONOSUPPORT as __sock_create/inet_create', () => {
    const { bsd } = make('linux-5.4');
    expect(errno(() => bsd.socket('AF_INET6', 'SOCK_STREAM'))).toBe('EAFNOSUPPORT');
    expect(errno(() => bsd.socket('AF_INET', 'SOCK_BOGUS'))).toBe('EINVAL');
    expect(errno(() => bsd.socket('AF_INET', 'SOCK_SEQPACKET'))).toBe('ESOCKTNOSUPPORT');
    expect(errno(() => bsd.socket('AF_INET', 'SOCK_STREAM', 'IPPROTO_UDP'))).toBe('EPROTONOSUPPORT');
    expect(errno(() => bsd.socket('AF_INET', 'SOCK_DGRAM', 17))).toBe('OK');
    expect(errno(() => bsd.socket('AF_INET', 'SOCK_STREAM', 'IPPROTO_TCP'))).toBe('OK');
  });

  it('freebsd: EAFNOSUPPORT, EPROTOTYPE for an unknown type with protocol 0, else EPROTONOSUPPORT', () => {
    const { bsd } = make('freebsd-12.1');
    expect(errno(() => bsd.socket('AF_UNIX', 'SOCK_STREAM'))).toBe('EAFNOSUPPORT');
    expect(errno(() => bsd.socket('AF_INET', 'SOCK_SEQPACKET'))).toBe('EPROTOTYPE');
    expect(errno(() => bsd.socket('AF_INET', 'SOCK_STREAM', 17))).toBe('EPROTONOSUPPORT');
  });

  it('4.3bsd: EPROTONOSUPPORT (even for a domain it lacks), EPROTOTYPE for a mismatched protocol', () => {
    const { bsd } = make('4.3bsd');
    expect(errno(() => bsd.socket('AF_INET6', 'SOCK_STREAM'))).toBe('EPROTONOSUPPORT');
    expect(errno(() => bsd.socket('AF_INET', 'SOCK_STREAM', 17))).toBe('EPROTOTYPE');
  });
});

describe('listen() errors (spec 2.1, 3.1, 4.1; S03, S04)', () => {
  for (const p of ALL) {
    it(`${p}: a UDP socket gives EOPNOTSUPP`, () => {
      const { bsd } = make(p);
      const fd = bsd.socket('AF_INET', 'SOCK_DGRAM');
      bsd.bind(fd, { address: '0.0.0.0', port: 53 });
      expect(errno(() => bsd.listen(fd, 5))).toBe('EOPNOTSUPP');
    });
  }

  for (const p of ['linux-5.4', 'freebsd-12.1'] as const) {
    it(`${p}: listen() on an accepted (connected) socket gives EINVAL`, async () => {
      const { bsd, peer } = make(p);
      const lfd = listening(bsd, 8080);
      await handshake(peer, 8080);
      const { fd } = bsd.accept(lfd);
      expect(errno(() => bsd.listen(fd, 5))).toBe('EINVAL');
    });
  }

  it('4.3bsd: listen() on a connected socket returns 0 and leaves it corrupted (accept never returns)', async () => {
    const { bsd, peer } = make('4.3bsd');
    const lfd = listening(bsd, 8080);
    await handshake(peer, 8080);
    const { fd } = bsd.accept(lfd);
    expect(bsd.listen(fd, 5)).toBe(0);
    expect(errno(() => bsd.accept(fd))).toBe('EAGAIN');
    expect(bsd.getpeername(fd)).toEqual({ address: PEER_IP, port: 40000 }); // the PCB keeps its peer
  });
});

describe('effective backlog (spec 2.2, 3.2, 4.1; S13/S14 Send-Q)', () => {
  const backlogOf = (stack: Stack, fd: number) => stack.listeners().find((l) => l.fd === fd)?.backlog;

  it('linux-5.4: (unsigned)a > somaxconn ? somaxconn : a, somaxconn 4096', () => {
    const { stack, bsd } = make('linux-5.4');
    expect(backlogOf(stack, listening(bsd, 1001, -1))).toBe(4096);
    expect(backlogOf(stack, listening(bsd, 1002, -5))).toBe(4096);
    expect(backlogOf(stack, listening(bsd, 1003, 100000))).toBe(4096);
    expect(backlogOf(stack, listening(bsd, 1004, 0))).toBe(0);
    expect(backlogOf(stack, listening(bsd, 1005, 4096))).toBe(4096);
  });

  it('linux-4.14: somaxconn 128', () => {
    const { stack, bsd } = make('linux-4.14');
    expect(backlogOf(stack, listening(bsd, 1001, 200))).toBe(128);
    expect(backlogOf(stack, listening(bsd, 1002, 127))).toBe(127);
  });

  it('freebsd: a < 0 || a > soacceptqueue ? soacceptqueue : a', () => {
    const { stack, bsd } = make('freebsd-12.1');
    expect(backlogOf(stack, listening(bsd, 1001, -1))).toBe(128);
    expect(backlogOf(stack, listening(bsd, 1002, 129))).toBe(128);
    expect(backlogOf(stack, listening(bsd, 1003, 0))).toBe(0);
  });

  it('4.3bsd: a < 0 ? 0 : min(a, 5)', () => {
    const { stack, bsd } = make('4.3bsd');
    expect(backlogOf(stack, listening(bsd, 1001, -1))).toBe(0);
    expect(backlogOf(stack, listening(bsd, 1002, 7))).toBe(5);
    expect(backlogOf(stack, listening(bsd, 1003, 3))).toBe(3);
  });

  it('linux: somaxconn is read at listen() time; relisten picks up a new value and keeps the queue', () => {
    const { stack, bsd } = make('linux-5.4');
    const fd = listening(bsd, 1001, 1000);
    stack.sysctl.set('net.core.somaxconn', 100);
    expect(backlogOf(stack, fd)).toBe(1000);
    expect(bsd.listen(fd, 1000)).toBe(0);
    expect(backlogOf(stack, fd)).toBe(100);
    expect(bsd.listen(fd, 7)).toBe(0);
    expect(backlogOf(stack, fd)).toBe(7);
    expect(stack.listeners()).toHaveLength(1);
  });

  it('freebsd: kern.ipc.somaxconn (hidden alias) changes the same cap', () => {
    const { stack, bsd } = make('freebsd-12.1', { sysctls: { 'kern.ipc.somaxconn': 10 } });
    expect(backlogOf(stack, listening(bsd, 1001, 50))).toBe(10);
  });
});

describe('autobind (spec 2.10, 3.1, 4.6; S06, S07)', () => {
  it('linux: listen() on an unbound socket picks odd ports in 32768..60999', () => {
    const { bsd } = make('linux-5.4');
    for (let i = 0; i < 12; i++) {
      const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
      bsd.listen(fd, 5);
      const { address, port } = bsd.getsockname(fd);
      expect(address).toBe('0.0.0.0');
      expect(port).toBeGreaterThanOrEqual(32768);
      expect(port).toBeLessThanOrEqual(60999);
      expect(port % 2).toBe(1);
    }
  });

  it('linux: bind(port 0) autobinds at once, odd as well; with SO_REUSEADDR the lower half first', () => {
    const { bsd } = make('linux-5.4');
    for (let i = 0; i < 8; i++) {
      const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
      bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
      bsd.bind(fd, { address: '0.0.0.0', port: 0 });
      const { port } = bsd.getsockname(fd);
      expect(port % 2).toBe(1);
      expect(port).toBeLessThan(32768 + ((60999 + 1 - 32768) >> 1));
    }
  });

  it('linux: odd ports first, then even; none free ⇒ EADDRINUSE (S07)', () => {
    const { bsd } = make('linux-5.4', { sysctls: { 'net.ipv4.ip_local_port_range': '40000 40001' } });
    const a = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.listen(a, 5);
    const b = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.listen(b, 5);
    expect([bsd.getsockname(a).port, bsd.getsockname(b).port]).toEqual([40001, 40000]);
    const c = bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(errno(() => bsd.listen(c, 5))).toBe('EADDRINUSE');
    expect(errno(() => bsd.bind(c, { address: '0.0.0.0', port: 0 }))).toBe('EADDRINUSE');
  });

  it('freebsd: random ports in 10000..65535; none free ⇒ EADDRNOTAVAIL (S07)', () => {
    const { bsd } = make('freebsd-12.1');
    const ports = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
      bsd.listen(fd, 5);
      const { port } = bsd.getsockname(fd);
      expect(port).toBeGreaterThanOrEqual(10000);
      expect(port).toBeLessThanOrEqual(65535);
      ports.add(port);
    }
    expect(ports.size).toBe(10);
    const small = make('freebsd-12.1', {
      sysctls: { 'net.inet.ip.portrange.first': 40000, 'net.inet.ip.portrange.last': 40001 },
    }).bsd;
    for (let i = 0; i < 2; i++) small.listen(small.socket('AF_INET', 'SOCK_STREAM'), 5);
    expect(errno(() => small.listen(small.socket('AF_INET', 'SOCK_STREAM'), 5))).toBe('EADDRNOTAVAIL');
  });

  it('4.3bsd: sequential from 1024, for listen() and bind(port 0) alike, per protocol', () => {
    const { bsd } = make('4.3bsd');
    const a = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.listen(a, 5);
    const b = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.bind(b, { address: '0.0.0.0', port: 0 });
    const u = bsd.socket('AF_INET', 'SOCK_DGRAM');
    bsd.bind(u, { address: '0.0.0.0', port: 0 });
    const c = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.listen(c, 5);
    expect([a, b, c].map((fd) => bsd.getsockname(fd).port)).toEqual([1024, 1025, 1026]);
    expect(bsd.getsockname(u).port).toBe(1024);
  });

  it('4.3bsd: skips ports held by an unconnected PCB with the same address; a full cycle fails (the kernel would hang)', () => {
    const { bsd } = make('4.3bsd', { limits: { fds: 5000 } });
    const held = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.bind(held, { address: '0.0.0.0', port: 1024 });
    const a = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.listen(a, 5);
    expect(bsd.getsockname(a).port).toBe(1025);
    for (let p = 1026; p <= 5000; p++) bsd.bind(bsd.socket('AF_INET', 'SOCK_STREAM'), { address: '0.0.0.0', port: p });
    expect(errno(() => bsd.listen(bsd.socket('AF_INET', 'SOCK_STREAM'), 5))).toBe('EADDRINUSE');
  });

  it('a socket autobound by listen() is bound: bind() then gives EINVAL', () => {
    for (const p of ALL) {
      const { bsd } = make(p);
      const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
      bsd.listen(fd, 5);
      expect(errno(() => bsd.bind(fd, { address: '0.0.0.0', port: 7000 }))).toBe('EINVAL');
    }
  });
});

describe('bind() (spec 2.10, 3.10, 4.6; S18, S19, S21)', () => {
  it('EADDRNOTAVAIL for an address the stack does not have; the wildcard, own and broadcast addresses are fine', () => {
    for (const p of ALL) {
      const { bsd } = make(p);
      expect(errno(() => bsd.bind(bsd.socket('AF_INET', 'SOCK_STREAM'), { address: '10.9.9.9', port: 80 }))).toBe('EADDRNOTAVAIL');
      expect(errno(() => bsd.bind(bsd.socket('AF_INET', 'SOCK_STREAM'), { address: '127.0.0.1', port: 80 }))).toBe('EADDRNOTAVAIL');
      expect(errno(() => bsd.bind(bsd.socket('AF_INET', 'SOCK_STREAM'), { address: STACK_IP, port: 81 }))).toBe('OK');
      expect(errno(() => bsd.bind(bsd.socket('AF_INET', 'SOCK_STREAM'), { address: '198.18.0.255', port: 82 }))).toBe('OK');
      expect(errno(() => bsd.bind(bsd.socket('AF_INET', 'SOCK_STREAM'), { address: '0.0.0.0', port: 83 }))).toBe('OK');
    }
  });

  it('check order: Linux checks the address before "already bound"; the BSDs the other way round', () => {
    const rebind = (p: P) => {
      const { bsd } = make(p);
      const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
      bsd.bind(fd, { address: '0.0.0.0', port: 80 });
      return errno(() => bsd.bind(fd, { address: '10.9.9.9', port: 81 }));
    };
    expect(rebind('linux-5.4')).toBe('EADDRNOTAVAIL');
    expect(rebind('freebsd-12.1')).toBe('EINVAL');
    expect(rebind('4.3bsd')).toBe('EINVAL');
  });

  it('4.3bsd with no interface at all: EADDRNOTAVAIL even for the wildcard (in_ifaddr == 0)', () => {
    const bsd = new Stack({ personality: '4.3bsd', clock: new VirtualClock() }).bsd;
    expect(errno(() => bsd.bind(bsd.socket('AF_INET', 'SOCK_STREAM'), { address: '0.0.0.0', port: 80 }))).toBe('EADDRNOTAVAIL');
    const linux = new Stack({ personality: 'linux-5.4', clock: new VirtualClock() }).bsd;
    expect(errno(() => linux.bind(linux.socket('AF_INET', 'SOCK_STREAM'), { address: '0.0.0.0', port: 80 }))).toBe('OK');
  });

  for (const p of ALL) {
    it(`${p}: S18 — a second bind without SO_REUSEADDR while the first listens: EADDRINUSE`, () => {
      const { bsd } = make(p);
      listening(bsd, 8080);
      expect(errno(() => bsd.bind(bsd.socket('AF_INET', 'SOCK_STREAM'), { address: '0.0.0.0', port: 8080 }))).toBe('EADDRINUSE');
      expect(errno(() => bsd.bind(bsd.socket('AF_INET', 'SOCK_STREAM'), { address: STACK_IP, port: 8080 }))).toBe('EADDRINUSE');
      // another port, and the same port for UDP, are free
      expect(errno(() => bsd.bind(bsd.socket('AF_INET', 'SOCK_STREAM'), { address: '0.0.0.0', port: 8081 }))).toBe('OK');
      expect(errno(() => bsd.bind(bsd.socket('AF_INET', 'SOCK_DGRAM'), { address: '0.0.0.0', port: 8080 }))).toBe('OK');
    });
  }

  it('S19 linux: two SO_REUSEADDR sockets bind the same *:P; the second listen() fails', () => {
    const { bsd } = make('linux-5.4');
    const a = bsd.socket('AF_INET', 'SOCK_STREAM');
    const b = bsd.socket('AF_INET', 'SOCK_STREAM');
    for (const fd of [a, b]) bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
    bsd.bind(a, { address: '0.0.0.0', port: 8080 });
    expect(errno(() => bsd.bind(b, { address: '0.0.0.0', port: 8080 }))).toBe('OK');
    expect(bsd.listen(a, 5)).toBe(0);
    let msg = '';
    try {
      bsd.listen(b, 5);
    } catch (e) {
      msg = (e as Error).message;
      expect((e as SocketError).code).toBe('EADDRINUSE');
    }
    expect(msg).toBe('listen: EADDRINUSE: Another socket is already listening on the same port');
  });

  for (const p of ['freebsd-12.1', '4.3bsd'] as const) {
    it(`S19 ${p}: the second SO_REUSEADDR bind of the same *:P fails at bind`, () => {
      const { bsd } = make(p);
      const a = bsd.socket('AF_INET', 'SOCK_STREAM');
      const b = bsd.socket('AF_INET', 'SOCK_STREAM');
      for (const fd of [a, b]) bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
      bsd.bind(a, { address: '0.0.0.0', port: 8080 });
      expect(errno(() => bsd.bind(b, { address: '0.0.0.0', port: 8080 }))).toBe('EADDRINUSE');
    });
  }

  it('a listening *:P with SO_REUSEADDR and a SO_REUSEADDR bind of A:P: linux EADDRINUSE, the BSDs allow it', () => {
    const r = (p: P) => {
      const { bsd } = make(p);
      listening(bsd, 8080, 5, { reuseAddr: true });
      const b = bsd.socket('AF_INET', 'SOCK_STREAM');
      bsd.setsockopt(b, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
      return errno(() => bsd.bind(b, { address: STACK_IP, port: 8080 }));
    };
    expect(r('linux-5.4')).toBe('EADDRINUSE');
    expect(r('freebsd-12.1')).toBe('OK');
    expect(r('4.3bsd')).toBe('OK');
  });

  it('linux: SO_REUSEADDR sockets share a port while none listens (bound, not listening)', () => {
    const { bsd } = make('linux-5.4');
    const a = bsd.socket('AF_INET', 'SOCK_STREAM');
    const b = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.setsockopt(a, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
    bsd.bind(a, { address: '0.0.0.0', port: 9000 });
    expect(errno(() => bsd.bind(b, { address: '0.0.0.0', port: 9000 }))).toBe('EADDRINUSE'); // b lacks it
    bsd.setsockopt(b, 'SOL_SOCKET', 'SO_REUSEADDR', true);
    expect(errno(() => bsd.bind(b, { address: '0.0.0.0', port: 9000 }))).toBe('OK');
  });

  for (const p of ['linux-5.4', 'freebsd-12.1'] as const) {
    it(`S21 ${p}: two SO_REUSEPORT listeners on one port`, () => {
      const { bsd, stack } = make(p);
      for (let i = 0; i < 2; i++) {
        const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
        bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEPORT', 1);
        bsd.bind(fd, { address: '0.0.0.0', port: 8080 });
        expect(bsd.listen(fd, 5)).toBe(0);
      }
      expect(stack.listeners().map((l) => l.port)).toEqual([8080, 8080]);
      const c = bsd.socket('AF_INET', 'SOCK_STREAM'); // without the option: refused
      expect(errno(() => bsd.bind(c, { address: '0.0.0.0', port: 8080 }))).toBe('EADDRINUSE');
    });
  }

  it('S21 4.3bsd: SO_REUSEPORT does not exist: ENOPROTOOPT', () => {
    const { bsd } = make('4.3bsd');
    const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(errno(() => bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEPORT', 1))).toBe('ENOPROTOOPT');
  });

  it('sockets on different addresses of a two-interface stack do not conflict', () => {
    const clock = new VirtualClock();
    for (const p of ALL) {
      const { bsd } = new Stack({ personality: p, clock, interfaces: [{ ip: '198.18.0.2/24' }, { ip: '198.19.0.2/24' }] });
      listening(bsd, 80, 5, { address: '198.18.0.2' });
      expect(errno(() => listening(bsd, 80, 5, { address: '198.19.0.2' }))).toBe('OK');
      expect(errno(() => listening(bsd, 80, 5, { address: '0.0.0.0' }))).toBe('EADDRINUSE');
    }
  });

  describe('connections on the port (accepted children, via the core)', () => {
    // the listener (fd l) had SO_REUSEADDR `old`; it is closed after accepting one connection that
    // stays established; a new socket with SO_REUSEADDR `neu` binds the same port
    async function rebindAfterChild(p: P, old: boolean, neu: boolean) {
      const { bsd, peer } = make(p);
      const l = listening(bsd, 8080, 5, { reuseAddr: old });
      await handshake(peer, 8080);
      bsd.accept(l);
      bsd.close(l);
      const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
      if (neu) bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
      return errno(() => bsd.bind(fd, { address: '0.0.0.0', port: 8080 }));
    }

    it('linux: both the old socket and the new one need SO_REUSEADDR (spec 2.10)', async () => {
      expect(await rebindAfterChild('linux-5.4', false, false)).toBe('EADDRINUSE');
      expect(await rebindAfterChild('linux-5.4', false, true)).toBe('EADDRINUSE');
      expect(await rebindAfterChild('linux-5.4', true, false)).toBe('EADDRINUSE');
      expect(await rebindAfterChild('linux-5.4', true, true)).toBe('OK');
    });

    // the same after an active close: the connection sits in TIME-WAIT
    async function rebindAfterTimeWait(p: P, old: boolean, neu: boolean) {
      const { bsd, peer, stack } = make(p);
      const l = listening(bsd, 8080, 5, { reuseAddr: old });
      const c = await handshake(peer, 8080);
      const { fd: child } = bsd.accept(l);
      bsd.close(child); // FIN from the stack
      await c.expect({ flags: 'F.' });
      c.send({ flags: '.' });
      c.send({ flags: 'F.' });
      await c.expect({ flags: '.' }); // the ACK of the peer's FIN: the stack is in TIME-WAIT now
      expect(stack.core.x.portUsage(8080) & (old ? 4 : 2)).not.toBe(0);
      bsd.close(l);
      const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
      if (neu) bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
      return errno(() => bsd.bind(fd, { address: '0.0.0.0', port: 8080 }));
    }

    it('linux TIME-WAIT restart: (old, new) = (no,no) (no,yes) (yes,no) EADDRINUSE, (yes,yes) OK (spec 2.10 [run])', async () => {
      expect(await rebindAfterTimeWait('linux-5.4', false, false)).toBe('EADDRINUSE');
      expect(await rebindAfterTimeWait('linux-5.4', false, true)).toBe('EADDRINUSE');
      expect(await rebindAfterTimeWait('linux-5.4', true, false)).toBe('EADDRINUSE');
      expect(await rebindAfterTimeWait('linux-5.4', true, true)).toBe('OK');
    });

    it('freebsd TIME-WAIT restart needs SO_REUSEADDR on the new socket only (spec 3.10 c)', async () => {
      expect(await rebindAfterTimeWait('freebsd-12.1', true, false)).toBe('EADDRINUSE');
      expect(await rebindAfterTimeWait('freebsd-12.1', false, true)).toBe('OK');
    });

    it('freebsd and 4.3bsd: SO_REUSEADDR on the new socket is enough (spec 3.10 c, 4.6)', async () => {
      for (const p of ['freebsd-12.1', '4.3bsd'] as const) {
        expect(await rebindAfterChild(p, false, false)).toBe('EADDRINUSE');
        expect(await rebindAfterChild(p, false, true)).toBe('OK');
        expect(await rebindAfterChild(p, true, true)).toBe('OK');
      }
    });
  });
});

describe('accept() (spec 3.11, 4.7; STYLE 6)', () => {
  for (const p of ALL) {
    it(`${p}: EAGAIN on an empty queue, EINVAL on a socket that is not listening`, () => {
      const { bsd } = make(p);
      expect(errno(() => bsd.accept(listening(bsd, 8080)))).toBe('EAGAIN');
      const bound = bsd.socket('AF_INET', 'SOCK_STREAM');
      expect(errno(() => bsd.accept(bound))).toBe('EINVAL');
      bsd.bind(bound, { address: '0.0.0.0', port: 8081 });
      expect(errno(() => bsd.accept(bound))).toBe('EINVAL');
    });
  }

  it('UDP: Linux sock_no_accept EOPNOTSUPP; FreeBSD and 4.3BSD EINVAL', () => {
    const linux = make('linux-5.4').bsd;
    expect(errno(() => linux.accept(linux.socket('AF_INET', 'SOCK_DGRAM')))).toBe('EOPNOTSUPP');
    for (const p of ['freebsd-12.1', '4.3bsd'] as const) {
      const { bsd } = make(p);
      expect(errno(() => bsd.accept(bsd.socket('AF_INET', 'SOCK_DGRAM')))).toBe('EINVAL');
    }
  });

  for (const p of ALL) {
    it(`${p}: a completed handshake is accepted with the peer's address; the queue shows in listeners()`, async () => {
      const { bsd, stack, peer } = make(p);
      const l = listening(bsd, 8080);
      await handshake(peer, 8080, 40001);
      expect(stack.listeners()[0]).toMatchObject({ fd: l, address: '0.0.0.0', port: 8080, acceptQueue: 1, backlog: 5 });
      const a = bsd.accept(l);
      expect(a).toEqual({ fd: 4, address: PEER_IP, port: 40001 });
      expect(stack.listeners()[0]?.acceptQueue).toBe(0);
      expect(bsd.getsockname(a.fd)).toEqual({ address: STACK_IP, port: 8080 });
      expect(bsd.getpeername(a.fd)).toEqual({ address: PEER_IP, port: 40001 });
      expect(errno(() => bsd.accept(l))).toBe('EAGAIN');
      expect(stack.counters().TcpPassiveOpens).toBe(1);
    });
  }

  it('acceptAsync resolves when a connection arrives, in call order', async () => {
    const { bsd, peer } = make('linux-5.4');
    const l = listening(bsd, 8080);
    const first = bsd.acceptAsync(l);
    const second = bsd.acceptAsync(l);
    let settled = false;
    void first.then(() => {
      settled = true;
    });
    await peer.settle();
    expect(settled).toBe(false);
    await handshake(peer, 8080, 40001);
    await handshake(peer, 8080, 40002);
    expect((await first).port).toBe(40001);
    expect((await second).port).toBe(40002);
  });

  it('acceptAsync returns a queued connection at once', async () => {
    const { bsd, peer } = make('freebsd-12.1');
    const l = listening(bsd, 8080);
    await handshake(peer, 8080, 40005);
    await expect(bsd.acceptAsync(l)).resolves.toMatchObject({ port: 40005, address: PEER_IP });
  });

  it('acceptAsync rejects with EBADF when the socket is closed, and for the stack closing', async () => {
    const { bsd, stack } = make('linux-5.4');
    const l = listening(bsd, 8080);
    const p = bsd.acceptAsync(l);
    bsd.close(l);
    await expect(p).rejects.toMatchObject({ code: 'EBADF', syscall: 'accept' });
    const l2 = listening(bsd, 8081);
    const p2 = bsd.acceptAsync(l2);
    stack.close();
    await expect(p2).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('acceptAsync rejects at once for accept() errors and honours an AbortSignal', async () => {
    const { bsd } = make('linux-5.4');
    await expect(bsd.acceptAsync(99)).rejects.toMatchObject({ code: 'EBADF' });
    await expect(bsd.acceptAsync(bsd.socket('AF_INET', 'SOCK_STREAM'))).rejects.toMatchObject({ code: 'EINVAL' });
    const l = listening(bsd, 8080);
    const ac = new AbortController();
    const p = bsd.acceptAsync(l, { signal: ac.signal });
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });

  it('freebsd: a connection reset while queued makes accept() fail with ECONNABORTED, then EAGAIN', async () => {
    const { bsd, peer } = make('freebsd-12.1');
    const l = listening(bsd, 8080);
    const c = await handshake(peer, 8080);
    c.send({ flags: 'R', seq: c.sndNxt });
    await peer.settle();
    expect(errno(() => bsd.accept(l))).toBe('ECONNABORTED');
    expect(errno(() => bsd.accept(l))).toBe('EAGAIN');
  });

  it('linux: a connection reset while queued is accepted; the first recv gives ECONNRESET', async () => {
    const { bsd, peer } = make('linux-5.4');
    const l = listening(bsd, 8080);
    const c = await handshake(peer, 8080);
    c.send({ flags: 'R', seq: c.sndNxt });
    await peer.settle();
    const { fd } = bsd.accept(l);
    expect(errno(() => bsd.recv(fd, 100))).toBe('ECONNRESET');
    expect(bsd.recv(fd, 100)).toEqual(new Uint8Array(0));
    expect(errno(() => bsd.getpeername(fd))).toBe('ENOTCONN');
  });

  it('4.3bsd: a connection reset while queued disappears; accept() never sees it', async () => {
    const { bsd, peer } = make('4.3bsd');
    const l = listening(bsd, 8080);
    const c = await handshake(peer, 8080);
    c.send({ flags: 'R', seq: c.sndNxt });
    await peer.settle();
    expect(errno(() => bsd.accept(l))).toBe('EAGAIN');
  });

  it('EMFILE when the descriptor limit is reached; the connection stays queued', async () => {
    const { bsd, peer, stack } = make('linux-5.4', { limits: { fds: 4 } });
    const l = listening(bsd, 8080);
    await handshake(peer, 8080);
    expect(errno(() => bsd.accept(l))).toBe('EMFILE');
    expect(stack.listeners()[0]?.acceptQueue).toBe(1);
    expect(errno(() => bsd.socket('AF_INET', 'SOCK_STREAM'))).toBe('EMFILE');
  });
});

describe('recv()', () => {
  it('returns data, EAGAIN when there is none, and an empty array at end of stream', async () => {
    const { bsd, peer } = make('linux-5.4');
    const l = listening(bsd, 8080);
    const c = await handshake(peer, 8080);
    const { fd } = bsd.accept(l);
    expect(errno(() => bsd.recv(fd, 100))).toBe('EAGAIN');
    c.send({ flags: 'P.', payload: 'hello world' });
    await peer.settle();
    expect(new TextDecoder().decode(bsd.recv(fd, 5))).toBe('hello');
    expect(new TextDecoder().decode(bsd.recv(fd, 100))).toBe(' world');
    c.send({ flags: 'F.' });
    await peer.settle();
    expect(bsd.recv(fd, 100)).toEqual(new Uint8Array(0));
  });

  it('recvAsync waits for data; ENOTCONN on a listening socket', async () => {
    const { bsd, peer } = make('freebsd-12.1');
    const l = listening(bsd, 8080);
    const c = await handshake(peer, 8080);
    const { fd } = bsd.accept(l);
    const p = bsd.recvAsync(fd, 100);
    c.send({ flags: 'P.', payload: 'abc' });
    expect(new TextDecoder().decode(await p)).toBe('abc');
    expect(errno(() => bsd.recv(l, 10))).toBe('ENOTCONN');
    await expect(bsd.recvAsync(l, 10)).rejects.toMatchObject({ code: 'ENOTCONN' });
    const q = bsd.recvAsync(fd, 10);
    bsd.close(fd);
    await expect(q).rejects.toMatchObject({ code: 'EBADF', syscall: 'recv' });
  });
});

describe('getsockname / getpeername', () => {
  it('an unbound socket is 0.0.0.0:0; getpeername needs a connection (ENOTCONN)', () => {
    for (const p of ALL) {
      const { bsd } = make(p);
      const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
      expect(bsd.getsockname(fd)).toEqual({ address: '0.0.0.0', port: 0 });
      expect(errno(() => bsd.getpeername(fd))).toBe('ENOTCONN');
      bsd.bind(fd, { address: STACK_IP, port: 81 });
      expect(bsd.getsockname(fd)).toEqual({ address: STACK_IP, port: 81 });
      bsd.listen(fd, 1);
      expect(errno(() => bsd.getpeername(fd))).toBe('ENOTCONN');
    }
  });
});

describe('socket options', () => {
  it('SO_ACCEPTFILTER on FreeBSD (spec 3.9, S60), in accept_filt_setopt order', () => {
    const { bsd } = make('freebsd-12.1');
    const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.bind(fd, { address: '0.0.0.0', port: 80 });
    expect(errno(() => bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'dataready' }))).toBe('EINVAL');
    expect(errno(() => bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'nosuch' }))).toBe('ENOENT'); // name first
    expect(errno(() => bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', null))).toBe('EINVAL');
    bsd.listen(fd, 5);
    expect(errno(() => bsd.getsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER'))).toBe('EINVAL');
    expect(errno(() => bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'nosuch' }))).toBe('ENOENT');
    expect(bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'httpready', arg: 'x' })).toBe(0);
    expect(bsd.getsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER')).toEqual({ name: 'httpready', arg: 'x' });
    expect(errno(() => bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'dataready' }))).toBe('EINVAL');
    expect(bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', null)).toBe(0);
    expect(errno(() => bsd.getsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER'))).toBe('EINVAL');
    expect(bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'dataready' })).toBe(0);
    expect(errno(() => bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', 5))).toBe('EINVAL');
  });

  it('SO_ACCEPTFILTER elsewhere: ENOPROTOOPT (S56)', () => {
    for (const p of ['linux-5.4', '4.3bsd'] as const) {
      const { bsd } = make(p);
      const fd = listening(bsd, 80);
      expect(errno(() => bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'dataready' }))).toBe('ENOPROTOOPT');
      expect(errno(() => bsd.getsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER'))).toBe('ENOPROTOOPT');
    }
  });

  it('freebsd dataready: accept() stays EAGAIN until the client sends a byte (S56)', async () => {
    const { bsd, peer, stack } = make('freebsd-12.1');
    const l = listening(bsd, 8080);
    bsd.setsockopt(l, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'dataready' });
    const c = await handshake(peer, 8080);
    expect(errno(() => bsd.accept(l))).toBe('EAGAIN');
    expect(stack.listeners()[0]).toMatchObject({ acceptQueue: 0, incompleteQueue: 1 });
    expect(stack.formatNetstatL()).toContain('tcp4  0/1/5 ');
    c.send({ flags: 'P.', payload: 'x' });
    await peer.settle();
    const { fd } = bsd.accept(l);
    expect([...bsd.recv(fd, 10)]).toEqual([120]);
  });

  it('TCP_DEFER_ACCEPT (spec 2.11, S61): linux stores retransmission periods; freebsd ENOPROTOOPT; 4.3bsd EINVAL', () => {
    const { bsd } = make('linux-5.4');
    const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', 5);
    expect(bsd.getsockopt(fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT')).toBe(7);
    bsd.setsockopt(fd, 'SOL_TCP', 'TCP_DEFER_ACCEPT', -3);
    expect(bsd.getsockopt(fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT')).toBe(0);
    const f = make('freebsd-12.1').bsd;
    expect(errno(() => f.setsockopt(f.socket('AF_INET', 'SOCK_STREAM'), 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', 5))).toBe('ENOPROTOOPT');
    const b = make('4.3bsd').bsd;
    expect(errno(() => b.setsockopt(b.socket('AF_INET', 'SOCK_STREAM'), 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', 5))).toBe('EINVAL');
  });

  it('secs_to_retrans / retrans_to_secs as Linux computes them', () => {
    const table = [[0, 0], [1, 1], [2, 2], [3, 2], [4, 3], [5, 3], [7, 3], [8, 4], [15, 4], [16, 5], [63, 6]];
    expect(table.map(([s]) => secsToRetrans(s as number))).toEqual(table.map(([, r]) => r));
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((r) => retransToSecs(r))).toEqual([1, 3, 7, 15, 31, 63, 127, 247]);
  });

  it('TCP_SYNCNT (linux): 1..127, default reads tcp_syn_retries (6)', () => {
    const { bsd } = make('linux-5.4');
    const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(bsd.getsockopt(fd, 'IPPROTO_TCP', 'TCP_SYNCNT')).toBe(6);
    expect(errno(() => bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_SYNCNT', 0))).toBe('EINVAL');
    expect(errno(() => bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_SYNCNT', 128))).toBe('EINVAL');
    bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_SYNCNT', 2);
    expect(bsd.getsockopt(fd, 'IPPROTO_TCP', 'TCP_SYNCNT')).toBe(2);
  });

  it('getsockopt values: Linux 0/1, the BSDs `so_options & name`; SO_ACCEPTCONN; 4.3BSD lacks it', () => {
    const linux = make('linux-5.4').bsd;
    const lfd = listening(linux, 80, 5, { reuseAddr: true });
    expect(linux.getsockopt(lfd, 'SOL_SOCKET', 'SO_REUSEADDR')).toBe(1);
    expect(linux.getsockopt(lfd, 'SOL_SOCKET', 'SO_ACCEPTCONN')).toBe(1);
    expect(linux.getsockopt(linux.socket('AF_INET', 'SOCK_STREAM'), 'SOL_SOCKET', 'SO_ACCEPTCONN')).toBe(0);
    expect(linux.getsockopt(lfd, 'SOL_SOCKET', 'SO_TYPE')).toBe(1);
    const fb = make('freebsd-12.1').bsd;
    const ffd = listening(fb, 80, 5, { reuseAddr: true });
    expect(fb.getsockopt(ffd, 'SOL_SOCKET', 'SO_REUSEADDR')).toBe(4);
    expect(fb.getsockopt(ffd, 'SOL_SOCKET', 'SO_ACCEPTCONN')).toBe(2);
    fb.setsockopt(ffd, 'SOL_SOCKET', 'SO_REUSEPORT', 1);
    expect(fb.getsockopt(ffd, 'SOL_SOCKET', 'SO_REUSEPORT')).toBe(0x200);
    const b = make('4.3bsd').bsd;
    const bfd = listening(b, 80, 5, { reuseAddr: true });
    expect(b.getsockopt(bfd, 'SOL_SOCKET', 'SO_REUSEADDR')).toBe(4);
    expect(errno(() => b.getsockopt(bfd, 'SOL_SOCKET', 'SO_ACCEPTCONN'))).toBe('ENOPROTOOPT');
  });

  it('unknown options: ENOPROTOOPT (4.3BSD TCP level: EINVAL); read-only ones cannot be set; bad values EINVAL', () => {
    for (const p of ALL) {
      const { bsd } = make(p);
      const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
      expect(errno(() => bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_BOGUS', 1))).toBe('ENOPROTOOPT');
      expect(errno(() => bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTCONN', 1))).toBe('ENOPROTOOPT');
      expect(errno(() => bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_BOGUS', 1))).toBe(p === '4.3bsd' ? 'EINVAL' : 'ENOPROTOOPT');
      expect(errno(() => bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 'yes' as never))).toBe('EINVAL');
      expect(errno(() => bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_NODELAY', 1))).toBe('OK');
      const u = bsd.socket('AF_INET', 'SOCK_DGRAM');
      expect(errno(() => bsd.setsockopt(u, 'IPPROTO_TCP', 'TCP_NODELAY', 1))).toBe(p === 'linux-5.4' ? 'ENOPROTOOPT' : 'EINVAL');
    }
  });

  it('linux TCP_DEFER_ACCEPT on a listener: no SYN-ACK retransmission at 1 s and 3 s, accept ready at 7 s (S61)', async () => {
    const { bsd, peer } = make('linux-5.4');
    const l = listening(bsd, 8080);
    bsd.setsockopt(l, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', 5);
    const c = peer.flow({ sport: 40000, dport: 8080, isn: 1000 });
    await c.connect();
    expect(errno(() => bsd.accept(l))).toBe('EAGAIN');
    await peer.expectNothing(6900);
    const retrans = await c.expect({ flags: 'S.', ack: 1001 }, { within: 200 });
    expect(retrans.time).toBe(7000);
    c.send({ flags: '.' });
    await peer.settle();
    expect(bsd.accept(l).port).toBe(40000);
  });
});

describe('listeners(), ss and netstat layouts', () => {
  it('formatSs matches iproute2 ss -lnt column by column', () => {
    const text = formatSsListeners([
      { address: '0.0.0.0', port: 2024, acceptQueue: 0, backlog: 128 },
      { address: '0.0.0.0', port: 38685, acceptQueue: 0, backlog: 1 },
      { address: '127.0.0.1', port: 5001, acceptQueue: 0, backlog: 5 },
      { address: '127.0.0.2', port: 80, acceptQueue: 0, backlog: 4096 },
      { address: '0.0.0.0', port: 45555, acceptQueue: 0, backlog: 4096 },
    ]);
    // captured from `ss -lnt | cat` (iproute2 6.1) with the same listeners
    expect(text).toBe(
      'State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess\n' +
        'LISTEN 0      128          0.0.0.0:2024       0.0.0.0:*          \n' +
        'LISTEN 0      1            0.0.0.0:38685      0.0.0.0:*          \n' +
        'LISTEN 0      5          127.0.0.1:5001       0.0.0.0:*          \n' +
        'LISTEN 0      4096       127.0.0.2:80         0.0.0.0:*          \n' +
        'LISTEN 0      4096         0.0.0.0:45555      0.0.0.0:*          \n',
    );
    expect(formatSsListeners([])).toBe('State Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n');
  });

  it('Stack.formatSs shows Recv-Q = accept queue, Send-Q = backlog', async () => {
    const { bsd, stack, peer } = make('linux-5.4');
    listening(bsd, 8080, 10);
    await handshake(peer, 8080);
    expect(stack.formatSs()).toBe(
      'State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n' +
        'LISTEN 1      10           0.0.0.0:8080      0.0.0.0:*          \n',
    );
  });

  it('formatNetstatL: FreeBSD 12 netstat -Lan layout, newest first, backlog-0 listeners hidden', () => {
    const { bsd, stack } = make('freebsd-12.1');
    expect(stack.formatNetstatL()).toBe('');
    listening(bsd, 22, -1);
    listening(bsd, 25, 10, { address: STACK_IP });
    listening(bsd, 26, 0);
    expect(stack.formatNetstatL()).toBe(
      'Current listen queue sizes (qlen/incqlen/maxqlen)\n' +
        'Proto Listen                           Local Address         \n' +
        'tcp4  0/0/10                           198.18.0.2.25          \n' +
        'tcp4  0/0/128                          *.22                   \n',
    );
    expect(formatNetstatListeners([], true)).toBe(
      'Current listen queue sizes (qlen/incqlen/maxqlen)\nProto Listen                           Local Address         \n',
    );
  });

  it('formatNstat prints non-zero counters in nstat columns', async () => {
    const { bsd, stack, peer } = make('linux-5.4');
    listening(bsd, 8080);
    await handshake(peer, 8080);
    const text = stack.formatNstat();
    expect(text.startsWith('#kernel\n')).toBe(true);
    expect(text).toContain('TcpPassiveOpens                 1                  0.0\n');
    expect(text).not.toContain('TcpActiveOpens');
    expect(stack.formatNstat({ zeros: true })).toContain('TcpActiveOpens                  0                  0.0\n');
  });
});

describe('Stack', () => {
  it('reports SYN flooding: linux-5.4 listen(fd, 0) answers with a cookie and logs (S10)', async () => {
    const { bsd, stack, peer } = make('linux-5.4');
    const events: { port: number; action: string; message: string }[] = [];
    stack.on('synflood', (e) => events.push(e));
    listening(bsd, 8080, 0);
    const c = peer.flow({ sport: 40000, dport: 8080, isn: 1000 });
    c.send({ flags: 'S', options: { mss: 1460 } });
    await c.expect({ flags: 'S.', ack: 1001 });
    expect(events).toEqual([{
      port: 8080, action: 'cookies',
      message: 'TCP: request_sock_TCP: Possible SYN flooding on port 8080. Sending cookies.  Check SNMP counters.',
    }]);
    expect(stack.counters().TcpExtSyncookiesSent).toBe(1);
  });

  it('close() closes every socket, detaches, stops, and is idempotent; later calls fail with EBADF', async () => {
    const { bsd, stack, peer, clock } = make('linux-5.4');
    const l = listening(bsd, 8080);
    const c = peer.flow({ sport: 40000, dport: 8080, isn: 1000 });
    c.send({ flags: 'S' });
    await c.expect({ flags: 'S.' });
    let closes = 0;
    stack.on('close', () => closes++);
    stack.close();
    stack.close();
    expect(closes).toBe(1);
    expect(stack.closed).toBe(true);
    expect(errno(() => bsd.accept(l))).toBe('EBADF');
    expect(errno(() => bsd.socket('AF_INET', 'SOCK_STREAM'))).toBe('EBADF');
    c.send({ flags: '.' });
    await peer.expectNothing(70_000); // no answer, no retransmission: the stack is gone
    expect(clock.pending).toBe(0);
  });

  it('derives a locally administered MAC from the address and validates its options', () => {
    const s = new Stack({ clock: new VirtualClock(), interfaces: [{ ip: '198.18.0.2/24' }, { ip: '10.1.2.3/8', mac: '02:AA:00:00:00:01' }] });
    expect(s.interfaces.map((i) => i.mac)).toEqual(['02:00:c6:12:00:02', '02:aa:00:00:00:01']);
    expect(s.personality).toBe('linux-5.4');
    expect(s.family).toBe('linux');
    expect(() => new Stack({ interfaces: [{ ip: '198.18.0.2' }] })).toThrow(TypeError);
    expect(() => new Stack({ interfaces: [{ ip: '198.18.0.2/33' }] })).toThrow(RangeError);
    expect(() => new Stack({ link: MemoryLink.pair()[0] })).toThrow(/needs an interface/);
    expect(() => new Stack({ limits: { connections: 0 } })).toThrow(RangeError);
    expect(() => new Stack({ personality: 'plan9' as never })).toThrow();
  });

  it('Stack.create loads the core asynchronously and gives a working stack', async () => {
    const s = await Stack.create({ personality: 'freebsd-12.1', clock: new VirtualClock(), interfaces: [{ ip: '198.18.0.2/24' }] });
    expect(s.family).toBe('freebsd');
    expect(errno(() => s.bsd.accept(listening(s.bsd, 80)))).toBe('EAGAIN');
    expect(s.core.x.getKnob(0)).toBe(1); // the family knob: FreeBSD
    s.close();
  });

  it('a sysctl change reaches the core at once (knob pushed)', async () => {
    const { bsd, stack, peer } = make('linux-5.4');
    stack.sysctl.set('net.ipv4.tcp_syncookies', 2); // cookies for every SYN
    listening(bsd, 8080);
    const c = peer.flow({ sport: 40000, dport: 8080, isn: 1000 });
    c.send({ flags: 'S', options: { mss: 1460 } });
    await c.expect({ flags: 'S.' });
    expect(stack.counters().TcpExtSyncookiesSent).toBe(1);
  });
});
