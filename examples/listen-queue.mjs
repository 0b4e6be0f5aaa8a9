// A Linux 5.4 stack and a scripted client joined in memory, on a virtual clock: listen(fd, 1),
// three handshakes, no accept() — the third client's SYN is dropped, as Linux drops it.
// Run: node examples/listen-queue.mjs (after npm install)
import { Stack, VirtualClock, MemoryLink, Peer } from '../dist/index.js';

const clock = new VirtualClock();
const [serverEnd, clientEnd] = MemoryLink.pair();
const stack = new Stack({ personality: 'linux-5.4', clock, link: serverEnd, interfaces: [{ ip: '198.18.0.2/24' }] });

const fd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
stack.bsd.bind(fd, { address: '0.0.0.0', port: 80 });
stack.bsd.listen(fd, 1);

const client = new Peer({ link: clientEnd, clock, ip: '198.18.0.99', stackIp: '198.18.0.2' });
for (let i = 0; i < 3; i++) {
  const flow = client.flow({ sport: 40000 + i, dport: 80, isn: 1000 });
  flow.send({ flags: 'S' });
  await clock.advanceAsync(10);
  const [synAck] = await client.drain();
  if (synAck) flow.send({ flags: '.', seq: 1001, ack: (synAck.seq + 1) >>> 0 });
  await clock.advanceAsync(10);
  console.log(`client ${i + 1}: ${synAck ? synAck.text : 'no SYN-ACK (dropped: accept queue full)'}`);
}
console.log(stack.formatSs());
console.log('ListenOverflows', stack.counters().TcpExtListenOverflows);
const conn = stack.bsd.accept(fd);
console.log('accept() ->', conn);
stack.close();
client.close();
