/**
 * The stack target: a wtcp Stack with the linux-6.13 personality in THIS Node process (real clock),
 * reached by the kernel clients through a TAP device whose kernel side lives in the client namespace.
 *
 *   cli ns                                   this process
 *   tap 198.18.11.1/24 ==TAP fd== DelayLink (delay c->s) == Stack 198.18.11.2 (listens, never accepts)
 *   clients.mjs, tcpdump -i tap
 *
 * Loaded by the test file with a dynamic import, so that a stack that is not importable yet fails the
 * comparison test with a clear message while the kernel-only tests still run.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Stack } from '../../src/stack.js';
import { TapLink } from '../../src/links/tap.js';
import type { PersonalityName } from '../../src/sysctl.js';
import { DelayLink } from './delay-link.js';
import {
  assertBenchmarkAddress,
  createNs,
  deleteNs,
  getSysctls,
  nextId,
  nsName,
  setSysctls,
  tapName,
  withTimeout,
} from './netns.js';
import { presentSysctls } from './kernel-target.js';
import type { ServerSide, Target } from './run-scenario.js';
import { CLIENT_SYSCTLS, TIMING, serverSysctls, type Scenario } from './scenarios.js';

/**
 * The preset under test. WTCP_KC_STACK_PERSONALITY (another linux-* preset) is for exploring: the
 * comparison then shows how that preset differs from this kernel (linux-5.4 should fail the
 * backlog-0 and burst scenarios: its SYN queue is full at qlen >= backlog).
 */
export const STACK_PERSONALITY = (process.env.WTCP_KC_STACK_PERSONALITY ?? 'linux-6.13') as PersonalityName;
export const STACK_HOST_CIDR = '198.18.11.1/24';
export const STACK_CIDR = '198.18.11.2/24';
export const STACK_MAC = '02:00:00:00:0b:02';

export class StackTarget implements Target {
  readonly name = 'stack' as const;

  async setup(scenario: Scenario): Promise<ServerSide> {
    assertBenchmarkAddress(STACK_HOST_CIDR);
    assertBenchmarkAddress(STACK_CIDR);
    const id = nextId();
    const cli = nsName('cli', id);
    const tap = tapName(id);
    let link: TapLink | undefined;
    let stack: Stack | undefined;
    const teardown = async (): Promise<void> => {
      // never throws and never hangs: a stack that fails to close must not keep namespaces around
      try {
        if (stack) await withTimeout(Promise.resolve(stack.close()), 5000);
      } catch {
        /* the comparison has its results already */
      }
      try {
        if (link) await withTimeout(Promise.resolve(link.close()), 5000);
      } catch {
        /* idem */
      }
      await deleteNs(cli);
    };
    try {
      await createNs(cli);
      const client = presentSysctls(CLIENT_SYSCTLS);
      await setSysctls(cli, client.set);
      link = await TapLink.open({ name: tap, netns: cli, hostAddress: STACK_HOST_CIDR });
      const sysctls = serverSysctls(scenario);
      const delayed = new DelayLink(link, TIMING.delayMs);
      stack = new Stack({
        personality: STACK_PERSONALITY,
        sysctls,
        interfaces: [{ mac: STACK_MAC, ip: STACK_CIDR }],
        link: delayed,
      });
      const fd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
      stack.bsd.bind(fd, { address: '0.0.0.0', port: TIMING.serverPort });
      stack.bsd.listen(fd, scenario.backlog);
      const s = stack;
      // The stack shares this process's event loop: a stall here delays its segments (a timing
      // difference that is the host's, not the stack's). Recorded so that a diff can tell.
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      const readBack = { client: await getSysctls(cli, Object.keys(client.set)) };
      return {
        cliNs: cli,
        clientIface: link.name,
        clientIp: STACK_HOST_CIDR.split('/')[0]!,
        serverIp: STACK_CIDR.split('/')[0]!,
        serverPort: TIMING.serverPort,
        settings: {
          personality: STACK_PERSONALITY,
          stackSysctls: sysctls,
          sysctls: readBack,
          skippedSysctls: client.skipped,
          delayMs: TIMING.delayMs,
        },
        diagnostics: async () => {
          lag.disable();
          return {
            listeners: s.listeners(),
            counters: s.counters(),
            eventLoopDelayMs: { max: Math.round(lag.max / 1e6), p99: Math.round(lag.percentile(99) / 1e6) },
            delayMaxLateMs: Math.round(delayed.maxLateMs * 10) / 10,
          };
        },
        teardown,
      };
    } catch (e) {
      await teardown();
      throw e;
    }
  }
}
