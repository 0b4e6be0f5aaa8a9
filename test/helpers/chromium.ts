// Launching Debian's Chromium (/usr/bin/chromium, `apt-get install chromium`) headless through
// playwright-core, with the flags this machine needs as root and with no network. Fails with a
// message naming what is missing; never skips.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.WTCP_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
];

export interface LaunchedBrowser { browser: Browser; close(): Promise<void> }

export async function launchChromium(): Promise<LaunchedBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`browser test: no Chromium at ${CHROMIUM}; install it with \`apt-get install -y chromium\` (.ci/run does) or set WTCP_CHROMIUM`);
  }
  // playwright gives each launch a fresh, empty profile of its own (and deletes it on close)
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  return { browser, async close() { await browser.close().catch(() => undefined); } };
}
