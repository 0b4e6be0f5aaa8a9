/**
 * Node's `http` client on a Stack: an `http.Agent` whose connections are the stack's sockets.
 *
 *   const agent = new StackAgent(stack, { keepAlive: true });
 *   http.request({ host: '198.18.0.2', port: 80, path: '/', agent }, (res) => ...);
 *
 * Node honours a custom createConnection only through an Agent (or with `agent` undefined): NEVER
 * turn the agent off (the `agent` option set to false): Node then ignores createConnection and opens a real kernel connection.
 * A separate entry point (`wtcp/http`) because it imports `node:http`; the server side needs
 * nothing from here: `httpServer.emit('connection', socket)` for each socket of a `wtcp/net` Server.
 */

import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Stack } from './stack.js';
import { netFor } from './net.js';
import type { ConnectOptions } from './net.js';

export class StackAgent extends http.Agent {
  readonly stack: Stack;

  constructor(stack: Stack, opts: http.AgentOptions = {}) {
    super(opts);
    this.stack = stack;
  }

  override createConnection(options: http.ClientRequestArgs, cb?: (err: Error | null, socket: Duplex) => void): Duplex {
    const o: ConnectOptions = {
      port: options.port ?? options.defaultPort ?? 80,
      host: options.host ?? options.hostname ?? undefined,
      localAddress: options.localAddress,
      localPort: (options as { localPort?: number }).localPort,
      timeout: options.timeout,
    };
    if (o.host === undefined || o.host === null) delete o.host;
    // the Agent passes cb, but also takes the returned socket at once (Agent.createSocket)
    void cb;
    return netFor(this.stack).connect(o);
  }
}
