// The FreeBSD 12.1 personality: syncache, syncookies, accept filters (listen-behaviour.md §3).
// Placeholder: segments to a FreeBSD listener are answered as by a closed port until this lands.
import { noSocket } from './input';
import { synqRelease } from './passive';
export function fbsdListenerInput(l: i32, e: i32): void { noSocket(); }
export function fbsdEmbryoTimer(e: i32): void { synqRelease(e); }
export function fbsdListenerClose(l: i32): void {}
