/**
 * A learning Ethernet switch (IEEE 802.1D forwarding without spanning tree): the MAC table maps a
 * source address to the port it was last seen on; a frame to a known unicast address goes to that
 * port only, and a frame to a group address (broadcast, multicast) or to an address not learned yet
 * is flooded to every other port. Entries age out (802.1D's default ageing time is 300 s).
 *
 * Ports are whatever the owner uses to reach a peer: MemoryHub's in-memory links, the relay's
 * WebSocket clients and its TAP device. Time is passed in, so a virtual clock works too.
 */

export interface SwitchStats {
  /** frames offered to the switch */
  frames: number;
  /** frames sent to exactly one learned port */
  unicast: number;
  /** frames flooded (group destination or unknown unicast) */
  flooded: number;
  /** frames whose destination is the port they came from (dropped, as a switch filters them) */
  filtered: number;
  /** frames shorter than an Ethernet header (dropped) */
  runts: number;
}

export class LearningSwitch<P> {
  readonly #table = new Map<string, { port: P; seen: number }>();
  readonly #ports = new Set<P>();
  readonly ageingMs: number;
  readonly stats: SwitchStats = { frames: 0, unicast: 0, flooded: 0, filtered: 0, runts: 0 };

  constructor(opts: { ageingMs?: number } = {}) {
    const ageing = opts.ageingMs ?? 300_000;
    if (!(ageing > 0)) throw new RangeError(`LearningSwitch ageingMs must be > 0, got ${ageing}`);
    this.ageingMs = ageing;
  }

  addPort(port: P): void { this.#ports.add(port); }

  /** Forget a port and every address learned on it. */
  removePort(port: P): void {
    this.#ports.delete(port);
    for (const [mac, e] of this.#table) if (e.port === port) this.#table.delete(mac);
  }

  get ports(): readonly P[] { return [...this.#ports]; }

  /** Learned addresses as "aa:bb:cc:dd:ee:ff" with their ports (entries not yet aged out at `now`). */
  table(now: number): { mac: string; port: P; ageMs: number }[] {
    const out: { mac: string; port: P; ageMs: number }[] = [];
    for (const [key, e] of this.#table) {
      if (now - e.seen >= this.ageingMs) continue;
      out.push({ mac: [...key].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join(':'), port: e.port, ageMs: now - e.seen });
    }
    return out;
  }

  /**
   * Where a frame from `from` goes: the ports to send it to (never `from`). Learns the source
   * address unless it is a group address (which no station may send from).
   */
  forward(from: P, frame: Uint8Array, now: number): P[] {
    this.stats.frames++;
    if (frame.length < 14) { this.stats.runts++; return []; }
    if (((frame[6] as number) & 1) === 0) {
      const src = macKey(frame, 6);
      const e = this.#table.get(src);
      if (e) { e.port = from; e.seen = now; } else this.#table.set(src, { port: from, seen: now });
    }
    if (((frame[0] as number) & 1) === 0) {
      const key = macKey(frame, 0);
      const e = this.#table.get(key);
      if (e && now - e.seen < this.ageingMs && this.#ports.has(e.port)) {
        if (e.port === from) { this.stats.filtered++; return []; }
        this.stats.unicast++;
        return [e.port];
      }
      if (e) this.#table.delete(key);
    }
    this.stats.flooded++;
    const out: P[] = [];
    for (const p of this.#ports) if (p !== from) out.push(p);
    return out;
  }
}

function macKey(frame: Uint8Array, off: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += String.fromCharCode(frame[off + i] as number);
  return s;
}
