// The console's HTTP side without a browser: static files with a strict CSP, nothing else under
// /console/ (no path tricks), and the token-protected fleet summary.
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { startEnv, addDevice, bootDevice, TOKEN } from './helpers/scomo-e2e.js';
import { makeAppPackage } from './helpers/packages.js';

/** A raw GET (fetch would normalize "/../" away before it reaches the server). */
function rawGet(url: string, path: string): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    r.on('error', reject);
    r.end();
  });
}

test('static files: HTML, JS and CSS with a self-only CSP; unknown and traversal paths are 404', async (t) => {
  const e = await startEnv();
  try {
    const redirect = await fetch(e.srv.url + '/console', { redirect: 'manual' });
    t.is(redirect.status, 308);
    t.is(redirect.headers.get('location'), '/console/');
    const html = await fetch(e.srv.url + '/console/');
    t.is(html.status, 200);
    t.regex(html.headers.get('content-type') ?? '', /^text\/html/);
    const csp = html.headers.get('content-security-policy') ?? '';
    t.regex(csp, /default-src 'self'/);
    t.regex(csp, /script-src 'self'/);
    const page = await html.text();
    t.regex(page, /<script type="module" src="app.js">/);
    t.notRegex(page, /https?:\/\//, 'nothing from another origin');
    t.regex(page, /href="#\/webhooks"/, 'the webhooks page is in the navigation');
    const js = await fetch(e.srv.url + '/console/app.js');
    t.regex(js.headers.get('content-type') ?? '', /^text\/javascript/);
    const code = await js.text();
    t.notRegex(code, /innerHTML|https?:\/\/(?!www\.w3)/, 'no HTML injection sink, no remote URL');
    t.regex(code, /'\/api\/webhooks'/);
    t.regex(code, /'DELETE', '\/api\/packages\/'/);
    t.regex(code, /'DELETE', '\/api\/devices\/'/);
    t.is((await fetch(e.srv.url + '/console/style.css')).headers.get('content-type'), 'text/css; charset=utf-8');
    t.is((await fetch(e.srv.url + '/console/nope.js')).status, 404);
    t.is(await rawGet(e.srv.url, '/console/../package.json'), 404);
    t.is(await rawGet(e.srv.url, '/console/%2e%2e/package.json'), 404);
    t.is(await rawGet(e.srv.url, '/console/static/app.js'), 404);
    t.is((await fetch(e.srv.url + '/console/app.js', { method: 'POST' })).status, 405);
  } finally {
    await e.close();
  }
});

test('fleet summary: needs the token; devices with tags, deployed count, job counts; filter and paging', async (t) => {
  const e = await startEnv();
  await addDevice(e, 'box-a');
  await addDevice(e, 'box-b');
  const dev = await bootDevice(e, 'box-a', mkdtempSync(join(tmpdir(), 'scomo-dev-')));
  try {
    t.is((await fetch(e.srv.url + '/console/api/fleet')).status, 401);
    t.is((await e.api('PUT', '/api/devices/box-b', { tags: ['attic'] })).status, 200);
    const pkg = await e.upload(makeAppPackage({ id: 'com.example.f', name: 'F', version: '1.0' }), 'f', '1.0');
    const r = await e.api<{ jobId: string }>('POST', '/api/devices/box-a/jobs', { operation: 'DownloadInstall', pkgId: pkg.pkgId });
    t.is((await e.waitJob(r.json.jobId, 30_000)).state, 'succeeded');
    await e.api('GET', '/api/devices/box-a/inventory?refresh=1&timeout=10');

    type Fleet = { total: number; devices: { deviceId: string; tags?: string[]; deployed: number | null; jobs: Record<string, number>; lastSeen: string }[]; jobTotals: Record<string, number> };
    const f = (await e.api<Fleet>('GET', '/console/api/fleet')).json;
    t.is(f.total, 2);
    t.deepEqual(f.devices.map((d) => d.deviceId), ['box-a', 'box-b']);
    t.is(f.devices[0].deployed, 1);
    t.deepEqual(f.devices[0].jobs, { succeeded: 1 });
    t.is(f.devices[1].deployed, null);
    t.deepEqual(f.devices[1].tags, ['attic']);
    t.is(f.jobTotals.succeeded, 1);
    t.is(f.jobTotals.failed, 0);
    t.true(Date.now() - Date.parse(f.devices[0].lastSeen) < 60_000);

    const byTag = (await e.api<Fleet>('GET', '/console/api/fleet?q=att')).json;
    t.deepEqual(byTag.devices.map((d) => d.deviceId), ['box-b']);
    t.is(byTag.total, 1);
    const page2 = (await e.api<Fleet>('GET', '/console/api/fleet?limit=1&offset=1')).json;
    t.deepEqual(page2.devices.map((d) => d.deviceId), ['box-b']);
    t.is(page2.total, 2);
    t.is((await e.api('POST', '/console/api/fleet', {})).status, 405);
  } finally {
    await dev.close();
    await e.close();
  }
});
