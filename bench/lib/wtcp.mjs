// A configured wtcp core instance for the benchmarks: the RELEASE build (build/wtcp.wasm, -O3)
// through its raw bindings, the Linux personality with the knobs the issue names, one interface
// (198.18.0.2/24, gateway 198.18.0.1), the gateway's MAC learnt from an ARP request, and a listener.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { writeArpRequest, GW_IP, GW_MAC, SERVER_IP } from './frames.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WASM_PATH = process.env.WTCP_WASM ?? path.join(ROOT, 'build', 'wtcp.wasm');
const BINDINGS_PATH = process.env.WTCP_BINDINGS ?? path.join(ROOT, 'build', 'wtcp.js');

// Names in the order of KNOBS / COUNTERS in src/core-abi.ts (read from the source so that the
// benchmark follows the ABI without a TypeScript build).
function abiList(name) {
  const src = readFileSync(path.join(ROOT, 'src', 'core-abi.ts'), 'utf8');
  const m = src.match(new RegExp(`export const ${name} = \\[([\\s\\S]*?)\\] as const`));
  if (!m) throw new Error(`src/core-abi.ts: ${name} not found`);
  return [...m[1].replace(/\/\/.*$/gm, '').matchAll(/'([A-Za-z0-9_]+)'/g)].map((x) => x[1]);
}
export const KNOBS = abiList('KNOBS');
export const COUNTERS = abiList('COUNTERS');

let compiled = null;
export function wasmInfo() {
  const bytes = readFileSync(WASM_PATH);
  return { path: path.relative(ROOT, WASM_PATH), bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex').slice(0, 16) };
}

export const LINUX_KNOBS = {
  family: 0, tcp_syncookies: 1, tcp_synack_retries: 5, tcp_max_syn_backlog: 2048, synq_full_gt: 1,
  tcp_timestamps: 1, tcp_sack: 1, tcp_window_scaling: 1, tcp_invalid_ratelimit: 500,
  tcp_rmem_default: 131072, ip_default_ttl: 64, rcv_wscale: 7, mss_default: 536,
};

/**
 * A fresh configured instance.
 * opts: { maxListeners, maxSyn, maxConn, synBuckets, rxChunks, arpEntries, knobs, backlog, now }
 */
export async function makeStack(opts = {}) {
  const { instantiate } = await import(BINDINGS_PATH);
  if (!compiled) compiled = await WebAssembly.compile(readFileSync(WASM_PATH));
  const w = await instantiate(compiled, {});
  const rc = w.init(opts.maxListeners ?? 4, opts.maxSyn ?? 4096, opts.maxConn ?? 4096, opts.synBuckets ?? 0,
    opts.rxChunks ?? 16, opts.arpEntries ?? 64, 0x12345678, 0x9abcdef0, 0x0badf00d, 0xdeadbeef);
  if (rc !== 0) throw new Error(`init failed: ${rc}`);
  const knobs = { ...LINUX_KNOBS, ...(opts.knobs ?? {}) };
  for (const [k, v] of Object.entries(knobs)) {
    const id = KNOBS.indexOf(k);
    if (id < 0) throw new Error(`unknown knob ${k}`);
    if (w.setKnob(id, v) !== 0) throw new Error(`setKnob ${k}`);
  }
  // opts.ip / opts.mac (last byte) / opts.peerIp / opts.peerMac: the in-memory pairs of bench/lib/pair.mjs
  const ip = opts.ip ?? SERVER_IP, macLo = opts.macLo ?? 2;
  const peerIp = opts.peerIp ?? GW_IP, peerMac = opts.peerMac ?? GW_MAC;
  if (w.ifaceSet(0, 0x0200, macLo, ip, 24, opts.gateway ?? GW_IP) !== 0) throw new Error('ifaceSet');
  const s = new Stack(w);
  // the gateway (or the peer) introduces itself: the stack learns its MAC (and answers)
  const n = writeArpRequest(s.mem(), w.inputPtr(), peerIp, peerMac, ip);
  void n;
  w.input(1, opts.now ?? 0);
  if (s.counter('WtcpArpReplies') !== 1n) throw new Error('ARP setup failed');
  w.outputReset(); w.eventsReset();
  if (opts.listen !== false) {
    s.listener = w.listenerOpen(0, opts.port ?? 80, opts.backlog ?? 4096, 0);
    if (s.listener < 0) throw new Error(`listenerOpen: ${s.listener}`);
  }
  return s;
}

export class Stack {
  constructor(w) {
    this.w = w;
    this.listener = -1;
  }
  /** a fresh view: memory only grows at init, but re-derive cheaply when in doubt */
  mem() {
    if (!this._m || this._m.buffer !== this.w.memory.buffer) this._m = new Uint8Array(this.w.memory.buffer);
    return this._m;
  }
  counter(name) {
    const i = COUNTERS.indexOf(name);
    if (i < 0) throw new Error(`unknown counter ${name}`);
    return new DataView(this.w.memory.buffer).getBigUint64(this.w.counterPtr() + i * 8, true);
  }
  counters() {
    const dv = new DataView(this.w.memory.buffer);
    const base = this.w.counterPtr();
    const o = {};
    COUNTERS.forEach((n, i) => { o[n] = dv.getBigUint64(base + i * 8, true); });
    return o;
  }
  memorySize() { return this.w.memory.buffer.byteLength; }
}

/** counter deltas between two counters() snapshots, non-zero only, as Numbers */
export function counterDelta(a, b) {
  const o = {};
  for (const k of Object.keys(b)) { const d = b[k] - a[k]; if (d !== 0n) o[k] = Number(d); }
  return o;
}
