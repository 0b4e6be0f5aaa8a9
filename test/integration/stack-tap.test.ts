/**
 * The stack on a real wire: a TAP device moved into a network namespace this test creates, the
 * host kernel on the other side as the peer. `ping` gets echo replies (ICMP), and kernel TCP
 * clients connect to a listener on the stack: a connection with data is accepted and read, and a
 * listener that never accepts keeps exactly backlog+1 (linux-6.13) while the rest time out.
 *
 * Network safety: only 198.18.21.0/24, inside a namespace created and deleted here.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Stack } from '../../src/stack.js';
import { TapLink } from '../../src/links/tap.js';
import {
  checkPrerequisites, createNs, deleteNs, ipNetnsExec, nextId, nsName, tapName, PYTHON,
} from '../kernel/netns.js';

const HOST = '198.18.21.1';
const STACK = '198.18.21.2';
let ns = '';
let link: TapLink | undefined;
let stack: Stack | undefined;

beforeAll(async () => {
  const problems = await checkPrerequisites();
  if (problems.length) throw new Error(`stack-over-TAP test cannot run: ${problems.join('; ')}`);
  const id = nextId();
  ns = nsName('tap', id);
  await createNs(ns);
  link = await TapLink.open({ name: tapName(id), netns: ns, hostAddress: `${HOST}/24` });
  stack = new Stack({ personality: 'linux-6.13', interfaces: [{ ip: `${STACK}/24` }], link });
}, 60_000);

afterAll(async () => {
  stack?.close();
  link?.close();
  if (ns) await deleteNs(ns);
});

/** A kernel TCP client in the namespace: connect, optionally send, report what happened, as JSON. */
function kernelClient(port: number, payload: string, timeoutS: number): Promise<string> {
  const script = [
    'import socket, json, sys',
    's = socket.socket()',
    `s.settimeout(${timeoutS})`,
    'try:',
    `    s.connect(('${STACK}', ${port}))`,
    `    s.sendall(${JSON.stringify(payload)}.encode())`,
    '    print(json.dumps({"outcome": "connected"}))',
    'except socket.timeout:',
    '    print(json.dumps({"outcome": "timeout"}))',
    'except OSError as e:',
    '    print(json.dumps({"outcome": "error", "errno": e.errno}))',
  ].join('\n');
  return ipNetnsExec(ns, [PYTHON, '-c', script], (timeoutS + 5) * 1000);
}

describe('the stack on a TAP device, the kernel as its peer', () => {
  it('answers ping (ARP, then ICMP echo replies)', async () => {
    const out = await ipNetnsExec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', STACK], 15_000);
    expect(out).toMatch(/3 packets transmitted, 3 received/);
    expect(stack!.counters().IcmpOutEchoReps).toBeGreaterThanOrEqual(3);
    // the TAP link read the frames straight into the core's memory, as input records, in batches
    expect(stack!.zeroCopyFrames).toBeGreaterThanOrEqual(4); // ARP request + 3 echo requests
    expect(stack!.zeroCopyFrames).toBe(stack!.counters().WtcpInFrames);
    expect(stack!.rxDropped).toBe(0);
  });

  it('accepts a kernel TCP connection and reads its data', async () => {
    const bsd = stack!.bsd;
    const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.bind(fd, { address: '0.0.0.0', port: 8080 });
    bsd.listen(fd, 16);
    const client = kernelClient(8080, 'hello from the kernel', 5);
    const conn = await bsd.acceptAsync(fd);
    expect(conn.address).toBe(HOST);
    let got = '';
    while (!got.includes('kernel')) got += Buffer.from(await bsd.recvAsync(conn.fd, 1000)).toString();
    expect(got).toBe('hello from the kernel');
    expect(JSON.parse(await client)).toEqual({ outcome: 'connected' });
    bsd.close(conn.fd);
    bsd.close(fd);
  });

  it('a listener that never accepts keeps backlog+1 kernel clients; the rest get no SYN-ACK', async () => {
    const bsd = stack!.bsd;
    const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.bind(fd, { address: '0.0.0.0', port: 8081 });
    bsd.listen(fd, 2);
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) outcomes.push(JSON.parse(await kernelClient(8081, '', 2)).outcome);
    expect(outcomes).toEqual(['connected', 'connected', 'connected', 'timeout', 'timeout']);
    const l = stack!.listeners().find((x) => x.port === 8081)!;
    expect(l.acceptQueue).toBe(3);
    expect(stack!.counters().TcpExtListenOverflows).toBeGreaterThanOrEqual(2);
    bsd.close(fd);
  }, 30_000);
});
