// TCP's tables, created once at init: listeners, the SYN queue, connections.
import { listenersInit } from './listener';
import { synInit, synBucketCount } from './synq';
import { connInit } from './conn';
import { fbsdInit } from './freebsd';
import { bsdInit } from './bsd43';

export function tcpInit(maxListeners: i32, maxSyn: i32, maxConn: i32, synBuckets: i32, rxChunks: i32): void {
  listenersInit(maxListeners);
  synInit(maxSyn, synBuckets);
  fbsdInit(synBuckets > 0 ? synBucketCount() : 0);   // FreeBSD: sch_last_overflow per syncache bucket
  connInit(maxConn, rxChunks);
  bsdInit(maxListeners, maxSyn);   // 4.3BSD: 8 embryo slots per listener, SYN-data pool
}
