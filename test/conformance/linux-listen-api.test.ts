// Linux personality, the system-call surface: listen(2) of man-pages 4.14 and 5.05 sentence by
// sentence, spec §2.1 (errors), §2.2 (effective backlog), §2.10 (autobind, SO_REUSEADDR,
// SO_REUSEPORT), accept(2) errors and the listeners() view (ss -lnt). Every preset runs every test;
// where the presets differ the expectation comes from FACTS (helpers/linux-conformance.ts).
import { describe, it, expect } from 'vitest';
import {
  LINUX_PRESETS, FACTS, PORT, PEER_IP, setup, flow, syn, handshake, ackOf, tryAccept, drainAccept,
  errnoOf, listener, ctr, u32,
} from '../helpers/linux-conformance.js';
import type { SocketError } from '../../src/bsd.js';

// ================================================================================================
// listen(2) DESCRIPTION and NOTES
// ================================================================================================

describe('listen(2): "listen() marks the socket referred to by sockfd as a passive socket" (NOTES steps 1-4: socket, bind, listen, accept)', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: a bound socket that is not listening answers a SYN with <SEQ=0><ACK=c+1><RST,ACK>; after listen() the SYN gets a SYN-ACK and accept() returns the connection`, async () => {
      const env = await setup(preset, { listen: false });
      const early = flow(env, 500);
      early.send({ flags: 'S', options: { mss: 1460 } });
      await early.expect({ flags: 'R.', seq: 0, ack: 501, win: 0 });
      expect(env.stack.bsd.getsockopt(env.fd, 'SOL_SOCKET', 'SO_ACCEPTCONN')).toBe(0);

      // RETURN VALUE: "On success, zero is returned."
      expect(env.stack.bsd.listen(env.fd, 5)).toBe(0);
      expect(env.stack.bsd.getsockopt(env.fd, 'SOL_SOCKET', 'SO_ACCEPTCONN')).toBe(1);
      const f = flow(env, 1000);
      await handshake(f);
      await env.peer.expectNothing(10);
      const a = tryAccept(env);
      expect(a).toEqual({ fd: expect.any(Number), address: PEER_IP, port: f.sport });
      expect(env.stack.bsd.getpeername((a as { fd: number }).fd)).toEqual({ address: PEER_IP, port: f.sport });
      expect(env.stack.bsd.getsockname((a as { fd: number }).fd)).toEqual({ address: '198.18.0.2', port: PORT });
    });
  }
});

describe('listen(2): "The sockfd argument is a file descriptor that refers to a socket of type SOCK_STREAM or SOCK_SEQPACKET"', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: a SOCK_DGRAM socket fails with EOPNOTSUPP (sock_no_listen, spec 2.1.2, S03)`, async () => {
      const env = await setup(preset, { socket: false });
      const u = env.stack.bsd.socket('AF_INET', 'SOCK_DGRAM');
      env.stack.bsd.bind(u, { address: '0.0.0.0', port: 5353 });
      expect(errnoOf(() => env.stack.bsd.listen(u, 5))).toBe('EOPNOTSUPP');
      try {
        env.stack.bsd.listen(u, 5);
      } catch (e) {
        expect((e as SocketError).errno).toBe(95);
        expect((e as SocketError).syscall).toBe('listen');
      }
    });
  }
});

// ================================================================================================
// listen(2) ERRORS, spec §2.1
// ================================================================================================

describe('listen(2) ERRORS: "On error, -1 is returned, and errno is set appropriately"', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: EBADF "The argument sockfd is not a valid file descriptor" (S01)`, async () => {
      const env = await setup(preset, { socket: false });
      expect(errnoOf(() => env.stack.bsd.listen(9999, 5))).toBe('EBADF');
      try {
        env.stack.bsd.listen(9999, 5);
      } catch (e) {
        expect((e as SocketError).errno).toBe(9);
      }
    });

    it(`${preset}: ENOTSOCK "The file descriptor sockfd does not refer to a socket" (fd 0, S02)`, async () => {
      const env = await setup(preset, { socket: false });
      expect(errnoOf(() => env.stack.bsd.listen(0, 5))).toBe('ENOTSOCK');
      try {
        env.stack.bsd.listen(0, 5);
      } catch (e) {
        expect((e as SocketError).errno).toBe(88);
      }
    });

    it(`${preset}: EINVAL on an accepted (connected) socket: inet_listen "sock->state != SS_UNCONNECTED" (spec 2.1.3, S04; not in the man page)`, async () => {
      const env = await setup(preset);
      await handshake(flow(env));
      await env.peer.expectNothing(10);
      const a = tryAccept(env) as { fd: number };
      expect(errnoOf(() => env.stack.bsd.listen(a.fd, 5))).toBe('EINVAL');
    });

    it(`${preset}: EADDRINUSE "Another socket is already listening on the same port": a second bind without SO_REUSEADDR fails (S18)`, async () => {
      const env = await setup(preset);
      const b = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
      expect(errnoOf(() => env.stack.bsd.bind(b, { address: '0.0.0.0', port: PORT }))).toBe('EADDRINUSE');
    });

    it(`${preset}: EADDRINUSE from listen() itself: two SO_REUSEADDR sockets bound to *:P, the second listen() fails (inet_csk_listen_start re-check, spec 2.10, S19)`, async () => {
      const env = await setup(preset, { socket: false });
      const x = env.stack.bsd;
      const a = x.socket('AF_INET', 'SOCK_STREAM');
      const b = x.socket('AF_INET', 'SOCK_STREAM');
      x.setsockopt(a, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
      x.setsockopt(b, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
      expect(x.bind(a, { address: '0.0.0.0', port: PORT })).toBe(0);
      expect(x.bind(b, { address: '0.0.0.0', port: PORT })).toBe(0);
      expect(x.listen(a, 5)).toBe(0);
      expect(errnoOf(() => x.listen(b, 5))).toBe('EADDRINUSE');
      // the failed socket did not become a listener; the first one still works
      expect(env.stack.listeners().map((l) => l.fd)).toEqual([a]);
      const f = flow(env);
      await syn(f);
    });

    it(`${preset}: SO_REUSEADDR does not share with a listener: *:P listening (SO_REUSEADDR), B (SO_REUSEADDR) binding the interface address:P fails (spec 2.10)`, async () => {
      const env = await setup(preset, { before: (s, fd) => s.bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1) });
      const b = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
      env.stack.bsd.setsockopt(b, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
      expect(errnoOf(() => env.stack.bsd.bind(b, { address: '198.18.0.2', port: PORT }))).toBe('EADDRINUSE');
    });

    it(`${preset}: EADDRINUSE "all port numbers in the ephemeral port range are currently in use" (ip_local_port_range 40000 40001, S07)`, async () => {
      const env = await setup(preset, { socket: false, sysctls: { 'net.ipv4.ip_local_port_range': [40000, 40001] } });
      const x = env.stack.bsd;
      for (const port of [40000, 40001]) x.bind(x.socket('AF_INET', 'SOCK_STREAM'), { address: '0.0.0.0', port });
      const s = x.socket('AF_INET', 'SOCK_STREAM');
      expect(errnoOf(() => x.listen(s, 5))).toBe('EADDRINUSE');
      expect(x.getsockname(s)).toEqual({ address: '0.0.0.0', port: 0 });
    });
  }
});

// ================================================================================================
// §2.10 autobind
// ================================================================================================

describe('spec 2.10: listen() on an unbound socket autobinds to an odd port of ip_local_port_range (S06)', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: six autobound listeners all get distinct odd ports in 32768..60999, and a SYN to one is answered`, async () => {
      const env = await setup(preset, { socket: false });
      const x = env.stack.bsd;
      const ports: number[] = [];
      for (let i = 0; i < 6; i++) {
        const s = x.socket('AF_INET', 'SOCK_STREAM');
        expect(x.listen(s, 5)).toBe(0);
        const { address, port } = x.getsockname(s);
        expect(address).toBe('0.0.0.0');
        ports.push(port);
      }
      for (const p of ports) {
        expect(p % 2).toBe(1);
        expect(p).toBeGreaterThanOrEqual(32768);
        expect(p).toBeLessThanOrEqual(60999);
      }
      expect(new Set(ports).size).toBe(6);
      const f = env.peer.flow({ sport: 41000, dport: ports[0] as number, isn: 7 });
      f.send({ flags: 'S', options: { mss: 1460 } });
      await f.expect({ flags: 'S.', ack: 8 });
    });

    it(`${preset}: with SO_REUSEADDR the lower half of the range is tried first (inet_csk_find_open_port attempt_half)`, async () => {
      const env = await setup(preset, { socket: false });
      const x = env.stack.bsd;
      for (let i = 0; i < 6; i++) {
        const s = x.socket('AF_INET', 'SOCK_STREAM');
        x.setsockopt(s, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
        x.listen(s, 5);
        const { port } = x.getsockname(s);
        expect(port % 2).toBe(1);
        expect(port).toBeGreaterThanOrEqual(32768);
        expect(port).toBeLessThan(32768 + ((61000 - 32768) >> 1));
      }
    });
  }
});

describe('spec 2.10: SO_REUSEPORT listeners of one uid share a port and SYNs are spread by 4-tuple hash (S21)', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: both bind+listen succeed; 100 SYNs from distinct ports reach both listeners`, async () => {
      const env = await setup(preset, { socket: false });
      const x = env.stack.bsd;
      const fds = [0, 1].map(() => {
        const s = x.socket('AF_INET', 'SOCK_STREAM');
        x.setsockopt(s, 'SOL_SOCKET', 'SO_REUSEPORT', 1);
        expect(x.bind(s, { address: '0.0.0.0', port: PORT })).toBe(0);
        expect(x.listen(s, 128)).toBe(0);
        return s;
      });
      for (let i = 0; i < 100; i++) await syn(flow(env, 1000 + i));
      const [a, b] = fds.map((fd) => listener(env, fd).synQueue) as [number, number];
      expect(a + b).toBe(100);
      expect(a).toBeGreaterThan(0);
      expect(b).toBeGreaterThan(0);
    });
  }
});

describe('spec 2.10: a TIME-WAIT connection blocks a new bind unless both it and the new socket had SO_REUSEADDR', () => {
  for (const preset of LINUX_PRESETS) {
    for (const [oldReuse, newReuse, want] of [[false, false, 'EADDRINUSE'], [true, false, 'EADDRINUSE'], [false, true, 'EADDRINUSE'], [true, true, 0]] as const) {
      it(`${preset}: (old, new) SO_REUSEADDR = (${oldReuse ? 'yes' : 'no'}, ${newReuse ? 'yes' : 'no'}) ⇒ bind ${want === 0 ? 'succeeds' : 'fails EADDRINUSE'}`, async () => {
        const env = await setup(preset, {
          before: (s, fd) => { if (oldReuse) s.bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1); },
        });
        const x = env.stack.bsd;
        const f = flow(env, 1000);
        await handshake(f);
        await env.peer.expectNothing(10);
        const a = tryAccept(env) as { fd: number };
        // the stack closes first (active close): FIN, the peer ACKs and sends its FIN, TIME-WAIT
        x.close(a.fd);
        const fin = await f.expect({ flags: 'F.' });
        f.send({ flags: '.', ack: u32(fin.seq + 1) });
        f.send({ flags: 'F.', ack: u32(fin.seq + 1) });
        await f.expect({ flags: '.', ack: u32(f.isn + 2) });
        x.close(env.fd);
        const s = x.socket('AF_INET', 'SOCK_STREAM');
        if (newReuse) x.setsockopt(s, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
        if (want === 0) expect(x.bind(s, { address: '0.0.0.0', port: PORT })).toBe(0);
        else expect(errnoOf(() => x.bind(s, { address: '0.0.0.0', port: PORT }))).toBe(want);
      });
    }
  }
});

// ================================================================================================
// §2.2 effective backlog; man page "silently truncated to that value"
// ================================================================================================

describe('listen(2): "If the backlog argument is greater than the value in /proc/sys/net/core/somaxconn, then it is silently truncated to that value" (spec 2.2)', () => {
  for (const preset of LINUX_PRESETS) {
    const cap = FACTS[preset].somaxconn;
    it(`${preset}: the default somaxconn is ${cap} (man-pages ${cap === 128 ? '4.14: "the default value in this file is 128"' : '5.05: "Since Linux 5.4, the default in this file is 4096"'})`, async () => {
      const env = await setup(preset, { socket: false });
      expect(env.stack.sysctl.get('net.core.somaxconn')).toBe(cap);
    });

    it(`${preset}: listen(fd, ${cap + 1}) and listen(fd, 100000) give backlog ${cap} (ss Send-Q)`, async () => {
      const env = await setup(preset, { backlog: cap + 1 });
      expect(listener(env).backlog).toBe(cap);
      expect(env.stack.bsd.listen(env.fd, 100000)).toBe(0);
      expect(listener(env).backlog).toBe(cap);
    });

    it(`${preset}: a negative backlog becomes somaxconn: listen(fd, -1) and listen(fd, -5) give ${cap} ((unsigned)backlog > somaxconn)`, async () => {
      const env = await setup(preset, { backlog: -1 });
      expect(listener(env).backlog).toBe(cap);
      env.stack.bsd.listen(env.fd, -5);
      expect(listener(env).backlog).toBe(cap);
    });

    it(`${preset}: "In kernels before 2.4.25, this limit was a hard coded value": now it is the sysctl, somaxconn 3 clamps listen(fd, 1000) to 3 and 4 connections complete`, async () => {
      const env = await setup(preset, { backlog: 1000, sysctls: { 'net.core.somaxconn': 3 } });
      expect(listener(env).backlog).toBe(3);
      for (let i = 0; i < 4; i++) await handshake(flow(env));
      const f = flow(env);
      f.send({ flags: 'S', options: { mss: 1460 } });
      await env.peer.expectNothing(500);
      expect(drainAccept(env)).toBe(4);
    });

    it(`${preset}: the clamp is read at listen() time only: lowering somaxconn to 1 leaves listen(fd, 5) at 5 (6 connections) until listen() is called again`, async () => {
      const env = await setup(preset, { backlog: 5 });
      env.stack.sysctl.set('net.core.somaxconn', 1);
      expect(listener(env).backlog).toBe(5);
      for (let i = 0; i < 6; i++) await handshake(flow(env));
      await env.peer.expectNothing(10);
      expect(listener(env).acceptQueue).toBe(6);
      env.stack.bsd.listen(env.fd, 5);
      expect(listener(env).backlog).toBe(1);
      expect(listener(env).acceptQueue).toBe(6);
    });

    it(`${preset}: listen(fd, 0) gives backlog 0 (not somaxconn)`, async () => {
      const env = await setup(preset, { backlog: 0 });
      expect(listener(env).backlog).toBe(0);
    });
  }
});

describe('spec 2.1.3: relisten "only changes the backlog"; queued connections and requests are kept', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: backlog 3 with 4 queued, listen(fd, 1): 0 returned, Send-Q 1, all 4 stay; a new SYN is dropped as overflow`, async () => {
      const env = await setup(preset, { backlog: 3 });
      for (let i = 0; i < 4; i++) await handshake(flow(env));
      await env.peer.expectNothing(10);
      expect(env.stack.bsd.listen(env.fd, 1)).toBe(0);
      expect(listener(env)).toMatchObject({ backlog: 1, acceptQueue: 4 });
      const before = ctr(env).TcpExtListenOverflows;
      const f = flow(env);
      f.send({ flags: 'S', options: { mss: 1460 } });
      await env.peer.expectNothing(500);
      expect(ctr(env).TcpExtListenOverflows - before).toBe(1);
      expect(drainAccept(env)).toBe(4);
    });

    it(`${preset}: backlog 1 holds 2; listen(fd, 4) raises it to 5 and keeps the queued ones and a pending request`, async () => {
      const env = await setup(preset, { backlog: 1 });
      await handshake(flow(env));
      await handshake(flow(env));
      const pending = flow(env, 9000);
      pending.send({ flags: 'S', options: { mss: 1460 } });
      await env.peer.expectNothing(10);      // accept queue full: the SYN is dropped
      env.stack.bsd.listen(env.fd, 4);
      expect(listener(env)).toMatchObject({ backlog: 4, acceptQueue: 2 });
      // a request in SYN-RECEIVED across the relisten
      const r = flow(env, 7000);
      const sa = await syn(r);
      env.stack.bsd.listen(env.fd, 4);
      ackOf(r);
      await env.peer.expectNothing(10);
      expect(listener(env)).toMatchObject({ acceptQueue: 3, synQueue: 0 });
      await handshake(flow(env));
      await handshake(flow(env));
      await env.peer.expectNothing(10);
      expect(listener(env).acceptQueue).toBe(5);
      const last = flow(env);
      last.send({ flags: 'S', options: { mss: 1460 } });
      await env.peer.expectNothing(500);
      expect(drainAccept(env)).toBe(5);
      expect(sa.seq).toBeTypeOf('number');
    });
  }
});

// ================================================================================================
// accept(2)
// ================================================================================================

describe('accept(2) on a Linux listener (STYLE 6: EAGAIN on an empty queue, EINVAL when not listening)', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: EINVAL on a bound socket that is not listening, EAGAIN on an empty queue, EOPNOTSUPP on UDP`, async () => {
      const env = await setup(preset, { listen: false });
      expect(tryAccept(env)).toBe('EINVAL');
      env.stack.bsd.listen(env.fd, 5);
      expect(tryAccept(env)).toBe('EAGAIN');
      const u = env.stack.bsd.socket('AF_INET', 'SOCK_DGRAM');
      expect(tryAccept(env, u)).toBe('EOPNOTSUPP');
      expect(tryAccept(env, 9999)).toBe('EBADF');
      expect(tryAccept(env, 0)).toBe('ENOTSOCK');
    });

    it(`${preset}: accept() returns connections oldest first; acceptAsync() resolves when the third ACK arrives`, async () => {
      const env = await setup(preset);
      const f1 = flow(env);
      const f2 = flow(env);
      await handshake(f1);
      await handshake(f2);
      await env.peer.expectNothing(10);
      expect((tryAccept(env) as { port: number }).port).toBe(f1.sport);
      expect((tryAccept(env) as { port: number }).port).toBe(f2.sport);
      const waiting = env.stack.bsd.acceptAsync(env.fd);
      const f3 = flow(env);
      await syn(f3);
      let done = false;
      void waiting.then(() => { done = true; });
      await env.peer.settle();
      expect(done).toBe(false);
      ackOf(f3);
      await env.peer.settle();
      expect(done).toBe(true);
      expect((await waiting).port).toBe(f3.sport);
    });
  }
});

// ================================================================================================
// listeners(): what ss -lnt shows
// ================================================================================================

describe('listeners() shows each listener like ss -lnt: Recv-Q = accept queue, Send-Q = backlog, plus the SYN queue', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: backlog 5 with 3 completed and 2 half-open`, async () => {
      const env = await setup(preset, { backlog: 5 });
      for (let i = 0; i < 3; i++) await handshake(flow(env));
      await syn(flow(env));
      await syn(flow(env));
      await env.peer.expectNothing(10);
      expect(env.stack.listeners()).toEqual([{
        fd: env.fd, address: '0.0.0.0', port: PORT, state: 'LISTEN', acceptQueue: 3, synQueue: 2,
        incompleteQueue: 0, backlog: 5, overflows: 0, drops: 0,
      }]);
      const lines = env.stack.formatSs().trimEnd().split('\n');
      expect(lines[0]).toMatch(/^State\s+Recv-Q\s+Send-Q\s+Local Address:Port\s+Peer Address:Port/);
      expect(lines[1]).toMatch(/^LISTEN\s+3\s+5\s+0\.0\.0\.0:8080\s+0\.0\.0\.0:\*/);
      // accept() takes from Recv-Q; closing removes the row
      tryAccept(env);
      expect(listener(env).acceptQueue).toBe(2);
      env.stack.bsd.close(env.fd);
      expect(env.stack.listeners()).toEqual([]);
    });
  }
});
