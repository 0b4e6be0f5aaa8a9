// RFC 5961 per personality: §5 ACK acceptability (blind data injection), and §7 challenge-ACK rate
// limiting as each OS has it — Linux's per-connection tcp_invalid_ratelimit and per-stack
// tcp_challenge_ack_limit (1000/s randomised in 4.14/5.4, INT_MAX = off from 6.0), FreeBSD 12.1's
// unlimited tcp_respond(), 4.3BSD's plain RFC 793 rules. Peer ISN 1000 (RCV.NXT 1001), `s` = ISS.
import { describe, it, expect } from 'vitest';
import { peerEnv, acceptedFromPeer } from '../helpers/peer-env.js';
import { SocketError } from '../../src/bsd.js';

type P = 'linux-4.14' | 'linux-5.4' | 'linux-6.13' | 'linux-6.18' | 'freebsd-12.1' | '4.3bsd';
const u32 = (n: number) => n >>> 0;

function make(personality: P, sysctls?: Record<string, number>) {
  return peerEnv(personality, { seed: 11, ...(sysctls ? { sysctls } : {}) });
}
type Env = ReturnType<typeof make>;

/** An accepted passive connection: no options but MSS, so the peer's window 65535 is MAX.SND.WND. */
const accepted = (env: Env) => acceptedFromPeer(env);

function readAll(env: Env, fd: number): string {
  try { return new TextDecoder().decode(env.bsd.recv(fd, 100)); } catch (e) { return (e as SocketError).code; }
}
const ctr = (env: Env, name: string) => (env.stack.counters() as Record<string, number>)[name] ?? 0;

describe('RFC 5961 §5.2: data whose ACK is below SND.UNA - MAX.SND.WND (blind data injection)', () => {
  it('linux-5.4: dropped with a challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT>; the data is not delivered (tcp_ack)', async () => {
    const env = make('linux-5.4');
    const { fd, f, s } = await accepted(env);
    f.send({ flags: 'P.', payload: 'evil', ack: u32(s + 1 - 65536) });
    await f.expect({ flags: '.', seq: u32(s + 1), ack: 1001 });
    expect(readAll(env, fd)).toBe('EAGAIN');
    expect(ctr(env, 'TcpExtTCPChallengeACK')).toBe(1);
    // the connection is intact: the real next segment is taken
    f.send({ flags: 'P.', seq: 1001, payload: 'good', ack: u32(s + 1) });
    await env.peer.wait(500);
    expect(readAll(env, fd)).toBe('good');
  });

  it('linux-5.4: an ACK just inside the bound (SND.UNA - 65535) is an old ACK: ignored, the data delivered', async () => {
    const env = make('linux-5.4');
    const { fd, f, s } = await accepted(env);
    f.send({ flags: 'P.', payload: 'ok', ack: u32(s + 1 - 65535) });
    await env.peer.wait(500);
    expect(readAll(env, fd)).toBe('ok');
    expect(ctr(env, 'TcpExtTCPChallengeACK')).toBe(0);
  });

  it('linux-6.13: the bound is min(max_window, bytes_acked) ("tcp: do not accept ACK of bytes we never sent", 6.7): with nothing sent, SND.UNA - 1 is already too old', async () => {
    const env = make('linux-6.13');
    const { fd, f, s } = await accepted(env);
    f.send({ flags: 'P.', payload: 'evil', ack: u32(s) });
    await f.expect({ flags: '.', seq: u32(s + 1), ack: 1001 });
    expect(readAll(env, fd)).toBe('EAGAIN');
  });

  for (const p of ['freebsd-12.1', '4.3bsd'] as const) {
    it(`${p}: no lower bound (tcp_input has no RFC 5961 §5): the data is delivered`, async () => {
      const env = make(p);
      const { fd, f, s } = await accepted(env);
      f.send({ flags: 'P.', payload: 'data', ack: u32(s + 1 - 65536) });
      await env.peer.wait(500);
      expect(readAll(env, fd)).toBe('data');
    });
  }
});

describe('an old ACK (SND.UNA - MAX.SND.WND <= SEG.ACK < SND.UNA) outside ESTABLISHED', () => {
  for (const p of ['linux-5.4', 'linux-6.13', 'freebsd-12.1'] as const) {
    const drops = p === 'linux-5.4';
    it(`${p}: FIN-WAIT-1, data with an old ACK ⇒ ${drops ? 'challenge ACK, data dropped (tcp_rcv_state_process: tcp_ack() == 0 is not acceptable)' : 'data taken ("net: tcp: accept old ack during closing", 6.9; BSD: a duplicate ACK is no reason to drop)'}`, async () => {
      const env = make(p);
      const { fd, f, s } = await accepted(env);
      env.bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_NODELAY', 1);
      env.bsd.send(fd, new TextEncoder().encode('abc'));
      await f.expect({ flags: 'P.', seq: u32(s + 1), len: 3 });
      f.send({ flags: '.', ack: u32(s + 4) });
      env.bsd.shutdown(fd, 'SHUT_WR');
      await f.expect({ flags: 'F.', seq: u32(s + 4), ack: 1001 });
      f.send({ flags: 'P.', payload: 'x', ack: u32(s + 1) });
      if (drops) {
        await f.expect({ flags: '.', seq: u32(s + 5), ack: 1001 });
        expect(ctr(env, 'TcpExtTCPChallengeACK')).toBe(1);
      } else {
        await f.expect({ flags: '.', seq: u32(s + 5), ack: 1002 }, { within: 500 });
        expect(readAll(env, fd)).toBe('x');
      }
    });
  }
});

describe('RFC 5961 §5.2 / RFC 9293 §3.10.7.4: data whose ACK is above SND.NXT', () => {
  it('linux-5.4 and linux-6.13: dropped silently in ESTABLISHED (tcp_ack returns -1 to tcp_rcv_established)', async () => {
    for (const p of ['linux-5.4', 'linux-6.13'] as const) {
      const env = make(p);
      const { fd, f, s } = await accepted(env);
      f.send({ flags: 'P.', payload: 'evil', ack: u32(s + 100) });
      await env.peer.expectNothing(1000);
      expect(readAll(env, fd), p).toBe('EAGAIN');
    }
  });

  it('linux-6.18: dropped with a challenge ACK ("tcp: send a challenge ACK on SEG.ACK > SND.NXT", 6.18.38+)', async () => {
    const env = make('linux-6.18');
    const { fd, f, s } = await accepted(env);
    f.send({ flags: 'P.', payload: 'evil', ack: u32(s + 100) });
    await f.expect({ flags: '.', seq: u32(s + 1), ack: 1001 });
    expect(readAll(env, fd)).toBe('EAGAIN');
    expect(ctr(env, 'TcpExtTCPChallengeACK')).toBe(1);
  });

  it('linux-5.4: in CLOSE-WAIT the same segment draws a challenge ACK (tcp_rcv_state_process step 5)', async () => {
    const env = make('linux-5.4');
    const { f, s } = await accepted(env);
    f.send({ flags: 'F.' });
    await f.expect({ flags: '.', ack: 1002 });
    f.send({ flags: '.', seq: 1002, ack: u32(s + 100) });
    await f.expect({ flags: '.', seq: u32(s + 1), ack: 1002 });
    expect(ctr(env, 'TcpExtTCPChallengeACK')).toBe(1);
  });

  for (const p of ['freebsd-12.1', '4.3bsd'] as const) {
    it(`${p}: dropafterack: an ACK <SEQ=SND.NXT><ACK=RCV.NXT>, the data is not delivered (tcps_rcvacktoomuch)`, async () => {
      const env = make(p);
      const { fd, f, s } = await accepted(env);
      f.send({ flags: 'P.', payload: 'evil', ack: u32(s + 100) });
      await f.expect({ flags: '.', seq: u32(s + 1), ack: 1001 });
      expect(readAll(env, fd)).toBe('EAGAIN');
      expect(ctr(env, 'TcpRcvAckTooMuch')).toBe(1);
    });
  }
});

describe('RFC 5961 §7: challenge-ACK rate limits', () => {
  it('linux-5.4: one challenge ACK per connection per tcp_invalid_ratelimit (500 ms); the rest counted TCPACKSkippedChallenge', async () => {
    const env = make('linux-5.4');
    const { f, s } = await accepted(env);
    for (let i = 0; i < 3; i++) f.send({ flags: 'S', seq: 1001 + i * 100 });
    await f.expect({ flags: '.', seq: u32(s + 1), ack: 1001 });
    await env.peer.expectNothing(499);
    expect(ctr(env, 'TcpExtTCPChallengeACK')).toBe(1);
    expect(ctr(env, 'TcpExtTCPACKSkippedChallenge')).toBe(2);
    expect(ctr(env, 'TcpExtTCPSYNChallenge')).toBe(3);
    await env.peer.wait(1);
    f.send({ flags: 'S', seq: 1001 });
    await f.expect({ flags: '.', seq: u32(s + 1), ack: 1001 });
  });

  it('freebsd-12.1: no limit (tcp_respond; the ACK-war limit came with FreeBSD 13.1)', async () => {
    const env = make('freebsd-12.1');
    const { f, s } = await accepted(env);
    for (let i = 0; i < 5; i++) f.send({ flags: 'R', seq: 1002 + i });
    for (let i = 0; i < 5; i++) await f.expect({ flags: '.', seq: u32(s + 1), ack: 1001 });
    expect(ctr(env, 'TcpExtTCPChallengeACK')).toBe(5);
  });

  it('linux-5.4: tcp_challenge_ack_limit caps challenge ACKs per second across connections at limit/2 .. 3*limit/2 - 1', async () => {
    const env = make('linux-5.4', { 'net.ipv4.tcp_invalid_ratelimit': 0, 'net.ipv4.tcp_challenge_ack_limit': 4 });
    const { f } = await accepted(env);
    await env.peer.wait(1000 - (env.clock.now() % 1000));   // the start of a second
    for (let i = 0; i < 20; i++) f.send({ flags: 'R', seq: 1002 + i });
    const got = (await env.peer.drain()).length;
    expect(got).toBeGreaterThanOrEqual(2);
    expect(got).toBeLessThanOrEqual(5);
    // the next second has a new budget
    await env.peer.wait(1000);
    for (let i = 0; i < 20; i++) f.send({ flags: 'R', seq: 1002 + i });
    expect((await env.peer.drain()).length).toBeGreaterThanOrEqual(2);
  });

  it('linux-6.13: tcp_challenge_ack_limit is INT_MAX (6.0): only the per-connection limit applies', async () => {
    const env = make('linux-6.13', { 'net.ipv4.tcp_invalid_ratelimit': 0 });
    expect(env.stack.sysctl.get('net.ipv4.tcp_challenge_ack_limit')).toBe(2147483647);
    const { f } = await accepted(env);
    for (let i = 0; i < 50; i++) f.send({ flags: 'R', seq: 1002 + i });
    expect((await env.peer.drain()).length).toBe(50);
  });

  it('linux-5.4: duplicate ACKs for out-of-window segments are limited too (TCPACKSkippedSeq), but never for data', async () => {
    const env = make('linux-5.4');
    const { f, s } = await accepted(env);
    f.send({ flags: '.', seq: 1001 + 1_000_000 });
    f.send({ flags: '.', seq: 1001 + 1_000_000 });
    await f.expect({ flags: '.', seq: u32(s + 1), ack: 1001 });
    await env.peer.expectNothing(10);
    expect(ctr(env, 'TcpExtTCPACKSkippedSeq')).toBe(1);
    f.send({ flags: 'P.', seq: 1001 + 1_000_000, payload: 'x' });
    f.send({ flags: 'P.', seq: 1001 + 1_000_000, payload: 'x' });
    await f.expect({ flags: '.', ack: 1001 });
    await f.expect({ flags: '.', ack: 1001 });
  });
});

describe('net.ipv4.tcp_challenge_ack_limit', () => {
  it('defaults per version, validated as proc_dointvec with negatives refused; unknown outside Linux', () => {
    expect(make('linux-4.14').stack.sysctl.get('net.ipv4.tcp_challenge_ack_limit')).toBe(1000);
    expect(make('linux-5.4').stack.sysctl.get('net.ipv4.tcp_challenge_ack_limit')).toBe(1000);
    expect(make('linux-6.18').stack.sysctl.get('net.ipv4.tcp_challenge_ack_limit')).toBe(2147483647);
    const env = make('linux-5.4');
    env.stack.sysctl.set('net.ipv4.tcp_challenge_ack_limit', 0);
    expect(env.stack.sysctl.get('net.ipv4.tcp_challenge_ack_limit')).toBe(0);
    expect(() => env.stack.sysctl.set('net.ipv4.tcp_challenge_ack_limit', -1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => make('freebsd-12.1').stack.sysctl.get('net.ipv4.tcp_challenge_ack_limit')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('linux-5.4 with the limit 0: no challenge ACK at all, the RST still ignored', async () => {
    const env = make('linux-5.4', { 'net.ipv4.tcp_challenge_ack_limit': 0 });
    const { fd, f } = await accepted(env);
    f.send({ flags: 'R', seq: 1500 });
    await env.peer.expectNothing(10);
    expect(ctr(env, 'TcpExtTCPChallengeACK')).toBe(0);
    expect(readAll(env, fd)).toBe('EAGAIN');
  });
});

describe('RFC 5961 §4: a SYN in a synchronized state', () => {
  it('freebsd-12.1: challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT>, tcps_badsyn, the connection stays (tcp_input "RFC 5961 Section 4.2")', async () => {
    const env = make('freebsd-12.1');
    const { fd, f, s } = await accepted(env);
    f.send({ flags: 'S', seq: 1001 + 10 });
    await f.expect({ flags: '.', seq: u32(s + 1), ack: 1001 });
    expect(ctr(env, 'TcpRcvBadSyn')).toBe(1);
    f.send({ flags: 'P.', seq: 1001, ack: u32(s + 1), payload: 'ok' });
    await env.peer.wait(300);
    expect(readAll(env, fd)).toBe('ok');
  });

  it('linux-5.4: challenge ACK, TCPSYNChallenge, the connection stays', async () => {
    const env = make('linux-5.4');
    const { fd, f, s } = await accepted(env);
    f.send({ flags: 'S', seq: 1001 + 10 });
    await f.expect({ flags: '.', seq: u32(s + 1), ack: 1001 });
    expect(ctr(env, 'TcpExtTCPSYNChallenge')).toBe(1);
    f.send({ flags: 'P.', seq: 1001, ack: u32(s + 1), payload: 'ok' });
    await env.peer.wait(300);
    expect(readAll(env, fd)).toBe('ok');
  });
});
