// Network-order loads and stores. Every wire module reads headers through these after it has
// checked the frame's length once ("check once, then read freely").
@inline export function rd16(p: usize): u32 { return <u32>bswap<u16>(load<u16>(p)); }
@inline export function rd32(p: usize): u32 { return bswap<u32>(load<u32>(p)); }
@inline export function wr16(p: usize, v: u32): void { store<u16>(p, bswap<u16>(<u16>v)); }
@inline export function wr32(p: usize, v: u32): void { store<u32>(p, bswap<u32>(v)); }
