// Interfaces: MAC, IPv4 address, prefix, gateway. Up to MAX_IFACES, configured by the host.
// Read by net/link.ts (is this frame for us?), net/ip.ts (routing) and tcp/ (local addresses).

@inline export const MAX_IFACES: i32 = 8;

const macHi = new StaticArray<u32>(MAX_IFACES);   // top 16 bits
const macLo = new StaticArray<u32>(MAX_IFACES);   // low 32 bits
const addr = new StaticArray<u32>(MAX_IFACES);
const mask = new StaticArray<u32>(MAX_IFACES);
const gw = new StaticArray<u32>(MAX_IFACES);
const up = new StaticArray<bool>(MAX_IFACES);

export function ifaceInit(): void {}

export function ifaceConfigure(i: i32, hi: u32, lo: u32, ip: u32, prefix: i32, gateway: u32): i32 {
  if (i < 0 || i >= MAX_IFACES) return -1;
  if (prefix < 0 || prefix > 32) return -2;
  unchecked(macHi[i] = hi & 0xFFFF);
  unchecked(macLo[i] = lo);
  unchecked(addr[i] = ip);
  unchecked(mask[i] = prefix == 0 ? 0 : (0xFFFFFFFF << (32 - prefix)));
  unchecked(gw[i] = gateway);
  unchecked(up[i] = true);
  return 0;
}

@inline export function ifaceUp(i: i32): bool { return i >= 0 && i < MAX_IFACES && unchecked(up[i]); }
@inline export function ifaceMacHi(i: i32): u32 { return unchecked(macHi[i]); }
@inline export function ifaceMacLo(i: i32): u32 { return unchecked(macLo[i]); }
@inline export function ifaceAddr(i: i32): u32 { return unchecked(addr[i]); }
@inline export function ifaceMask(i: i32): u32 { return unchecked(mask[i]); }
@inline export function ifaceGateway(i: i32): u32 { return unchecked(gw[i]); }

/** Index of the interface that owns `ip`, or -1. */
export function ifaceByAddr(ip: u32): i32 {
  for (let i = 0; i < MAX_IFACES; i++) if (unchecked(up[i]) && unchecked(addr[i]) == ip) return i;
  return -1;
}

/** Is `ip` a broadcast address for interface `i` (subnet-directed or limited)? */
export function isBroadcast(i: i32, ip: u32): bool {
  if (ip == 0xFFFFFFFF) return true;
  const m = unchecked(mask[i]);
  return m != 0xFFFFFFFF && m != 0xFFFFFFFE && (ip & ~m) == ~m && (ip & m) == (unchecked(addr[i]) & m);
}

@inline export function isMulticast(ip: u32): bool { return (ip >>> 28) == 0xE; }

/** Write the interface's MAC at p (6 bytes, network order). */
@inline export function writeMac(i: i32, p: usize): void {
  store<u8>(p, <u8>(unchecked(macHi[i]) >> 8));
  store<u8>(p + 1, <u8>unchecked(macHi[i]));
  store<u32>(p + 2, bswap<u32>(unchecked(macLo[i])));
}

/**
 * Route `dst` out of interface `i`: the next hop is `dst` when on-link, else the gateway.
 * Returns 0 when there is no route.
 */
export function nextHop(i: i32, dst: u32): u32 {
  const m = unchecked(mask[i]);
  if ((dst & m) == (unchecked(addr[i]) & m)) return dst;
  return unchecked(gw[i]);
}

/** Choose the interface for a destination: the one whose subnet holds it, else the first with a gateway. */
export function routeIface(dst: u32): i32 {
  for (let i = 0; i < MAX_IFACES; i++) {
    if (unchecked(up[i]) && (dst & unchecked(mask[i])) == (unchecked(addr[i]) & unchecked(mask[i]))) return i;
  }
  for (let i = 0; i < MAX_IFACES; i++) if (unchecked(up[i]) && unchecked(gw[i]) != 0) return i;
  return -1;
}
