// The 4.3BSD personality (listen-behaviour.md §4 and §9).
// Placeholder: segments to a 4.3BSD listener are answered as by a closed port until this lands.
import { noSocket } from './input';
import { synqRelease } from './passive';
export function bsdListenerInput(l: i32): void { noSocket(); }
export function bsdEmbryoInput(e: i32): void { noSocket(); }
export function bsdEmbryoTimer(e: i32): void { synqRelease(e); }
export function bsdListenerClose(l: i32): void {}
