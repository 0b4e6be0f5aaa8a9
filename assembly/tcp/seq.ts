// Wrap-safe sequence-number comparisons (RFC 9293 §3.4). No raw `<` on sequence numbers elsewhere.
@inline export function seqLt(a: u32, b: u32): bool { return <i32>(a - b) < 0; }
@inline export function seqLe(a: u32, b: u32): bool { return <i32>(a - b) <= 0; }
@inline export function seqGt(a: u32, b: u32): bool { return <i32>(a - b) > 0; }
@inline export function seqGe(a: u32, b: u32): bool { return <i32>(a - b) >= 0; }
/** lo <= x < hi, modulo 2^32 */
@inline export function seqInRange(x: u32, lo: u32, hi: u32): bool { return x - lo < hi - lo; }
/** time comparisons use the same arithmetic: is deadline `d` due at `now`? */
@inline export function timeDue(d: u32, now: u32): bool { return <i32>(d - now) <= 0; }
