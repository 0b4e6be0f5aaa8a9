// Linux personality, the end of things: closing a listener (inet_csk_listen_stop, spec 2.12) and
// queued connections that die before accept() (spec 2.12 last paragraph, S47-era setup).
import { describe, it, expect } from 'vitest';
import {
  LINUX_PRESETS, setup, flow, syn, handshake, ackOf, tryAccept, listener, ctr, delta, until, u32,
} from '../helpers/linux-conformance.js';
import type { ReceivedSegment, TcpFlow } from '../../src/testing/peer.js';

describe('spec 2.12: closing a listener resets every queued child with RST|ACK; requests in SYN-RECV are left to their timer, and their ACK then finds no socket', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: two queued ⇒ [R.] seq=s+1 ack=c+1 each (oldest first); the half-open one gets no SYN-ACK at 1 s; its ACK at 2 s ⇒ [R] seq=s+1; a new SYN ⇒ [R.] seq=0 ack=c+1`, async () => {
      const env = await setup(preset);
      const q1 = flow(env, 100);
      const q2 = flow(env, 200);
      const sa1 = await handshake(q1);
      const sa2 = await handshake(q2);
      const e = flow(env, 300);
      const saE = await syn(e);
      await until(env, 500);
      expect(listener(env)).toMatchObject({ acceptQueue: 2, synQueue: 1 });
      const before = ctr(env);
      env.stack.bsd.close(env.fd);
      await q1.expect({ flags: 'R.', seq: u32(sa1.seq + 1), ack: 101 });
      await q2.expect({ flags: 'R.', seq: u32(sa2.seq + 1), ack: 201 });
      expect(delta(env, before, ['TcpOutRsts', 'TcpEstabResets'])).toMatchObject({ TcpOutRsts: 2 });
      expect(env.stack.listeners()).toEqual([]);
      await env.peer.expectNothing(1500);   // E's timer fires at 1 s: dropped, not retransmitted
      ackOf(e);
      await e.expect({ flags: 'R', seq: u32(saE.seq + 1), win: 0 });
      const late = flow(env, 400);
      late.send({ flags: 'S', options: { mss: 1460 } });
      await late.expect({ flags: 'R.', seq: 0, ack: 401 });
      // the RSTed children's ACKs find nothing either
      ackOf(q1);
      await q1.expect({ flags: 'R', seq: u32(sa1.seq + 1) });
    });

    it(`${preset}: a request's ACK that arrives before its timer fired (200 ms after the close) ⇒ [R] seq=s+1`, async () => {
      const env = await setup(preset);
      const e = flow(env, 300);
      const saE = await syn(e);
      env.stack.bsd.close(env.fd);
      await until(env, 200);
      ackOf(e);
      await e.expect({ flags: 'R', seq: u32(saE.seq + 1) });
      await env.peer.expectNothing(3000);
    });

    it(`${preset}: a listener on the same port opened again after the close starts empty; the old request's ACK gets [R] from it (no request, no cookie)`, async () => {
      const env = await setup(preset);
      const e = flow(env, 300);
      const saE = await syn(e);
      env.stack.bsd.close(env.fd);
      const fd = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
      env.stack.bsd.bind(fd, { address: '0.0.0.0', port: 8080 });
      env.stack.bsd.listen(fd, 5);
      expect(listener(env, fd)).toMatchObject({ acceptQueue: 0, synQueue: 0 });
      ackOf(e);
      await e.expect({ flags: 'R', seq: u32(saE.seq + 1) });
      expect(tryAccept(env, fd)).toBe('EAGAIN');
    });
  }
});

describe('spec 2.12: "A queued child reset by the client stays in the accept queue and counts against the backlog; accept() returns it, first read gives ECONNRESET"', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: backlog 1, two queued, the first resets: the queue still holds 2 (a new SYN is an overflow); accept() returns the dead one, recv ⇒ ECONNRESET, then end of stream`, async () => {
      const env = await setup(preset, { backlog: 1 });
      const dead = flow(env, 100);
      const alive = flow(env, 200);
      await handshake(dead);
      await handshake(alive);
      dead.send({ flags: 'R', seq: 101 });
      await env.peer.expectNothing(10);
      expect(listener(env).acceptQueue).toBe(2);
      const f = flow(env, 300);
      f.send({ flags: 'S', options: { mss: 1460 } });
      await env.peer.expectNothing(500);
      expect(ctr(env).TcpExtListenOverflows).toBe(1);
      const a = tryAccept(env) as { fd: number; port: number };
      expect(a.port).toBe(dead.sport);
      expect(() => env.stack.bsd.recv(a.fd, 100)).toThrow(expect.objectContaining({ code: 'ECONNRESET' }));
      expect(env.stack.bsd.recv(a.fd, 100).length).toBe(0);
      expect((tryAccept(env) as { port: number }).port).toBe(alive.sport);
    });

    it(`${preset}: a queued child that received the client's FIN stays queued; accept() returns it and recv gives end of stream`, async () => {
      const env = await setup(preset);
      const f: TcpFlow = flow(env, 100);
      const sa: ReceivedSegment = await handshake(f);
      f.send({ flags: 'F.' });
      await f.expect({ flags: '.', seq: u32(sa.seq + 1), ack: 102 });
      expect(listener(env).acceptQueue).toBe(1);
      const a = tryAccept(env) as { fd: number };
      expect(env.stack.bsd.recv(a.fd, 100).length).toBe(0);
    });
  }
});
