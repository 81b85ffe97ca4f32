// The console's package Delete and Webhooks page in headless Chromium against a real server: a
// package nobody uses is deleted, one a queued job uses is refused with the server's 409 text
// next to it; a signed webhook is added (its secret gone from the page), a job that times out by
// itself (timeoutS 1, fast sweep; no device needed) shows up as a delivery to a local receiver,
// and the webhook is removed.
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startEnv, addDevice, TOKEN, Env } from './helpers/scomo-e2e.js';
import { launchChromium, signedInConsole, SCREENSHOT_DIR } from './helpers/browser.js';

const SECRET = 'whsec-Console-Secret-4711';

async function shot(page: Page, name: string): Promise<void> {
  await page.mouse.move(0, 700);
  await page.screenshot({ path: join(SCREENSHOT_DIR, name + '.png'), fullPage: true });
}

/** A local webhook receiver: counts the events it was sent. */
async function receiver(): Promise<{ url: string; events: string[]; close(): Promise<void> }> {
  const events: string[] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try { events.push(String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event: unknown }).event)); } catch { events.push('?'); }
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    });
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`,
    events,
    close: () => new Promise<void>((ok) => { srv.close(() => ok()); srv.closeAllConnections(); }),
  };
}

test('console: delete a package (409 text for one in use), add a signed webhook, see its delivery, remove it', async (t) => {
  const b = await launchChromium();
  const e: Env = await startEnv({ jobSweepMs: 100, webhookPollMs: 20, webhookBackoffMs: 20, webhookMaxBackoffMs: 50 });
  const rx = await receiver();
  try {
    await addDevice(e, 'box-1');
    const used = await e.upload(new Uint8Array([1, 2, 3]), 'used', '1.0');
    const spare = await e.upload(new Uint8Array([4, 5, 6]), 'spare', '1.0');
    const gone = await e.upload(new Uint8Array([7, 8, 9]), 'gone', '1.0');
    // No device session ever comes: the job stays queued (and so keeps `used` in use).
    const queued = await e.api<{ jobIds: string[] }>('POST', '/api/jobs', { deviceIds: ['box-1'], operation: 'DownloadInstall', pkgId: used.pkgId });
    t.is(queued.status, 201);

    const { page, pageErrors, dialogs, answer } = await signedInConsole(b.context, e.srv.url, TOKEN);
    await page.locator('#stat-devices').waitFor();

    // Delete: dismissing the confirmation keeps the package; confirming deletes it.
    await page.click('[data-nav=packages]');
    await page.locator(`tr[data-pkg="${spare.pkgId}"]`).waitFor();
    answer.accept = false;
    await page.click(`tr[data-pkg="${spare.pkgId}"] [data-action=delete]`);
    t.regex(dialogs.at(-1) ?? '', new RegExp(`Delete package ${spare.pkgId}`));
    t.is((await e.api('GET', `/api/packages/${spare.pkgId}`)).status, 200, 'dismissed: still there');
    answer.accept = true;
    await page.click(`tr[data-pkg="${spare.pkgId}"] [data-action=delete]`);
    await page.locator(`tr[data-pkg="${spare.pkgId}"]`).waitFor({ state: 'detached' });
    t.is((await e.api('GET', `/api/packages/${spare.pkgId}`)).status, 404);
    // In use by the queued job: the server's 409 text shows next to the package, which stays.
    await page.click(`tr[data-pkg="${used.pkgId}"] [data-action=delete]`);
    const err = page.locator(`[data-pkg-error="${used.pkgId}"]`);
    await err.waitFor();
    t.regex((await err.textContent()) ?? '', new RegExp(`package ${used.pkgId} is in use: job ${queued.json.jobIds[0]} \\(queued\\) uses it`));
    t.true(await page.locator(`tr[data-pkg="${used.pkgId}"]`).isVisible());
    // Deleted behind the page's back: the server's 404 text shows next to it.
    t.is((await e.api('DELETE', `/api/packages/${gone.pkgId}`)).status, 204);
    await page.click(`tr[data-pkg="${gone.pkgId}"] [data-action=delete]`);
    await page.locator(`[data-pkg-error="${gone.pkgId}"]`, { hasText: `no package ${gone.pkgId}` }).waitFor();
    t.is(await page.locator('tr[data-pkg]').count(), 2);
    await shot(page, '12-package-in-use');

    // Webhooks: a 400 from the server appears in the form.
    await page.click('[data-nav=webhooks]');
    await page.locator('td.empty', { hasText: 'No webhooks yet' }).waitFor();
    await page.fill('#wh-url', 'ftp://example.net/x');
    await page.click('#wh-create');
    await page.locator('#wh-error', { hasText: 'http:// or https://' }).waitFor();
    await page.fill('#wh-url', rx.url);
    await page.uncheck('#wh-ev-failed');
    await page.uncheck('#wh-ev-succeeded');
    await page.click('#wh-create');
    await page.locator('#wh-error', { hasText: '"events" must be a non-empty list' }).waitFor();
    t.deepEqual((await e.api<{ webhooks: unknown[] }>('GET', '/api/webhooks')).json.webhooks, []);

    // A signed webhook for every change: the secret is sent once and is gone from the page.
    await page.check('#wh-ev-all');
    t.true(await page.locator('#wh-ev-failed').isDisabled());
    await page.fill('#wh-secret', SECRET);
    await page.click('#wh-create');
    const row = page.locator('tr[data-webhook]');
    await row.waitFor();
    t.is(await page.inputValue('#wh-secret'), '');
    t.is(await page.textContent('#wh-error'), '');
    t.is(await row.locator('[data-signed]').getAttribute('data-signed'), 'yes');
    t.is((await row.locator('[data-signed]').textContent())?.trim(), 'signed');
    t.is((await row.locator('[data-events]').textContent())?.trim(), 'every change');
    t.is(await row.locator('td', { hasText: rx.url }).count(), 1);
    const html = await page.content();
    t.false(html.includes(SECRET), 'the secret is nowhere in the DOM');
    // Field values are properties, not in page.content(): ask the page.
    t.false(await page.evaluate(`[...document.querySelectorAll('input')].some((i) => i.value.includes(${JSON.stringify(SECRET)}))`));
    const hooks = (await e.api<{ webhooks: { webhookId: string; signed: boolean; events: string[] }[] }>('GET', '/api/webhooks')).json.webhooks;
    t.is(hooks.length, 1);
    t.true(hooks[0].signed);
    t.deepEqual(hooks[0].events, ['*']);

    // A job that fails by itself (1 s timeout): its deliveries appear in the panel.
    await page.click('tr[data-webhook] [data-action=deliveries]');
    await page.locator('#deliveries-panel td.empty').waitFor();
    const doomed = await e.api<{ jobIds: string[] }>('POST', '/api/jobs', { deviceIds: ['box-1'], operation: 'DownloadInstall', pkgId: used.pkgId, timeoutS: 1 });
    t.is(doomed.status, 201);
    const jobId = doomed.json.jobIds[0];
    const failed = page.locator('tr[data-delivery]', { hasText: 'job.failed' });
    await failed.locator('[data-state=delivered]').waitFor({ timeout: 15_000 });
    t.is(await failed.locator('td.mono').textContent(), jobId);
    t.regex((await failed.textContent()) ?? '', /200/);
    t.regex((await failed.textContent()) ?? '', /delivered /);
    t.true(rx.events.includes('job.failed'));
    await shot(page, '13-webhooks');

    // Remove (after the confirmation): the list is empty and so is the API's.
    await page.click('tr[data-webhook] [data-action=remove]');
    t.regex(dialogs.at(-1) ?? '', /Remove webhook whk-/);
    await page.locator('tr[data-webhook]').waitFor({ state: 'detached' });
    t.true(await page.locator('#deliveries-panel').isHidden());
    t.deepEqual((await e.api<{ webhooks: unknown[] }>('GET', '/api/webhooks')).json.webhooks, []);
    t.deepEqual(pageErrors, []);
  } finally {
    await rx.close();
    await e.close();
    await b.close();
  }
});
