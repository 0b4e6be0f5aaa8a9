// TCP's tables, created once at init: listeners, the SYN queue, connections.
import { listenersInit } from './listener';
import { synInit } from './synq';
import { connInit } from './conn';

export function tcpInit(maxListeners: i32, maxSyn: i32, maxConn: i32, synBuckets: i32, rxChunks: i32): void {
  listenersInit(maxListeners);
  synInit(maxSyn, synBuckets);
  connInit(maxConn, rxChunks);
}
