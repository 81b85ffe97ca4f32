// A download descriptor's installNotifyURI: once the job's outcome is known the device POSTs an
// OMA DLOTA status line there ("900 Success", "905 Attribute mismatch", "954 Loader Error" ...),
// besides the SCOMO Generic Alert to the DM server. The DD here comes from a third-party server
// (this test's), pointing at the package in our repository.
import test from 'ava';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRig, downloadJob, type Rig } from './helpers/scomo-rig.js';
import { makeAppPackage } from './helpers/packages.js';
import { writeDownloadDescriptor, DD_MIME } from '../src/scomo/download/dd.js';
import { dlotaStatus } from '../src/scomo/dlota-status.js';

interface DdServer { base: string; reports: { path: string; type: string; body: string }[]; dd: Record<string, string>; close(): Promise<void> }

async function ddServer(): Promise<DdServer> {
  const s: DdServer = { base: '', reports: [], dd: {}, close: async () => undefined };
  const srv: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      if (req.method === 'POST' && path.startsWith('/notify/')) {
        s.reports.push({ path, type: String(req.headers['content-type']), body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200).end();
      } else if (req.method === 'GET' && s.dd[path]) {
        res.writeHead(200, { 'Content-Type': DD_MIME }).end(s.dd[path]);
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  s.base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  s.close = () => new Promise<void>((r) => srv.close(() => r()));
  return s;
}

async function setup(t: { teardown(fn: () => Promise<void>): void }, runtime: 'node' | 'quickjs' | 'native'): Promise<{ rig: Rig; dd: DdServer }> {
  const rig = await startRig({ runtime });
  const dd = await ddServer();
  t.teardown(async () => { await dd.close(); await rig.close(); });
  return { rig, dd };
}

async function report(dd: DdServer, path: string): Promise<{ type: string; body: string } | undefined> {
  for (let i = 0; i < 200; i++) {
    const r = dd.reports.find((x) => x.path === path);
    if (r) return r;
    await new Promise((res) => setTimeout(res, 25));
  }
  return undefined;
}

for (const runtime of ['node', 'quickjs', 'native'] as const) {
  test(`[${runtime}] the DD's installNotifyURI gets "900 Success" after an install, and the failure's status otherwise`, async (t) => {
    const { rig, dd } = await setup(t, runtime);
    const good = await rig.upload(makeAppPackage({ id: 'dl1', name: 'Dl1', version: '1' }), 'dl1', '1');
    dd.dd['/good.dd'] = writeDownloadDescriptor({ objectURI: good.url, size: good.size, type: 'application/x-tar', installNotifyURI: dd.base + '/notify/good' });
    await rig.run(downloadJob('g', good.pkgId, dd.base + '/good.dd', 'DownloadInstall', 'c-good'));
    t.is((await rig.alert('c-good')).resultCode, 1200);
    const ok = await report(dd, '/notify/good');
    t.deepEqual(ok, { path: '/notify/good', type: 'text/plain', body: '900 Success' });

    // The DD promises a digest the object does not have.
    dd.dd['/bad.dd'] = writeDownloadDescriptor({ objectURI: good.url, installNotifyURI: dd.base + '/notify/bad', sha256: '0'.repeat(64) });
    await rig.run(downloadJob('b', good.pkgId, dd.base + '/bad.dd', 'DownloadInstall', 'c-bad'));
    t.is((await rig.alert('c-bad')).resultCode, 1407);
    t.is((await report(dd, '/notify/bad'))?.body, '905 Attribute mismatch');

    // Downloads fine, but the installer cannot use it.
    const broken = await rig.upload(makeAppPackage({ id: 'x', name: 'X', version: '1', noManifest: true }), 'broken', '1');
    dd.dd['/broken.dd'] = writeDownloadDescriptor({ objectURI: broken.url, installNotifyURI: dd.base + '/notify/broken' });
    await rig.run(downloadJob('x', broken.pkgId, dd.base + '/broken.dd', 'DownloadInstall', 'c-broken'));
    t.is((await rig.alert('c-broken')).resultCode, 1405);
    t.is((await report(dd, '/notify/broken'))?.body, '954 Loader Error');
    t.is(dd.reports.length, 3, 'one report per job');
  });
}

test('DLOTA status lines for SCOMO result codes', (t) => {
  t.is(dlotaStatus(1200, ''), '900 Success');
  t.is(dlotaStatus(1404, ''), '901 Insufficient memory');
  t.is(dlotaStatus(1401, ''), '902 User Cancelled');
  t.is(dlotaStatus(1501, ''), '903 Loss of Service');
  t.is(dlotaStatus(1402, 'download descriptor: no objectURI'), '906 Invalid descriptor');
  t.is(dlotaStatus(1402, 'HTTP 404'), '952 Device Aborted');
  t.is(dlotaStatus(1413, ''), '953 Non-Acceptable Content');
  t.is(dlotaStatus(1500, ''), '903 Loss of Service');
  t.is(dlotaStatus(1409, ''), '952 Device Aborted');
});
