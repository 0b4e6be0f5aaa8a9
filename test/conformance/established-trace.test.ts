// Active open and the data path, segment by segment against the scripted peer: the SYN each
// personality sends, the handshake's last ACK, SYN-SENT's answers to bad segments (RFC 9293
// §3.10.7.3), data segments, retransmission back-off (RFC 6298 §5.5) and the FIN after data.
import { describe, it, expect } from 'vitest';
import { Stack } from '../../src/stack.js';
import { MemoryLink } from '../../src/links/memory.js';
import { VirtualClock } from '../../src/clock.js';
import { Peer } from '../../src/testing/peer.js';
import { SocketError } from '../../src/bsd.js';

const STACK_IP = '198.18.0.2';
const PEER_IP = '198.18.0.99';
const u32 = (n: number) => n >>> 0;

function make(personality: 'linux-5.4' | 'freebsd-12.1' | '4.3bsd') {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const stack = new Stack({ personality, clock, link: a, interfaces: [{ ip: `${STACK_IP}/24` }], seed: 5 });
  const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP });
  return { stack, bsd: stack.bsd, peer, clock };
}

/** connect() from the stack to the peer's port 80; returns the fd, the flow and the SYN. */
async function startConnect(env: ReturnType<typeof make>, isn = 5000) {
  const fd = env.bsd.socket('AF_INET', 'SOCK_STREAM');
  const done = env.bsd.connectAsync(fd, { address: PEER_IP, port: 80 }).then(() => 'OK', (e: SocketError) => e.code);
  const lport = env.bsd.getsockname(fd).port;
  const f = env.peer.flow({ sport: 80, dport: lport, isn });
  const synSeg = await f.expect({ flags: 'S', ack: 0 }, { within: 50 });
  return { fd, done, f, syn: synSeg, lport };
}

describe('the SYN of an active open', () => {
  it('linux: MSS 1460, SACK-perm, TS (TSecr 0), NOP + WS, window 64240 (44 x 1460), in that byte order', async () => {
    const env = make('linux-5.4');
    const { syn } = await startConnect(env);
    expect(syn.win).toBe(64240);
    expect(syn.options.mss).toBe(1460);
    expect(syn.options.sackOk).toBe(true);
    expect(syn.options.ts?.[1]).toBe(0);
    expect(syn.options.wscale).toBeGreaterThanOrEqual(0);
    const o = [...syn.rawOptions];
    expect(o.slice(0, 8)).toEqual([2, 4, 0x05, 0xb4, 4, 2, 8, 10]);
    expect(o.slice(16, 19)).toEqual([1, 3, 3]);
    expect(o.length).toBe(20);
  });

  it('freebsd: MSS, NOP + WS, SACK-perm, TS: FreeBSD tcp_addoptions order', async () => {
    const env = make('freebsd-12.1');
    const { syn } = await startConnect(env);
    const o = [...syn.rawOptions];
    expect(o.slice(0, 4)).toEqual([2, 4, 0x05, 0xb4]);
    expect(o.slice(4, 7)).toEqual([1, 3, 3]);
    expect(o.slice(8, 12)).toEqual([4, 2, 8, 10]);
    expect(o.length).toBe(20);
  });

  it('4.3bsd: the MSS option only', async () => {
    const env = make('4.3bsd');
    const { syn } = await startConnect(env);
    expect(syn.options).toEqual({ mss: 1460 });
  });
});

describe('SYN-SENT (RFC 9293 §3.10.7.3)', () => {
  it('SYN-ACK completes the handshake: <SEQ=ISS+1><ACK=IRS+1><ACK> and connect resolves', async () => {
    const env = make('linux-5.4');
    const { f, syn, done } = await startConnect(env);
    f.send({ flags: 'S.', options: { mss: 1460, sackOk: true, ts: [777, syn.options.ts?.[0] ?? 0], wscale: 7 } });
    const ack = await f.expect({ flags: '.', seq: u32(syn.seq + 1), ack: 5001 });
    expect(ack.options.ts?.[1]).toBe(777);
    expect(await done).toBe('OK');
    expect(env.stack.core.counter('TcpActiveOpens')).toBe(1);
  });

  it('an ACK outside (ISS, SND.NXT] gets <SEQ=SEG.ACK><RST>; the attempt goes on', async () => {
    const env = make('linux-5.4');
    const { f, syn, done } = await startConnect(env);
    f.send({ flags: 'S.', seq: 5000, ack: u32(syn.seq + 7) });
    await f.expect({ flags: 'R', seq: u32(syn.seq + 7) });
    f.send({ flags: 'S.', seq: 5000, ack: u32(syn.seq + 1) });
    await f.expect({ flags: '.', ack: 5001 });
    expect(await done).toBe('OK');
  });

  it('a RST with an unacceptable ACK is ignored; with an acceptable ACK: ECONNREFUSED', async () => {
    const env = make('linux-5.4');
    const { f, syn, done } = await startConnect(env);
    f.send({ flags: 'R.', seq: 0, ack: u32(syn.seq + 9) });
    await env.peer.expectNothing(100);
    f.send({ flags: 'R.', seq: 0, ack: u32(syn.seq + 1) });
    expect(await done).toBe('ECONNREFUSED');
    await env.peer.expectNothing(5000); // no SYN retransmission afterwards
  });

  it('a bare SYN (simultaneous open) gets <SEQ=ISS><ACK=RCV.NXT><SYN,ACK>; the ACK of it establishes', async () => {
    const env = make('linux-5.4');
    const { f, syn, done } = await startConnect(env);
    f.send({ flags: 'S', options: { mss: 1400 } });
    await f.expect({ flags: 'S.', seq: syn.seq, ack: 5001 });
    f.send({ flags: '.' });
    expect(await done).toBe('OK');
  });
});

describe('data and retransmission', () => {
  async function established(env: ReturnType<typeof make>) {
    const r = await startConnect(env);
    r.f.send({ flags: 'S.', options: { mss: 1000 } }); // no timestamps: RTT is timed on a segment
    await r.f.expect({ flags: '.' });
    expect(await r.done).toBe('OK');
    return r;
  }

  it('segments are cut at the peer\'s MSS; the last one carries PSH', async () => {
    const env = make('linux-5.4');
    const { fd, f } = await established(env);
    env.bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_NODELAY', 1);
    expect(env.bsd.send(fd, new Uint8Array(2500).fill(7))).toBe(2500);
    await f.expect({ flags: '.', len: 1000 });
    await f.expect({ flags: '.', len: 1000 });
    await f.expect({ flags: 'P.', len: 500 });
  });

  it('unacknowledged data is retransmitted after the RTO, doubling (200 ms floor on Linux), counted', async () => {
    const env = make('linux-5.4');
    const { fd, f } = await established(env);
    env.bsd.send(fd, Uint8Array.of(1, 2, 3, 4, 5));
    const first = await f.expect({ flags: 'P.', len: 5 });
    const t0 = first.time;
    const r1 = await f.expect({ flags: 'P.', seq: first.seq, len: 5 }, { within: 1000 });
    const r2 = await f.expect({ flags: 'P.', seq: first.seq, len: 5 }, { within: 2000 });
    const r3 = await f.expect({ flags: 'P.', seq: first.seq, len: 5 }, { within: 4000 });
    expect([r1.time - t0, r2.time - r1.time, r3.time - r2.time]).toEqual([200, 400, 800]);
    expect(env.stack.core.counter('TcpRetransSegs')).toBe(3);
    // the ACK stops it
    f.send({ flags: '.', ack: u32(first.seq + 5) });
    await env.peer.expectNothing(10_000);
  });

  it('Nagle: a second small write waits for the ACK of the first, then goes out', async () => {
    const env = make('linux-5.4');
    const { fd, f } = await established(env);
    env.bsd.send(fd, Uint8Array.of(1));
    const s1 = await f.expect({ flags: 'P.', len: 1 });
    env.bsd.send(fd, Uint8Array.of(2));
    await env.peer.expectNothing(50);
    f.send({ flags: '.', ack: u32(s1.seq + 1) });
    await f.expect({ flags: 'P.', seq: u32(s1.seq + 1), len: 1 }, { within: 10 });
  });

  it('shutdown(SHUT_WR): the FIN follows the data; the peer\'s data still arrives', async () => {
    const env = make('linux-5.4');
    const { fd, f } = await established(env);
    env.bsd.send(fd, Uint8Array.of(1, 2));
    env.bsd.shutdown(fd, 'SHUT_WR');
    const d = await f.expect({ flags: 'P.', len: 2 });
    await f.expect({ flags: 'F.', seq: u32(d.seq + 2) });
    f.send({ flags: 'P.', payload: 'hi' });
    await f.expect({ flags: '.', ack: 5003 });
    expect(new TextDecoder().decode(env.bsd.recv(fd, 10))).toBe('hi');
  });

  it('linux delayed ACKs: 16 quick ACKs first, then one ACK per two full segments or after 40 ms', async () => {
    const env = make('linux-5.4');
    const { fd, f } = await established(env); // peer MSS 1000
    let seq = 5001;
    for (let i = 0; i < 16; i++) {
      f.send({ flags: 'P.', seq, payload: 'x' });
      seq += 1;
      await f.expect({ flags: '.', ack: seq });
    }
    // quick mode is over: one small segment waits for the 40-ms timer
    f.send({ flags: 'P.', seq, payload: 'y' });
    seq += 1;
    const t = env.clock.now();
    const d = await f.expect({ flags: '.', ack: seq }, { within: 100 });
    expect(d.time - t).toBe(40);
    // one full segment waits; the second makes more than one full segment unacknowledged: ACK now
    f.send({ flags: '.', seq, payload: new Uint8Array(1000) });
    seq += 1000;
    await env.peer.expectNothing(10);
    f.send({ flags: '.', seq, payload: new Uint8Array(1000) });
    seq += 1000;
    await f.expect({ flags: '.', ack: seq });
    expect(env.bsd.recv(fd, 5000).length).toBe(2017);
  });

  it('keepalive: probes <SEQ=SND.UNA-1> after TCP_KEEPIDLE, every TCP_KEEPINTVL; TCP_KEEPCNT unanswered => RST, ETIMEDOUT', async () => {
    const env = make('linux-5.4');
    const { fd, f, syn } = await established(env);
    env.bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_KEEPIDLE', 10);
    env.bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_KEEPINTVL', 2);
    env.bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_KEEPCNT', 3);
    env.bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_KEEPALIVE', 1);
    expect(env.bsd.getsockopt(fd, 'SOL_SOCKET', 'SO_KEEPALIVE')).toBe(1);
    const t0 = env.clock.now();
    const una = u32(syn.seq + 1);
    const p1 = await f.expect({ flags: '.', seq: u32(una - 1), ack: 5001, len: 0 }, { within: 11_000 });
    expect(p1.time - t0).toBe(10_000);
    // an answer restarts the idle clock
    f.send({ flags: '.', ack: una });
    const p2 = await f.expect({ flags: '.', seq: u32(una - 1) }, { within: 11_000 });
    expect(p2.time - p1.time).toBe(10_000);
    const p3 = await f.expect({ flags: '.', seq: u32(una - 1) }, { within: 3_000 });
    const p4 = await f.expect({ flags: '.', seq: u32(una - 1) }, { within: 3_000 });
    expect([p3.time - p2.time, p4.time - p3.time]).toEqual([2000, 2000]);
    const rst = await f.expect({ flags: 'R.' }, { within: 3_000 });
    expect(rst.time - p4.time).toBe(2000);
    let code = 'OK';
    try { env.bsd.recv(fd, 10); } catch (e) { code = (e as SocketError).code; }
    expect(code).toBe('ETIMEDOUT');
  });

  it('out-of-order data is held: a duplicate ACK at once, then one ACK covering both when the gap fills', async () => {
    const env = make('linux-5.4');
    const { fd, f } = await established(env);
    f.send({ flags: 'P.', seq: 5004, payload: 'def' });
    await f.expect({ flags: '.', ack: 5001 });
    let code = 'OK';
    try { env.bsd.recv(fd, 10); } catch (e) { code = (e as SocketError).code; }
    expect(code).toBe('EAGAIN');
    f.send({ flags: 'P.', seq: 5001, payload: 'abc' });
    await f.expect({ flags: '.', ack: 5007 });
    expect(new TextDecoder().decode(env.bsd.recv(fd, 10))).toBe('abcdef');
  });

  it('with SACK negotiated, ACKs describe held data: the latest arrival block first (RFC 2018 §4)', async () => {
    const env = make('linux-5.4');
    const r = await startConnect(env);
    r.f.send({ flags: 'S.', options: { mss: 1000, sackOk: true, ts: [100, r.syn.options.ts?.[0] ?? 0] } });
    await r.f.expect({ flags: '.' });
    expect(await r.done).toBe('OK');
    const f = r.f;
    f.send({ flags: 'P.', seq: 5011, payload: 'kl', options: { ts: [101, 0] } });
    await f.expect({ flags: '.', ack: 5001, options: { sack: [[5011, 5013]] } });
    f.send({ flags: 'P.', seq: 5021, payload: 'uv', options: { ts: [102, 0] } });
    await f.expect({ flags: '.', ack: 5001, options: { sack: [[5021, 5023], [5011, 5013]] } });
    f.send({ flags: 'P.', seq: 5013, payload: 'mn', options: { ts: [103, 0] } }); // joins the first range
    await f.expect({ flags: '.', ack: 5001, options: { sack: [[5011, 5015], [5021, 5023]] } });
    f.send({ flags: 'P.', seq: 5001, payload: 'abcdefghij', options: { ts: [104, 0] } });
    const full = await f.expect({ flags: '.', ack: 5015 });
    expect(full.options.sack).toEqual([[5021, 5023]]);
  });

  it('PAWS: a segment whose TSval is older than TS.Recent is dropped with a duplicate ACK (PAWSEstab)', async () => {
    const env = make('linux-5.4');
    const r = await startConnect(env);
    r.f.send({ flags: 'S.', options: { mss: 1000, ts: [1000, r.syn.options.ts?.[0] ?? 0] } });
    await r.f.expect({ flags: '.' });
    expect(await r.done).toBe('OK');
    r.f.send({ flags: 'P.', payload: 'new', options: { ts: [2000, 0] } });
    await r.f.expect({ flags: '.', ack: 5004 });
    r.f.send({ flags: 'P.', payload: 'old', options: { ts: [1500, 0] } });
    const dup = await r.f.expect({ flags: '.', ack: 5004 });
    expect(dup.options.ts?.[1]).toBe(2000);
    expect(env.stack.core.counter('TcpExtPAWSEstab')).toBe(1);
    expect(new TextDecoder().decode(env.bsd.recv(r.fd, 10))).toBe('new');
  });

  it('a partial overlap with held data is trimmed: every byte once, in order', async () => {
    const env = make('linux-5.4');
    const { fd, f } = await established(env);
    f.send({ flags: 'P.', seq: 5006, payload: 'fgh' });
    await f.expect({ flags: '.', ack: 5001 });
    f.send({ flags: 'P.', seq: 5004, payload: 'defg' });
    await f.expect({ flags: '.', ack: 5001 });
    f.send({ flags: 'P.', seq: 5001, payload: 'abc' });
    await f.expect({ flags: '.', ack: 5009 });
    expect(new TextDecoder().decode(env.bsd.recv(fd, 20))).toBe('abcdefgh');
  });

  it('a RST in ESTABLISHED at RCV.NXT resets the connection: recv ECONNRESET; out of window: dropped silently', async () => {
    const env = make('linux-5.4');
    const { fd, f } = await established(env);
    f.send({ flags: 'R', seq: 5001 + 100_000 });
    await env.peer.expectNothing(10);
    f.send({ flags: 'R', seq: 5001 + 5 }); // in window, not exact: challenge ACK (RFC 5961 §3.2)
    await f.expect({ flags: '.', ack: 5001 });
    f.send({ flags: 'R', seq: 5001 });
    await env.peer.expectNothing(10);
    let code = 'OK';
    try { env.bsd.recv(fd, 10); } catch (e) { code = (e as SocketError).code; }
    expect(code).toBe('ECONNRESET');
  });

  describe('RST in the closing states', () => {
    // Linux tcp_reset sets sk_err = EPIPE in CLOSE-WAIT ("We want the right error as BSD sees it"),
    // ECONNRESET in the other states; send() reports it (sk_stream_error)
    it('CLOSE-WAIT: an exact RST resets; send reports EPIPE (tcp_reset)', async () => {
      const env = make('linux-5.4');
      const { fd, f } = await established(env);
      f.send({ flags: 'F.' });
      await f.expect({ flags: '.', ack: 5002 });
      expect(env.bsd.recv(fd, 10).length).toBe(0);
      f.send({ flags: 'R', seq: 5002 });
      await env.peer.expectNothing(10);
      let code = 'OK';
      try { env.bsd.send(fd, Uint8Array.of(1)); } catch (e) { code = (e as SocketError).code; }
      expect(code).toBe('EPIPE');
    });

    it('LAST-ACK: a RST ends it at once (no FIN retransmission follows)', async () => {
      const env = make('linux-5.4');
      const { fd, f } = await established(env);
      f.send({ flags: 'F.' });
      await f.expect({ flags: '.', ack: 5002 });
      env.bsd.close(fd);
      await f.expect({ flags: 'F.' });
      f.send({ flags: 'R', seq: 5002 });
      await env.peer.expectNothing(10_000);
      expect(env.stack.core.x.connGet(0, 0)).toBe(-1);
    });

    it('FIN-WAIT-2: the peer\'s data still arrives; an exact RST resets', async () => {
      const env = make('linux-5.4');
      const { fd, f } = await established(env);
      env.bsd.shutdown(fd, 'SHUT_WR');
      const fin = await f.expect({ flags: 'F.' });
      f.send({ flags: '.', ack: u32(fin.seq + 1) });
      await env.peer.expectNothing(5);
      expect(env.stack.core.x.connGet(0, 0)).toBe(6); // FIN-WAIT-2
      f.send({ flags: 'P.', payload: 'ok' });
      await f.expect({ flags: '.', ack: 5003 });
      expect(new TextDecoder().decode(env.bsd.recv(fd, 10))).toBe('ok');
      f.send({ flags: 'R', seq: 5003 });
      await env.peer.expectNothing(10);
      let code = 'OK';
      try { env.bsd.recv(fd, 10); } catch (e) { code = (e as SocketError).code; }
      expect(code).toBe('ECONNRESET');
    });

    it('FIN-WAIT-2 after close(): given up silently after tcp_fin_timeout (60 s); after shutdown(SHUT_WR) it waits', async () => {
      const env = make('linux-5.4');
      const { fd, f } = await established(env);
      env.bsd.shutdown(fd, 'SHUT_WR');
      const fin = await f.expect({ flags: 'F.' });
      f.send({ flags: '.', ack: u32(fin.seq + 1) });
      await env.peer.expectNothing(120_000);
      expect(env.stack.core.x.connGet(0, 0)).toBe(6); // still FIN-WAIT-2: the host holds it
      env.bsd.close(fd);
      await env.peer.expectNothing(59_000);
      expect(env.stack.core.x.connGet(0, 0)).toBe(6);
      await env.peer.expectNothing(2_000);
      expect(env.stack.core.x.connGet(0, 0)).toBe(-1);
    });

    it('TIME-WAIT: the retransmitted FIN is acknowledged again; an exact RST ends TIME-WAIT (Linux tcp_rfc1337 = 0)', async () => {
      const env = make('linux-5.4');
      const { fd, f } = await established(env);
      env.bsd.close(fd);
      const fin = await f.expect({ flags: 'F.' });
      f.send({ flags: 'F.', ack: u32(fin.seq + 1) });
      await f.expect({ flags: '.', ack: 5002 });
      expect(env.stack.core.x.connGet(0, 0)).toBe(10); // TIME-WAIT
      f.send({ flags: 'F.', seq: 5001, ack: u32(fin.seq + 1) });
      await f.expect({ flags: '.', ack: 5002 });
      f.send({ flags: 'R', seq: 5002 });
      await env.peer.expectNothing(10);
      expect(env.stack.core.x.connGet(0, 0)).toBe(-1);
    });
  });
});
