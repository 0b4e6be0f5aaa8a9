// Client side of the kernel-comparison harness: real kernel TCP clients, run inside the client
// namespace with `ip netns exec NS node clients.mjs '<json config>'`.
//
// Makes `count` connections to host:port, connection i from localAddress:(basePort + i), in one of
// three modes:
//   sequential  each connect waits for success or connectTimeoutMs before the next one starts;
//   concurrent  all connects are issued at once (one synchronous loop);
//   prefilled   the first `prefill` connections sequentially, then the rest at once.
// Every established connection writes `payload` at once and keeps watching for an error (a RST:
// ECONNRESET/EPIPE). settleMs after the last connect attempt settled, it prints one JSON line per
// connection, then {"done":true,...}, and keeps every socket open until it is killed (SIGTERM), so
// the harness can stop its capture before any FIN is sent.
//
// Called by test/kernel/run-scenario.ts. Plain JavaScript so that it runs under `node` without a loader.
import net from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const cfg = JSON.parse(process.argv[2]);
// A stall of this process (CPU starvation on a busy host) shifts its connects and writes: reported so
// that the harness can tell host disturbance from a real difference.
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
const t0 = performance.now();
const results = [];
const sockets = [];

function connectOne(index) {
  return new Promise((resolve) => {
    const localPort = cfg.basePort + index;
    const r = { index, localPort, outcome: 'pending', startMs: +(performance.now() - t0).toFixed(1) };
    results[index] = r;
    const started = performance.now();
    let connectedAt = -1;
    let settled = false;
    const settle = (outcome, code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      r.outcome = outcome;
      r.connectMs = +(performance.now() - started).toFixed(1);
      if (code) r.connectError = code;
      resolve();
    };
    const s = net.connect({ host: cfg.host, port: cfg.port, localAddress: cfg.localAddress, localPort });
    sockets.push(s);
    const timer = setTimeout(() => {
      settle('timeout');
      s.destroy(); // close() in SYN-SENT: no RST is sent
    }, cfg.connectTimeoutMs);
    s.on('connect', () => {
      connectedAt = performance.now();
      settle('established');
      if (cfg.payload) s.write(cfg.payload);
    });
    s.on('data', (d) => {
      r.bytesReceived = (r.bytesReceived ?? 0) + d.length;
    });
    s.on('end', () => {
      r.peerFinMs = +(performance.now() - connectedAt).toFixed(1);
    });
    s.on('error', (err) => {
      const code = err.code ?? String(err);
      if (connectedAt < 0) {
        if (code === 'ECONNREFUSED') settle('refused', code);
        else if (code === 'ECONNRESET') settle('reset', code);
        else if (code === 'ETIMEDOUT') settle('timeout', code);
        else settle('error', code);
        return;
      }
      if (r.errorAfterWrite === undefined) {
        r.errorAfterWrite = code;
        r.errorMs = +(performance.now() - connectedAt).toFixed(1);
      }
    });
  });
}

async function main() {
  const n = cfg.count;
  const firstBurst = cfg.mode === 'sequential' ? n : cfg.mode === 'prefilled' ? Math.min(cfg.prefill, n) : 0;
  for (let i = 0; i < firstBurst; i++) await connectOne(i);
  const rest = [];
  for (let i = firstBurst; i < n; i++) rest.push(connectOne(i));
  await Promise.all(rest);
  await new Promise((r) => setTimeout(r, cfg.settleMs));
  for (const r of results) process.stdout.write(JSON.stringify(r) + '\n');
  lag.disable();
  const eventLoopDelayMaxMs = Math.round(lag.max / 1e6);
  process.stdout.write(JSON.stringify({ done: true, doneAtEpochMs: Date.now(), eventLoopDelayMaxMs }) + '\n');
}

process.on('SIGTERM', () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});

main().catch((err) => {
  process.stdout.write(JSON.stringify({ fatal: String(err && err.stack ? err.stack : err) }) + '\n');
  process.exit(1);
});

// stay alive until killed, holding the sockets open
setInterval(() => {}, 1 << 30);
