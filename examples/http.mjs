// Node's own http server and client on two wtcp stacks joined in memory: no kernel socket anywhere.
// Run with `node examples/http.mjs` after `npm install` (which builds dist/).
import http from 'node:http';
import { Stack, MemoryLink } from 'wtcp';
import 'wtcp/net';                          // installs stack.net (Node's net API on a stack)
import { StackAgent } from 'wtcp/http';     // an http.Agent whose connections are the stack's

const [serverEnd, clientEnd] = MemoryLink.pair();
const server = new Stack({ link: serverEnd, interfaces: [{ ip: '198.18.0.2/24' }] });
const client = new Stack({ link: clientEnd, interfaces: [{ ip: '198.18.0.1/24' }] });

// the server: Node's http.Server fed with the stack's connections
const httpServer = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`hello from wtcp, you asked for ${req.url}\n`);
});
const listener = server.net.createServer((socket) => httpServer.emit('connection', socket));
await new Promise((resolve) => listener.listen({ port: 80, host: '198.18.0.2' }, resolve));

// the client: http.request through the stack (never the `agent` option set to false: that opens a kernel connection)
const agent = new StackAgent(client, { keepAlive: true });
const res = await new Promise((resolve, reject) => {
  http.request({ host: '198.18.0.2', port: 80, path: '/index.html', agent }, resolve).on('error', reject).end();
});
let body = '';
for await (const chunk of res) body += chunk;
console.log(`HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage}`);
process.stdout.write(body);

agent.destroy();
listener.close();
server.close();
client.close();
