// Device-side SCOMO flows end to end over loopback: the real DM server and package repository,
// the emulated device running the real agent. The test plays the SCOMO server by queueing the
// DM commands of each flow and checks the final alert, the tree and the installed files.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRig, downloadJob, deliverJob, exec, get, type Rig } from './helpers/scomo-rig.js';
import { makeAppPackage, makeFirmware } from './helpers/packages.js';

function value(e: { outcomes?: { results?: { data?: string | Uint8Array }[] }[] }, i: number): string | undefined {
  const d = e.outcomes?.[i]?.results?.[0]?.data;
  return d === undefined ? undefined : typeof d === 'string' ? d : Buffer.from(d).toString('utf8');
}

async function withRig(t: { teardown(fn: () => Promise<void>): void }, o?: Parameters<typeof startRig>[0]): Promise<Rig> {
  const rig = await startRig(o);
  t.teardown(() => rig.close());
  return rig;
}


// The same scenarios on the three devices: Node, QuickJS (wasm), and the native C agent on Duktape.
const RUNTIMES = ['node', 'quickjs', 'native'] as const;

for (const runtime of RUNTIMES) {
  test(`[${runtime}] 5.4.2 alternate download: DownloadInstall installs, activates and reports 1200 with the Exec correlator`, async (t) => {
    const rig = await withRig(t, { runtime });
    const pkg = await rig.upload(makeAppPackage({ id: 'weather', name: 'Weather', version: '1.0.0' }), 'weather', '1.0.0');
    const e = await rig.run(downloadJob('p1', pkg.pkgId, pkg.url, 'DownloadInstall', 'job-1'));
    t.is(e.outcomes?.at(-1)?.status, 202, 'Exec is accepted for processing');
    const a = await rig.alert('job-1');
    t.is(a.resultCode, 1200);
    t.is(a.identifier, 'weather');
    t.is(a.source, './SCOMO/Download/p1/Operations/DownloadInstall');
    t.is(a.target, './SCOMO/Inventory/Deployed/weather');
    t.is(a.alert.items[0].meta?.type, 'urn:oma:at:scomo:1.0:OperationComplete');
    const inv = await rig.run([
      get('./SCOMO/Inventory/Deployed/weather/Version'), get('./SCOMO/Inventory/Deployed/weather/State'),
      get('./SCOMO/Inventory/Deployed/weather/PkgIDRef'), get('./SCOMO?prop=Type'),
    ]);
    t.is(value(inv, 0), '1.0.0');
    t.is(value(inv, 1), '20', 'DownloadInstall leaves the component active');
    t.is(value(inv, 2), pkg.pkgId);
    t.is(value(inv, 3), 'urn:oma:mo:oma-scomo:1.0');
    const comp = join(rig.dir, 'device', 'components', 'weather');
    t.true(existsSync(join(comp, 'manifest.json')));
    t.regex(readFileSync(join(comp, 'bin/run.sh'), 'utf8'), /weather 1\.0\.0/);
  });

  test(`[${runtime}] DownloadInstallInactive leaves the component inactive; Activate, Deactivate and Remove report and change State`, async (t) => {
    const rig = await withRig(t, { runtime });
    const pkg = await rig.upload(makeAppPackage({ id: 'radio', name: 'Radio', version: '2.1' }), 'radio', '2.1');
    await rig.run(downloadJob('r', pkg.pkgId, pkg.url, 'DownloadInstallInactive', 'c-inst'));
    t.is((await rig.alert('c-inst')).resultCode, 1200);
    t.is(value(await rig.run([get('./SCOMO/Inventory/Deployed/radio/State')]), 0), '10');
    await rig.run([exec('./SCOMO/Inventory/Deployed/radio/Operations/Activate', 'c-act')]);
    const act = await rig.alert('c-act');
    t.is(act.resultCode, 1200);
    t.is(act.target, './SCOMO/Inventory/Deployed/radio');
    t.is(value(await rig.run([get('./SCOMO/Inventory/Deployed/radio/State')]), 0), '20');
    await rig.run([exec('./SCOMO/Inventory/Deployed/radio/Operations/Deactivate', 'c-deact')]);
    t.is((await rig.alert('c-deact')).resultCode, 1200);
    t.is(value(await rig.run([get('./SCOMO/Inventory/Deployed/radio/State')]), 0), '10');
    await rig.run([exec('./SCOMO/Inventory/Deployed/radio/Operations/Remove', 'c-rm')]);
    t.is((await rig.alert('c-rm')).resultCode, 1200);
    const after = await rig.run([get('./SCOMO/Inventory/Deployed/radio')]);
    t.is(after.outcomes?.[0]?.status, 404, 'the Deployed node is gone');
    t.false(existsSync(join(rig.dir, 'device', 'components', 'radio')));
  });

  test(`[${runtime}] 5.4.1 DM delivery: the package is written into Delivered/<X>/Data, then Install reports 1200`, async (t) => {
    const rig = await withRig(t, { runtime });
    const bytes = makeAppPackage({ id: 'clock', name: 'Clock', version: '3.0', payloadBytes: 40_000 });
    const e = await rig.run(deliverJob('d1', 'pkg-clock', bytes, 'Install', 'c-dm'));
    t.deepEqual(e.outcomes?.map((o) => o.status), [200, 200, 200, 200, 202]);
    const a = await rig.alert('c-dm');
    t.is(a.resultCode, 1200);
    t.is(a.source, './SCOMO/Inventory/Delivered/d1/Operations/Install');
    t.is(a.target, './SCOMO/Inventory/Deployed/clock');
    t.is(readFileSync(join(rig.dir, 'device', 'components', 'clock', 'payload.bin')).length, 40_000);
    const dv = await rig.run([get('./SCOMO/Inventory/Delivered/d1/State'), get('./SCOMO/Inventory/Delivered/d1/Data')]);
    t.is(value(dv, 0), '20', 'the DP is marked Installed');
    t.is(dv.outcomes?.[1]?.status, 405, 'package Data is never readable');
  });

  test(`[${runtime}] Download alone delivers into Inventory/Delivered; a later Install deploys it`, async (t) => {
    const rig = await withRig(t, { runtime });
    const pkg = await rig.upload(makeAppPackage({ id: 'tv', name: 'TV', version: '1' }), 'tv', '1');
    await rig.run(downloadJob('t1', pkg.pkgId, pkg.url, 'Download', 'c-dl'));
    const a = await rig.alert('c-dl');
    t.is(a.resultCode, 1200);
    t.is(a.target, './SCOMO/Inventory/Delivered/t1');
    t.is(a.identifier, pkg.pkgId);
    const st = await rig.run([get('./SCOMO/Inventory/Delivered/t1/State'), get('./SCOMO/Download/t1/Status')]);
    t.is(value(st, 0), '10');
    t.is(value(st, 1), '40');
    await rig.run([exec('./SCOMO/Inventory/Delivered/t1/Operations/Install', 'c-i')]);
    t.is((await rig.alert('c-i')).resultCode, 1200);
  });

  test(`[${runtime}] an update replaces the deployed version in place`, async (t) => {
    const rig = await withRig(t, { runtime });
    const v1 = await rig.upload(makeAppPackage({ id: 'app', name: 'App', version: '1.0' }), 'app', '1.0');
    await rig.run(downloadJob('a1', v1.pkgId, v1.url, 'DownloadInstall', 'u1'));
    t.is((await rig.alert('u1')).resultCode, 1200);
    const v2 = await rig.upload(makeAppPackage({ id: 'app', name: 'App', version: '2.0' }), 'app', '2.0');
    await rig.run(downloadJob('a2', v2.pkgId, v2.url, 'DownloadInstall', 'u2'));
    t.is((await rig.alert('u2')).resultCode, 1200);
    t.is(value(await rig.run([get('./SCOMO/Inventory/Deployed/app/Version')]), 0), '2.0');
    t.regex(readFileSync(join(rig.dir, 'device', 'components', 'app', 'bin/run.sh'), 'utf8'), /app 2\.0/);
  });

  test(`[${runtime}] failures map to result codes: 404 package (1402), broken package (1405), unknown PkgType (1413)`, async (t) => {
    const rig = await withRig(t, { runtime });
    await rig.run(downloadJob('m', 'pkg-missing', `${rig.repo.base}/dl/pkg-0000000000000000`, 'DownloadInstall', 'f1'));
    const a = await rig.alert('f1');
    t.is(a.resultCode, 1402);
    t.is(value(await rig.run([get('./SCOMO/Download/m/Status')]), 0), '20', 'Download Status is DOWNLOAD_FAILED');
    const bad = await rig.upload(makeAppPackage({ id: 'x', name: 'X', version: '1', noManifest: true }), 'x', '1');
    await rig.run(downloadJob('b', bad.pkgId, bad.url, 'DownloadInstall', 'f2'));
    t.is((await rig.alert('f2')).resultCode, 1405);
    const odd = await rig.upload(new Uint8Array([1, 2, 3]), 'odd', '1', 'application/x-unknown');
    await rig.run(downloadJob('o', odd.pkgId, odd.url, 'DownloadInstall', 'f3', 'application/x-unknown'));
    t.is((await rig.alert('f3')).resultCode, 1413);
  });

  test(`[${runtime}] an A/B firmware that never confirms is rolled back and reported 1405; a healthy one commits`, async (t) => {
    const rig = await withRig(t, { runtime });
    const bad = await rig.upload(makeFirmware({ version: '9.9', healthy: false }), 'fw', '9.9', 'application/vnd.openscomo.firmware');
    await rig.run(downloadJob('fw1', bad.pkgId, bad.url, 'DownloadInstall', 'fw-bad', 'application/vnd.openscomo.firmware'));
    t.is((await rig.alert('fw-bad')).resultCode, 1405);
    const state1 = JSON.parse(readFileSync(join(rig.dir, 'device', 'firmware', 'state.json'), 'utf8'));
    t.is(state1.active, 'a', 'still on the old slot');
    t.true(state1.log.some((l: string) => /rolled back/.test(l)));
    const good = await rig.upload(makeFirmware({ version: '2.0' }), 'fw', '2.0', 'application/vnd.openscomo.firmware');
    await rig.run(downloadJob('fw2', good.pkgId, good.url, 'DownloadInstall', 'fw-good', 'application/vnd.openscomo.firmware'));
    const a = await rig.alert('fw-good');
    t.is(a.resultCode, 1200);
    t.is(a.target, './SCOMO/Inventory/Deployed/firmware');
    t.is(JSON.parse(readFileSync(join(rig.dir, 'device', 'firmware', 'state.json'), 'utf8')).active, 'b');
  });

  test(`[${runtime}] Exec pre-conditions and conflicts are refused at once`, async (t) => {
    const rig = await withRig(t, { runtime });
    const e = await rig.run([
      exec('./SCOMO/Download/nope/Operations/DownloadInstall', 'x1'),
      exec('./SCOMO/Inventory/Deployed/nope/Operations/Activate', 'x2'),
      exec('./DevInfo/Man', 'x3'),
    ]);
    t.deepEqual(e.outcomes?.map((o) => o.status), [404, 404, 425], 'no node, no node, ACL has no Exec');
    const noUrl = await rig.run([
      { kind: 'Add', cmdID: '1', items: [{ target: { locURI: './SCOMO/Download/n' }, meta: { format: 'node' } }] },
      exec('./SCOMO/Download/n/Operations/Download', 'x4'),
    ]);
    t.is(noUrl.outcomes?.[1]?.status, 412, 'Download without PkgURL/PkgID is incomplete');
    const st = await rig.run([{ kind: 'Replace', cmdID: '1', items: [{ target: { locURI: './SCOMO/Download/n/Status' }, data: '40' }] }]);
    t.is(st.outcomes?.[0]?.status, 405, 'Status is the client\'s to maintain');
  });
}

test('the QuickJS device stays within its 1 MiB heap budget through a DownloadInstall', async (t) => {
  const rig = await withRig(t, { runtime: 'quickjs' });
  const pkg = await rig.upload(makeAppPackage({ id: 'qapp', name: 'Q', version: '1.2', payloadBytes: 300_000 }), 'qapp', '1.2');
  await rig.run(downloadJob('q', pkg.pkgId, pkg.url, 'DownloadInstall', 'q1'));
  t.is((await rig.alert('q1')).resultCode, 1200);
  const peak = rig.device.peakHeap!();
  t.log(`peak QuickJS heap: ${peak} bytes`);
  t.true(peak > 100_000 && peak < 1 << 20, 'measured, and within the 1 MiB budget');
});
