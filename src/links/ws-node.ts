/**
 * `wtcp/ws`: WebSocketLink in Node, over the `ws` package (Node 20 has no global WebSocket).
 * permessage-deflate is turned off: Ethernet frames of compressed or encrypted traffic gain
 * nothing from it and it costs a copy and a zlib call per frame.
 */
import WS from 'ws';
import { WebSocketLink, type WebSocketConstructor, type WebSocketLinkOptions } from './websocket.js';

export { WebSocketLink } from './websocket.js';
export type { WebSocketLinkOptions, WebSocketLinkState, WebSocketLinkStats, WebSocketFraming, ReconnectOptions } from './websocket.js';

/** `ws`'s WebSocket with permessage-deflate off, in the shape WebSocketLink takes. */
export const NodeWebSocket: WebSocketConstructor = class extends WS {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, { perMessageDeflate: false });
  }
} as unknown as WebSocketConstructor;

/** A WebSocketLink over `ws`, resolved once the first connection is open. */
export function connectWebSocketLink(opts: Omit<WebSocketLinkOptions, 'WebSocket'> & { timeoutMs?: number }): Promise<WebSocketLink> {
  return WebSocketLink.connect({ ...opts, WebSocket: NodeWebSocket });
}

/** A WebSocketLink over `ws` that starts connecting now (frames sent before it opens are dropped and counted). */
export function createWebSocketLink(opts: Omit<WebSocketLinkOptions, 'WebSocket'>): WebSocketLink {
  return new WebSocketLink({ ...opts, WebSocket: NodeWebSocket });
}
