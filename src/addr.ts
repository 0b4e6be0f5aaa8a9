/**
 * IPv4 and MAC address helpers shared by the host: parsing user input (dotted quads, CIDR, colon
 * MACs) into the host-order u32 / byte forms the core takes, and formatting them back.
 *
 * Who calls it: src/stack.ts (interface configuration), src/bsd.ts (socket addresses),
 * src/testing/* (frame building). Everything here is pure; bad input throws TypeError/RangeError
 * with a message naming the input.
 */

/** A dotted-quad IPv4 address as a host-order unsigned 32-bit number. */
export type IPv4 = number;

const QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** True if `s` is a dotted-quad IPv4 address (no leading zeros beyond "0", each part 0..255). */
export function isIPv4(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const m = QUAD.exec(s);
  if (!m) return false;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] as string;
    if (part.length > 1 && part[0] === '0') return false;
    if (Number(part) > 255) return false;
  }
  return true;
}

/** '198.18.0.2' → 0xC6120002. Throws TypeError for anything that is not a dotted quad. */
export function parseIPv4(s: string, what = 'IPv4 address'): IPv4 {
  if (!isIPv4(s)) throw new TypeError(`${what} must be a dotted-quad IPv4 address such as "198.18.0.2", got ${describe(s)}`);
  const m = QUAD.exec(s) as RegExpExecArray;
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

/** 0xC6120002 → '198.18.0.2'. Accepts signed i32 values (as the core returns them). */
export function formatIPv4(ip: number): string {
  const v = ip >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** The network mask of a prefix length, host order. */
export function prefixMask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** The directed broadcast address of `ip`'s subnet. */
export function subnetBroadcast(ip: IPv4, prefixLen: number): IPv4 {
  return (ip | ~prefixMask(prefixLen)) >>> 0;
}

/** True if `a` and `b` are in the same /prefixLen subnet. */
export function sameSubnet(a: IPv4, b: IPv4, prefixLen: number): boolean {
  const m = prefixMask(prefixLen);
  return ((a & m) >>> 0) === ((b & m) >>> 0);
}

/** True for 224.0.0.0/4. */
export function isMulticast(ip: IPv4): boolean {
  return ip >>> 28 === 0xe;
}

export interface Cidr {
  ip: IPv4;
  prefixLen: number;
}

/** '198.18.0.2/24' → { ip, prefixLen: 24 }. The prefix length is required (nothing is assumed). */
export function parseCidr(s: string, what = 'interface address'): Cidr {
  if (typeof s !== 'string') throw new TypeError(`${what} must be a string in CIDR form such as "198.18.0.2/24", got ${describe(s)}`);
  const slash = s.indexOf('/');
  if (slash < 0) throw new TypeError(`${what} must be in CIDR form such as "198.18.0.2/24" (a prefix length is required), got "${s}"`);
  const ip = parseIPv4(s.slice(0, slash), what);
  const p = s.slice(slash + 1);
  if (!/^\d{1,2}$/.test(p) || Number(p) > 32) {
    throw new RangeError(`${what}: prefix length must be 0..32, got "${p}" in "${s}"`);
  }
  return { ip, prefixLen: Number(p) };
}

/** A MAC address as 6 bytes. */
export type Mac = Uint8Array;

const MAC_RE = /^([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})$/;

/** True if `s` is a MAC address written as six hex pairs separated by ':' or '-'. */
export function isMac(s: unknown): s is string {
  return typeof s === 'string' && MAC_RE.test(s);
}

/** '02:00:c6:12:00:02' → bytes. Throws TypeError otherwise. */
export function parseMac(s: string, what = 'MAC address'): Mac {
  const m = typeof s === 'string' ? MAC_RE.exec(s) : null;
  if (!m) throw new TypeError(`${what} must be six hex pairs such as "02:00:c6:12:00:02", got ${describe(s)}`);
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) out[i] = parseInt(m[i + 1] as string, 16);
  return out;
}

/** bytes → '02:00:c6:12:00:02' (lower case, as ip(8) prints it). */
export function formatMac(mac: ArrayLike<number>): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(((mac[i] ?? 0) & 255).toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** The two numbers the core's ifaceSet takes: the top 16 bits and the low 32 bits of the MAC. */
export function macParts(mac: ArrayLike<number>): { hi: number; lo: number } {
  const b = (i: number) => (mac[i] ?? 0) & 255;
  return { hi: (b(0) << 8) | b(1), lo: ((b(2) << 24) | (b(3) << 16) | (b(4) << 8) | b(5)) >>> 0 };
}

/**
 * The default MAC of an interface: a locally administered unicast address (first byte 0x02) followed
 * by a zero byte and the four bytes of the IPv4 address, e.g. 198.18.0.2 → 02:00:c6:12:00:02.
 * Deterministic, so tests and peers can compute it without asking.
 */
export function macFromIp(ip: IPv4 | string): string {
  const v = typeof ip === 'string' ? parseIPv4(ip) : ip >>> 0;
  return formatMac([0x02, 0x00, v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
}

export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';

function describe(v: unknown): string {
  return typeof v === 'string' ? `"${v}"` : v === null ? 'null' : typeof v;
}
