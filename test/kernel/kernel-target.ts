/**
 * The real-kernel target: this machine's own Linux as the listener, in a namespace of its own.
 *
 * Topology of one run (all created here, all deleted in teardown):
 *
 *   cli ns                     rly ns (no addresses)                 srv ns
 *   c0 198.18.10.1/24 ==veth== r0 --relay.py (delay c->s)-- r1 ==veth== s0 198.18.10.2/24
 *   clients.mjs, tcpdump -i c0                                          listener.py (never accepts)
 *
 * Every run has its own namespaces, so parallel runs reuse the same addresses without meeting.
 * Called by: the test file through run-scenario.ts.
 */
import { fileURLToPath } from 'node:url';
import {
  PYTHON,
  assertBenchmarkAddress,
  createNs,
  deleteNs,
  getSysctls,
  ipNetnsExec,
  nextId,
  nsName,
  readCounters,
  run,
  setSysctls,
  spawnInNs,
  sysctlExists,
  type Child,
} from './netns.js';
import type { ServerSide, Target } from './run-scenario.js';
import { CLIENT_SYSCTLS, KERNEL_SERVER_EXTRA_SYSCTLS, TIMING, serverSysctls, type Scenario } from './scenarios.js';

const LISTENER_SCRIPT = fileURLToPath(new URL('./listener.py', import.meta.url));
const RELAY_SCRIPT = fileURLToPath(new URL('./relay.py', import.meta.url));

export const KERNEL_CLIENT_CIDR = '198.18.10.1/24';
export const KERNEL_SERVER_CIDR = '198.18.10.2/24';

/** Only the sysctls this kernel has (the others are reported as skipped). */
export function presentSysctls(settings: Record<string, number>): { set: Record<string, number>; skipped: string[] } {
  const set: Record<string, number> = {};
  const skipped: string[] = [];
  for (const [k, v] of Object.entries(settings)) {
    if (sysctlExists(k)) set[k] = v;
    else skipped.push(k);
  }
  return { set, skipped };
}

export class KernelTarget implements Target {
  readonly name = 'kernel' as const;

  async setup(scenario: Scenario): Promise<ServerSide> {
    assertBenchmarkAddress(KERNEL_CLIENT_CIDR);
    assertBenchmarkAddress(KERNEL_SERVER_CIDR);
    const id = nextId();
    const cli = nsName('cli', id);
    const rly = nsName('rly', id);
    const srv = nsName('srv', id);
    const children: Child[] = [];
    const teardown = async (): Promise<void> => {
      await Promise.all(children.map((c) => c.stop('SIGTERM', 2000)));
      await Promise.all([deleteNs(cli), deleteNs(rly), deleteNs(srv)]);
    };
    try {
      await Promise.all([createNs(cli), createNs(rly), createNs(srv)]);
      // created directly inside their namespaces: nothing appears in the root namespace
      await run('ip', ['link', 'add', 'c0', 'netns', cli, 'type', 'veth', 'peer', 'name', 'r0', 'netns', rly]);
      await run('ip', ['link', 'add', 'r1', 'netns', rly, 'type', 'veth', 'peer', 'name', 's0', 'netns', srv]);
      const client = presentSysctls(CLIENT_SYSCTLS);
      const server = presentSysctls({ ...serverSysctls(scenario), ...KERNEL_SERVER_EXTRA_SYSCTLS });
      await Promise.all([setSysctls(cli, client.set), setSysctls(srv, server.set)]);
      await run('ip', ['-n', cli, 'addr', 'add', KERNEL_CLIENT_CIDR, 'dev', 'c0']);
      await run('ip', ['-n', srv, 'addr', 'add', KERNEL_SERVER_CIDR, 'dev', 's0']);
      for (const [ns, dev] of [[cli, 'c0'], [rly, 'r0'], [rly, 'r1'], [srv, 's0']] as const) {
        await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      }

      const relay = spawnInNs(`relay(${scenario.id})`, rly, PYTHON, [RELAY_SCRIPT, 'r0', 'r1', String(TIMING.delayMs)]);
      children.push(relay);
      const serverIp = KERNEL_SERVER_CIDR.split('/')[0]!;
      const listener = spawnInNs(`listener(${scenario.id})`, srv, PYTHON, [
        LISTENER_SCRIPT,
        serverIp,
        String(TIMING.serverPort),
        String(scenario.backlog),
      ]);
      children.push(listener);
      await relay.waitForLine('relay ready', (l) => l === 'ready', 10_000);
      await listener.waitForLine('listener ready', (l) => l === 'ready', 10_000);

      const readBack = {
        client: await getSysctls(cli, Object.keys(client.set)),
        server: await getSysctls(srv, Object.keys(server.set)),
      };
      const kernelRelease = (await run('uname', ['-r'])).trim();
      return {
        cliNs: cli,
        clientIface: 'c0',
        clientIp: KERNEL_CLIENT_CIDR.split('/')[0]!,
        serverIp,
        serverPort: TIMING.serverPort,
        settings: {
          kernelRelease,
          sysctls: readBack,
          skippedSysctls: [...client.skipped, ...server.skipped],
          delayMs: TIMING.delayMs,
        },
        diagnostics: async () => {
          // ss -lnt: Recv-Q = accept queue length, Send-Q = backlog
          const listeners = (await ipNetnsExec(srv, ['ss', '-lnt']).catch((e: Error) => e.message)).trim();
          const sockets = (await ipNetnsExec(srv, ['ss', '-tan']).catch((e: Error) => e.message)).trim();
          const counters = pick(await readCounters(srv));
          // the clients have reported and the capture has stopped: the relay may go (it prints its stats)
          await relay.stop('SIGTERM', 2000);
          const m = /relay-stats (\{.*\})/.exec(relay.stderr);
          const relayStats: Record<string, unknown> = m ? (JSON.parse(m[1]!) as Record<string, unknown>) : { error: relay.stderr.trim() };
          return { listeners, sockets, counters, relay: relayStats, delayMaxLateMs: relayStats.maxLateMs };
        },
        teardown,
      };
    } catch (e) {
      await teardown();
      throw e;
    }
  }
}

/** The counters worth showing next to a listen-queue run. */
export const INTERESTING_COUNTERS = [
  'TcpExtListenOverflows',
  'TcpExtListenDrops',
  'TcpExtSyncookiesSent',
  'TcpExtSyncookiesRecv',
  'TcpExtSyncookiesFailed',
  'TcpExtTCPReqQFullDoCookies',
  'TcpExtTCPReqQFullDrop',
  'TcpExtEmbryonicRsts',
  'TcpExtTCPTimeouts',
  'TcpExtTSEcrRejected',
  'TcpPassiveOpens',
  'TcpAttemptFails',
  'TcpOutRsts',
  'TcpRetransSegs',
];

export function pick(counters: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of INTERESTING_COUNTERS) if (counters[k] !== undefined) out[k] = counters[k];
  return out;
}
