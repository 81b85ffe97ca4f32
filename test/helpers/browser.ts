// Headless Chromium for the console tests: Debian's `chromium` driven by playwright-core (no
// browser download). A missing browser is a failure with a clear message, never a skip: CI
// installs it (`apt-get install -y chromium`).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env.SCOMO_CHROMIUM ?? '/usr/bin/chromium';

// Screenshots are always taken (a page that cannot render fails the test), but they replace the
// committed ones in docs/screenshots/ only with SCOMO_SCREENSHOTS=1, so `npm test` leaves the tree clean.
export const SCREENSHOT_DIR = process.env.SCOMO_SCREENSHOTS === '1'
  ? join(import.meta.dirname, '..', '..', 'docs', 'screenshots')
  : join(tmpdir(), 'scomo-console-screenshots');

/** A fresh profile each time (Playwright takes --user-data-dir only through launchPersistentContext). */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install it (apt-get install -y chromium) or set SCOMO_CHROMIUM`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'scomo-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 820 },
    deviceScaleFactor: 1,
    timeout: 30_000,
  });
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A console page signed in with `token`; page errors and dialog texts are collected, and each confirm() is answered with `answer.accept`. */
export async function signedInConsole(context: BrowserContext, baseUrl: string, token: string): Promise<{
  page: import('playwright-core').Page; pageErrors: string[]; dialogs: string[]; answer: { accept: boolean };
}> {
  const pageErrors: string[] = [];
  const dialogs: string[] = [];
  const answer = { accept: true };
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('dialog', (d) => { dialogs.push(d.message()); void (answer.accept ? d.accept() : d.dismiss()); });
  await page.goto(baseUrl + '/console/');
  await page.fill('#token', token);
  await page.click('#login');
  return { page, pageErrors, dialogs, answer };
}
