// The console's Remove device in headless Chromium against a real server: dismissing the
// confirmation keeps the device; a device without jobs is removed and the page goes back to the
// fleet, which no longer lists it; one with a queued job (created for a device that never
// connects) is refused with the server's 409 text naming the job, and "Fail its jobs and remove"
// (?force=1) removes it, its job failed with "device decommissioned".
import test from 'ava';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startEnv, addDevice, TOKEN, Env } from './helpers/scomo-e2e.js';
import { launchChromium, signedInConsole, SCREENSHOT_DIR } from './helpers/browser.js';

async function shot(page: Page, name: string): Promise<void> {
  await page.mouse.move(0, 700);
  await page.screenshot({ path: join(SCREENSHOT_DIR, name + '.png'), fullPage: true });
}

test('console: remove a device (confirm, 409 naming its job, force fails the job and removes it)', async (t) => {
  const b = await launchChromium();
  const e: Env = await startEnv();
  try {
    await addDevice(e, 'box-busy');
    await addDevice(e, 'box-idle');
    const pkg = await e.upload(new Uint8Array([1, 2, 3]), 'app', '1.0');
    // No device session ever comes: the job stays queued and holds the device.
    const queued = await e.api<{ jobIds: string[] }>('POST', '/api/jobs', { deviceIds: ['box-busy'], operation: 'DownloadInstall', pkgId: pkg.pkgId });
    t.is(queued.status, 201);
    const jobId = queued.json.jobIds[0];

    const { page, pageErrors, dialogs, answer } = await signedInConsole(b.context, e.srv.url, TOKEN);

    // Dismissed: nothing is sent, the device stays and so does the page.
    await page.click('tr[data-device="box-idle"] a');
    await page.locator('#device-id', { hasText: 'box-idle' }).waitFor();
    answer.accept = false;
    await page.click('#remove-device');
    t.regex(dialogs.at(-1) ?? '', /Remove device box-idle\?/);
    t.is((await e.api('GET', '/api/devices/box-idle')).status, 200, 'dismissed: still there');
    t.is(await page.evaluate('location.hash'), '#/devices/box-idle');
    t.true(await page.locator('#remove-device-error').isHidden());
    t.true(await page.locator('#remove-device-force').isHidden());

    // Confirmed, no jobs: removed at once, back to the fleet, which no longer lists it.
    answer.accept = true;
    await page.click('#remove-device');
    await page.locator('tr[data-device="box-busy"]').waitFor();
    t.is(await page.evaluate('location.hash'), '#/fleet');
    t.is(await page.locator('tr[data-device="box-idle"]').count(), 0);
    await page.locator('#toast', { hasText: 'Device removed: box-idle' }).waitFor();
    t.is((await e.api('GET', '/api/devices/box-idle')).status, 404);

    // Held by the queued job: the server's 409 text names it; the device stays.
    await page.click('tr[data-device="box-busy"] a');
    await page.locator('#device-id', { hasText: 'box-busy' }).waitFor();
    await page.click('#remove-device');
    const err = page.locator('#remove-device-error');
    await err.waitFor();
    t.regex((await err.textContent()) ?? '', new RegExp(`device box-busy has an unfinished job ${jobId} \\(DownloadInstall, queued\\)`));
    t.true(await page.locator('#remove-device-force').isVisible());
    t.is(await page.evaluate('location.hash'), '#/devices/box-busy');
    t.is((await e.api('GET', '/api/devices/box-busy')).status, 200);
    await shot(page, '14-device-remove-refused');

    // The force button asks again; dismissed, nothing happens.
    answer.accept = false;
    await page.click('#remove-device-force');
    t.regex(dialogs.at(-1) ?? '', /Fail the unfinished jobs of box-busy/);
    t.is((await e.api<{ state: string }>('GET', `/api/jobs/${jobId}`)).json.state, 'queued');
    t.is((await e.api('GET', '/api/devices/box-busy')).status, 200);

    // Confirmed: the job is failed, the device removed, the fleet is empty.
    answer.accept = true;
    await page.click('#remove-device-force');
    await page.locator('td.empty', { hasText: 'No devices yet' }).waitFor();
    t.is(await page.evaluate('location.hash'), '#/fleet');
    t.is(await page.locator('tr[data-device]').count(), 0);
    t.is((await e.api('GET', '/api/devices/box-busy')).status, 404);
    const job = (await e.api<{ state: string; error?: string }>('GET', `/api/jobs/${jobId}`)).json;
    t.is(job.state, 'failed');
    t.is(job.error, 'device decommissioned');
    t.deepEqual(pageErrors, []);
  } finally {
    await e.close();
    await b.close();
  }
});

test('console: Remove device shows the server\'s 404 text when the device is already gone', async (t) => {
  const b = await launchChromium();
  const e: Env = await startEnv();
  try {
    await addDevice(e, 'box-gone');
    const { page } = await signedInConsole(b.context, e.srv.url, TOKEN);
    await page.click('tr[data-device="box-gone"] a');
    await page.locator('#device-id', { hasText: 'box-gone' }).waitFor();
    // Removed behind the page's back (another operator).
    t.is((await e.api('DELETE', '/api/devices/box-gone')).status, 204);
    await page.click('#remove-device');
    await page.locator('#remove-device-error', { hasText: 'unknown device box-gone' }).waitFor();
    t.true(await page.locator('#remove-device-force').isHidden(), 'no force offer for a 404');
    t.is(await page.evaluate('location.hash'), '#/devices/box-gone');
  } finally {
    await e.close();
    await b.close();
  }
});
