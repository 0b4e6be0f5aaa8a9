/**
 * tcpdump capture inside a namespace, for the kernel-comparison harness.
 *
 * Owns: starting tcpdump on one interface of a namespace (packet-buffered pcap file, so stopping it
 * loses nothing), waiting until it is really listening, and stopping it by pid.
 * Called by: run-scenario.ts.
 */
import { Child, spawnInNs } from './netns.js';

export class Capture {
  private constructor(
    readonly file: string,
    private readonly child: Child,
  ) {}

  /**
   * `-U` writes each packet as it comes (nothing lost at SIGINT), `-Z root` keeps root so that it may
   * write into our private temp dir, `-n` no lookups (no DNS traffic), `-p` no promiscuous mode.
   */
  static async start(ns: string, iface: string, file: string): Promise<Capture> {
    const child = spawnInNs(`tcpdump(${ns}/${iface})`, ns, 'tcpdump', [
      '-i', iface, '-n', '-p', '-U', '-Z', 'root', '-w', file,
    ]);
    await child.waitFor('tcpdump listening', () => /listening on/.test(child.stderr), 10_000);
    return new Capture(file, child);
  }

  async stop(): Promise<string> {
    await this.child.stop('SIGINT', 3000);
    return this.child.stderr;
  }
}
