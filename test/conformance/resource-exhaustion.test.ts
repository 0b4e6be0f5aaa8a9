// Bounded memory: with every connection record in use (Stack limits.connections), a handshake that
// completes is refused as the personality refuses a child it cannot allocate, counted, and the
// established connections keep moving data; connect() fails with ENOBUFS. Nothing aborts the core.
// (The buffer-chunk pool's own exhaustion is test/unit/datapath.test.ts's 'bounded memory'.)
import { describe, it, expect } from 'vitest';
import { Stack } from '../../src/stack.js';
import type { TcpFlow } from '../../src/testing/peer.js';
import { peerEnv, PEER_IP } from '../helpers/peer-env.js';
import { SocketError } from '../../src/bsd.js';

type P = 'linux-5.4' | 'freebsd-12.1' | '4.3bsd';
const u32 = (n: number) => n >>> 0;

function make(personality: P, sysctls?: Record<string, number>, limits: { connections?: number; synEntries?: number } = {}) {
  const { stack, peer, clock } = peerEnv(personality, { seed: 13, limits: { connections: 2, ...limits }, ...(sysctls ? { sysctls } : {}) });
  const lfd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
  stack.bsd.bind(lfd, { address: '0.0.0.0', port: 80 });
  stack.bsd.listen(lfd, 5);
  return { stack, bsd: stack.bsd, peer, clock, lfd };
}
type Env = ReturnType<typeof make>;
const ctr = (env: Env, name: string) => (env.stack.counters() as Record<string, number>)[name] ?? 0;

/** Fill the pool: two accepted connections, from ports 40001 and 40002. */
async function fill(env: Env) {
  const out: { fd: number; f: TcpFlow; s: number }[] = [];
  for (const sport of [40001, 40002]) {
    const f = env.peer.flow({ sport, dport: 80, isn: 1000 });
    const sa = await f.connect({ options: { mss: 1460 } });
    await env.peer.settle();
    out.push({ fd: env.bsd.accept(env.lfd).fd, f, s: sa.seq });
  }
  return out;
}

/** Both pool connections still carry data both ways. */
async function stillMoving(env: Env, conns: { fd: number; f: TcpFlow; s: number }[]) {
  for (const { fd, f, s } of conns) {
    f.send({ flags: 'P.', seq: 1001, payload: 'ping', ack: u32(s + 1) });
    await env.peer.wait(300);
    expect(new TextDecoder().decode(env.bsd.recv(fd, 100))).toBe('ping');
    await env.peer.drain();   // the ACK of the ping
    env.bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_NODELAY', 1);
    env.bsd.send(fd, new TextEncoder().encode('pong'));
    const seg = await f.expect({ len: 4 }, { within: 300 });
    expect(new TextDecoder().decode(seg.payload)).toBe('pong');
  }
}

describe('the connection pool is full when a handshake completes', () => {
  it('linux-5.4: the SYN is answered (the SYN queue is apart), the third ACK finds no child: ListenDrops, the request stays acked; a slot freed later lets the retried handshake through', async () => {
    const env = make('linux-5.4');
    const conns = await fill(env);
    const f = env.peer.flow({ sport: 40003, dport: 80, isn: 7000 });
    const sa = await f.connect({ options: { mss: 1460 } });
    await env.peer.expectNothing(10);   // tcp_check_req listen_overflow: the ACK is dropped silently
    expect(ctr(env, 'TcpExtListenDrops')).toBe(1);
    expect(ctr(env, 'TcpExtListenOverflows')).toBe(0);   // exit_nonewsk: not an accept-queue overflow
    expect(ctr(env, 'WtcpNoMemory')).toBeGreaterThanOrEqual(1);
    expect(() => env.bsd.accept(env.lfd)).toThrow(SocketError);
    await stillMoving(env, conns);
    // free a record: the peer resets the first connection, the application closes it
    conns[0]!.f.send({ flags: 'R', seq: 1005 });
    await env.peer.wait(10);
    env.bsd.close(conns[0]!.fd);
    // the request is still there: its SYN-ACK is retransmitted and the ACK now completes
    const again = await f.expect({ flags: 'S.', seq: sa.seq, ack: 7001 }, { within: 3000 });
    expect(again.seq).toBe(sa.seq);
    f.send({ flags: '.', seq: 7001, ack: u32(sa.seq + 1) });
    await env.peer.settle();
    expect(env.bsd.getpeername(env.bsd.accept(env.lfd).fd).port).toBe(40003);
  });

  it('linux-5.4 with tcp_abort_on_overflow = 1: the third ACK gets <SEQ=SEG.ACK><RST>', async () => {
    const env = make('linux-5.4', { 'net.ipv4.tcp_abort_on_overflow': 1 });
    await fill(env);
    const f = env.peer.flow({ sport: 40003, dport: 80, isn: 7000 });
    const sa = await f.connect({ options: { mss: 1460 } });
    await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
    expect(ctr(env, 'TcpExtListenDrops')).toBe(1);
    expect(ctr(env, 'TcpExtEmbryonicRsts')).toBe(1);
  });

  it('freebsd-12.1: syncache_socket fails (sonewconn): TcpScAborted, ListenDrops, and a RST (net.inet.tcp.syncache.rst_on_sock_fail = 1)', async () => {
    const env = make('freebsd-12.1');
    const conns = await fill(env);
    const f = env.peer.flow({ sport: 40003, dport: 80, isn: 7000 });
    const sa = await f.connect({ options: { mss: 1460 } });
    await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
    expect(ctr(env, 'TcpScAborted')).toBe(1);
    expect(ctr(env, 'TcpExtListenDrops')).toBe(1);
    await stillMoving(env, conns);
  });

  it('freebsd-12.1 with rst_on_sock_fail = 0: silent', async () => {
    const env = make('freebsd-12.1', { 'net.inet.tcp.syncache.rst_on_sock_fail': 0 });
    await fill(env);
    const f = env.peer.flow({ sport: 40003, dport: 80, isn: 7000 });
    await f.connect({ options: { mss: 1460 } });
    await env.peer.expectNothing(10);
    expect(ctr(env, 'TcpScAborted')).toBe(1);
  });

  it('4.3bsd: sonewconn fails: the embryo stays, the ACK is dropped (counted), established connections go on', async () => {
    const env = make('4.3bsd');
    const conns = await fill(env);
    const f = env.peer.flow({ sport: 40003, dport: 80, isn: 7000 });
    await f.connect({ options: { mss: 1460 } });
    await env.peer.expectNothing(10);
    expect(ctr(env, 'TcpExtListenDrops')).toBe(1);
    await stillMoving(env, conns);
  });
});

describe('connect() with no connection record free', () => {
  // The OS allocates the TCB with the socket, and fails that allocation with ENOBUFS: Linux
  // inet_create (sk_alloc fails: -ENOBUFS), FreeBSD tcp_attach / in_pcballoc (ENOBUFS), 4.3BSD
  // tcp_attach (m_getclr fails: ENOBUFS). wtcp takes the record at connect(), so connect() says it.
  for (const p of ['linux-5.4', 'freebsd-12.1', '4.3bsd'] as const) {
    it(`${p}: ENOBUFS, nothing sent, and the pool's connections are unharmed`, async () => {
      const env = make(p);
      const conns = await fill(env);
      const fd = env.bsd.socket('AF_INET', 'SOCK_STREAM');
      let code = 'OK';
      try { env.bsd.connect(fd, { address: PEER_IP, port: 8080 }); } catch (e) { code = (e as SocketError).code; }
      expect(code).toBe('ENOBUFS');
      await env.peer.expectNothing(10);
      let asyncCode = 'OK';
      await env.bsd.connectAsync(fd, { address: PEER_IP, port: 8080 }).catch((e: SocketError) => { asyncCode = e.code; });
      expect(asyncCode).toBe('ENOBUFS');
      await stillMoving(env, conns);
    });
  }
});

describe('the SYN-entry pool is full (Stack limits.synEntries), cookies off', () => {
  it('linux-5.4: a SYN that finds no free entry is dropped (no SYN-ACK), counted as WtcpNoMemory and ListenDrops; established connections go on, and a freed entry serves the next SYN', async () => {
    const env = make('linux-5.4', { 'net.ipv4.tcp_syncookies': 0 }, { connections: 8, synEntries: 4 });
    const conns = await fill(env);
    // four half-open handshakes that never complete take every entry
    for (let i = 0; i < 4; i++) {
      const f = env.peer.flow({ sport: 41000 + i, dport: 80, isn: 5000 });
      f.send({ flags: 'S', seq: 5000, options: { mss: 1460 } });
      await f.expect({ flags: 'S.' }, { within: 100 });
    }
    const nomem0 = ctr(env, 'WtcpNoMemory');
    const drops0 = ctr(env, 'TcpExtListenDrops');
    const late = env.peer.flow({ sport: 42000, dport: 80, isn: 7000 });
    late.send({ flags: 'S', seq: 7000, options: { mss: 1460 } });
    await env.peer.expectNothing(500);
    expect(ctr(env, 'WtcpNoMemory')).toBe(nomem0 + 1);
    expect(ctr(env, 'TcpExtListenDrops')).toBe(drops0 + 1);
    expect(env.stack.listeners()[0]!.synQueue).toBe(4);
    await stillMoving(env, conns);
    // the half-open entries expire after their SYN-ACK retries (63 s): then a SYN is served again
    await env.peer.wait(70_000);
    await env.peer.drain();
    const again = env.peer.flow({ sport: 42001, dport: 80, isn: 9000 });
    again.send({ flags: 'S', seq: 9000, options: { mss: 1460 } });
    await again.expect({ flags: 'S.' }, { within: 100 });
  });
});
