// The operator console in headless Chromium against a real server and three real emulated
// devices: sign in, upload a package, start a campaign in two waves by tag, watch it complete;
// pause and resume a second campaign; read a device's inventory and job history. Screenshots of
// each step go to docs/screenshots/ (a person looks at them).
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startEnv, addDevice, bootDevice, TOKEN, Env } from './helpers/scomo-e2e.js';
import { makeAppPackage } from './helpers/packages.js';
import { launchChromium, SCREENSHOT_DIR } from './helpers/browser.js';
import type { RunningDevice } from '../targets/node/device.js';

const DEVICES = ['stb-0001', 'stb-0002', 'stb-0003'];

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  await page.mouse.move(0, 700); // no hover highlight in the picture
  await new Promise((r) => setTimeout(r, 350)); // let bar transitions (0.3 s) settle
  await page.screenshot({ path: join(SCREENSHOT_DIR, name + '.png'), fullPage });
}

test('console: login, upload, campaign by tag in two waves with live progress, pause/resume, device detail', async (t) => {
  const b = await launchChromium();
  const e: Env = await startEnv();
  const devs: RunningDevice[] = [];
  const pageErrors: string[] = [];
  try {
    for (const id of DEVICES) {
      await addDevice(e, id);
      devs.push(await bootDevice(e, id, mkdtempSync(join(tmpdir(), 'scomo-dev-'))));
      t.is((await e.api('PUT', '/api/devices/' + id, { tags: ['lab', 'eu-west'] })).status, 200);
    }
    const page = await b.context.newPage();
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('dialog', (d) => { void d.accept(); });

    // Sign in: a wrong token is refused on the page, the right one opens the fleet.
    await page.goto(e.srv.url + '/console/');
    await page.locator('#token').waitFor();
    await page.fill('#token', 'not-the-token');
    await page.click('#login');
    await page.locator('#login-error', { hasText: 'not valid' }).waitFor();
    await shot(page, '01-login');
    await page.fill('#token', TOKEN);
    await page.click('#login');
    await page.locator('tr[data-device]').nth(DEVICES.length - 1).waitFor();
    const rows = await page.locator('tr[data-device]').all();
    t.deepEqual(await Promise.all(rows.map((r) => r.getAttribute('data-device'))), DEVICES);
    t.is(await page.locator('#stat-devices .v').textContent(), '3');
    await page.locator('tr[data-device] .tag', { hasText: 'lab' }).first().waitFor();
    await shot(page, '02-fleet');
    await page.fill('#fleet-filter', '0002');
    await page.locator('tr[data-device="stb-0001"]').waitFor({ state: 'detached' });
    t.is(await page.locator('tr[data-device]').count(), 1);
    await page.fill('#fleet-filter', '');
    await page.locator('tr[data-device="stb-0001"]').waitFor();
    t.is(await page.evaluate('sessionStorage.getItem("scomo.token")'), TOKEN);

    // Upload a package with the form; the name and version are guessed from the file name.
    await page.click('[data-nav=packages]');
    const tar = makeAppPackage({ id: 'com.example.guide', name: 'Program guide', version: '2.1.0', payloadBytes: 300_000 });
    await page.setInputFiles('#pkg-file', { name: 'guide-2.1.0.tar', mimeType: 'application/x-tar', buffer: tar });
    t.is(await page.inputValue('#pkg-name'), 'guide');
    t.is(await page.inputValue('#pkg-version'), '2.1.0');
    await page.click('#pkg-upload');
    await page.locator('#upload-status', { hasText: 'Uploaded pkg-' }).waitFor();
    await page.locator('tr[data-pkg]').first().waitFor();
    await shot(page, '03-package-uploaded');
    const pkgs = (await e.api<{ packages: { pkgId: string; size: number; name: string }[] }>('GET', '/api/packages')).json.packages;
    t.is(pkgs.length, 1);
    t.is(pkgs[0].size, tar.length);
    t.is(pkgs[0].name, 'guide');
    t.is(await page.locator(`tr[data-pkg="${pkgs[0].pkgId}"] td`, { hasText: 'unsigned' }).count(), 1, 'the list says the package carries no signature');

    // A campaign by tag, two waves; the detail page follows it to the end.
    await page.click('[data-nav=campaigns]');
    await page.locator('#c-package option[value^="pkg-"]').waitFor({ state: 'attached' });
    await page.fill('#c-tags', 'lab');
    await page.fill('#c-waves', '1, 2');
    await page.fill('#c-success', '100');
    await page.click('#c-create');
    await page.waitForURL(/#\/campaigns\/.+/);
    await page.locator('#campaign-progress').waitFor();
    await shot(page, '04-campaign-running');
    await page.locator('#campaign-state [data-state=completed]').waitFor({ timeout: 30_000 });
    t.regex((await page.locator('#campaign-progress').textContent()) ?? '', /^3 of 3 done \(3 succeeded, 0 failed\)/);
    await page.locator('tr[data-target]').nth(2).waitFor();
    await shot(page, '05-campaign-completed');

    // Pause and resume: a paused campaign starts no new wave; resumed, it completes.
    const v2 = await e.upload(makeAppPackage({ id: 'com.example.guide', name: 'Program guide', version: '2.2.0' }), 'guide', '2.2.0');
    await page.click('[data-nav=campaigns]');
    await page.locator(`#c-package option[value="${v2.pkgId}"]`).waitFor({ state: 'attached' });
    await page.selectOption('#c-package', v2.pkgId);
    await page.fill('#c-devices', DEVICES.join(', '));
    await page.fill('#c-waves', '1, 1, 1');
    await page.click('#c-create');
    await page.waitForURL(/#\/campaigns\/.+/);
    await page.click('[data-action=pause]:not([disabled])');
    await page.locator('#campaign-state [data-state=paused]').waitFor();
    const id2 = decodeURIComponent(page.url().split('#/campaigns/')[1]);
    const paused = (await e.api<{ state: string; currentWave: number }>('GET', '/api/campaigns/' + id2)).json;
    t.is(paused.state, 'paused');
    await shot(page, '06-campaign-paused');
    await new Promise((r) => setTimeout(r, 1500));
    t.is((await e.api<{ currentWave: number }>('GET', '/api/campaigns/' + id2)).json.currentWave, paused.currentWave, 'no wave starts while paused');
    await page.click('[data-action=resume]:not([disabled])');
    await page.locator('#campaign-state [data-state=completed]').waitFor({ timeout: 30_000 });
    t.regex((await page.locator('#campaign-progress').textContent()) ?? '', /^3 of 3 done \(3 succeeded/);

    // Cancel (after the confirmation dialog) stops a campaign for good.
    const c3 = await e.api<{ campaignId: string }>('POST', '/api/campaigns', { operation: 'Download', pkgId: v2.pkgId, target: { devices: DEVICES }, waves: [1, 1, 1] });
    t.is(c3.status, 201);
    await page.goto(`${e.srv.url}/console/#/campaigns/${c3.json.campaignId}`);
    await page.click('[data-action=cancel]:not([disabled])');
    await page.locator('#campaign-state [data-state=cancelled]').waitFor();
    t.is((await e.api<{ state: string }>('GET', '/api/campaigns/' + c3.json.campaignId)).json.state, 'cancelled');
    t.true(await page.locator('[data-action=resume]').isDisabled());

    // The campaigns list shows all three.
    await page.click('[data-nav=campaigns]');
    await page.locator('tr[data-campaign]').nth(2).waitFor();
    t.is(await page.locator('tr[data-campaign] [data-state=completed]').count(), 2);
    t.is(await page.locator('tr[data-campaign] [data-state=cancelled]').count(), 1);
    await shot(page, '07-campaigns');

    // Device detail: inventory from the device and the job history.
    await page.click('[data-nav=fleet]');
    await page.click(`a[href="#/devices/${DEVICES[0]}"]`);
    await page.click('#refresh-inventory');
    await page.locator('#inventory-note', { hasText: 'read' }).waitFor();
    await page.locator('td', { hasText: 'com.example.guide' }).waitFor();
    await page.locator('tr[data-job]').nth(1).waitFor();
    // Two campaign installs; the cancelled Download campaign may have finished its first wave.
    t.true(await page.locator('tr[data-job] [data-state=succeeded]').count() >= 2);
    t.truthy(await page.locator('td', { hasText: '2.2.0' }).count());
    await shot(page, '08-device', true);

    // Jobs page: one job for one device through the form.
    await page.click('[data-nav=jobs]');
    await page.locator('#job-devices option').nth(2).waitFor({ state: 'attached' });
    await page.selectOption('#job-operation', 'Deactivate');
    await page.fill('#job-component', 'com.example.guide');
    await page.selectOption('#job-devices', [DEVICES[1]]);
    await page.click('#job-create');
    await page.locator('tr[data-job]', { hasText: 'Deactivate' }).locator('[data-state=succeeded]').waitFor({ timeout: 20_000 });
    await shot(page, '09-jobs');

    // Back to the fleet: deployed components and job counts per device.
    await page.click('[data-nav=fleet]');
    const all = (await e.api<{ jobs: { state: string }[] }>('GET', '/api/jobs?limit=1000')).json.jobs;
    const succeeded = all.filter((j) => j.state === 'succeeded').length;
    t.true(succeeded >= 7);
    await page.locator('#stat-succeeded .v', { hasText: String(succeeded) }).waitFor();
    await shot(page, '10-fleet-after');

    // A broken package: the first wave fails and the campaign pauses at its error threshold.
    const bad = await e.upload(makeAppPackage({ id: 'com.example.broken', name: 'Broken', version: '0.1', noManifest: true }), 'broken', '0.1');
    const c4 = await e.api<{ campaignId: string }>('POST', '/api/campaigns', { operation: 'DownloadInstall', pkgId: bad.pkgId, target: { tags: ['lab'] }, waves: [1, 2], errorThreshold: 0.5 });
    t.is(c4.status, 201);
    await page.goto(`${e.srv.url}/console/#/campaigns/${c4.json.campaignId}`);
    await page.locator('#campaign-state [data-state=paused]').waitFor({ timeout: 20_000 });
    await page.locator('dd', { hasText: 'error threshold' }).waitFor();
    await page.locator('tr[data-target] [data-state=failed]').waitFor();
    t.is(await page.locator('tr[data-target] [data-state=pending]').count(), 2, 'the second wave never started');
    await shot(page, '11-campaign-error-threshold');

    // Sign out forgets the token.
    await page.click('#logout');
    await page.locator('#token').waitFor();
    t.is(await page.evaluate('sessionStorage.getItem("scomo.token")'), null);
    t.deepEqual(pageErrors, []);
  } finally {
    for (const d of devs) await d.close();
    await e.close();
    await b.close();
  }
});
