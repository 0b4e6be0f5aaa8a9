// Timing for batch-level work (each timed call does >= 10 us of work, each sample ~100-300 ms), so a
// plain monotonic clock around a loop is exact enough; no per-call timer overhead is involved.
// Variants of one case are sampled in alternation (A B A B ...) so that their ratio is measured
// under the same conditions; the order is reversed every other round.

export const nowS = () => Number(process.hrtime.bigint()) / 1e9;

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** iterations of fn(iters) -> units that take about targetMs */
export function calibrate(fn, targetMs) {
  let it = 1;
  for (;;) {
    const t0 = nowS();
    fn(it);
    const dt = (nowS() - t0) * 1000;
    if (dt >= targetMs / 8 || it >= 1 << 24) return Math.max(1, Math.round(it * targetMs / Math.max(dt, 1e-3)));
    it *= 2;
  }
}

/**
 * variants: [{ name, fn(iters) -> units }]. Returns { [name]: { rate (median units/s), samples, iters } }.
 * opts: { runs, sampleMs, warmupMs }
 */
export function measurePaired(variants, { runs = 7, sampleMs = 150, warmupMs = 150 } = {}) {
  const its = variants.map((v) => {
    const it = calibrate(v.fn, sampleMs);
    // warm-up at the calibrated size
    const t0 = nowS();
    while ((nowS() - t0) * 1000 < warmupMs) v.fn(it);
    return it;
  });
  const samples = variants.map(() => []);
  for (let r = 0; r < runs; r++) {
    const order = variants.map((_, i) => i);
    if (r & 1) order.reverse();
    for (const i of order) {
      const t0 = nowS();
      const units = variants[i].fn(its[i]);
      const dt = nowS() - t0;
      samples[i].push(units / dt);
    }
  }
  const out = {};
  variants.forEach((v, i) => {
    const s = samples[i];
    out[v.name] = { rate: median(s), min: Math.min(...s), max: Math.max(...s), samples: s.map((x) => Math.round(x)), iters: its[i] };
  });
  return out;
}
