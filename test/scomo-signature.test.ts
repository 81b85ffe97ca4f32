// Package signatures on the device, end to end over loopback: the real DM server, package
// repository and emulated device. A signed package (signature in an Ext/Signature leaf of the
// Download/<X> or Delivered/<X> node, or in the download descriptor) installs only when it
// verifies against a key the device trusts; otherwise the job reports 1407 and nothing is
// deployed. Runs on the Node, QuickJS and native C devices.
import test from 'ava';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { startRig, downloadJob, deliverJob, exec, get, leaf, type Rig, type RigOptions } from './helpers/scomo-rig.js';
import { makeAppPackage } from './helpers/packages.js';
import type { VerifyRequest } from '../src/agent/host.js';

const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keyDir = mkdtempSync(join(tmpdir(), 'scomo-sigkeys-'));
const PUB = join(keyDir, 'trusted.pem');
writeFileSync(PUB, keys.publicKey.export({ type: 'spki', format: 'pem' }));

function signature(bytes: Uint8Array, key: KeyObject = keys.privateKey): string {
  return 'ecdsa-p256-sha256:' + sign('sha256', bytes, key).toString('base64');
}

function value(e: { outcomes?: { results?: { data?: string | Uint8Array }[] }[] }, i: number): string | undefined {
  const d = e.outcomes?.[i]?.results?.[0]?.data;
  return d === undefined ? undefined : typeof d === 'string' ? d : Buffer.from(d).toString('utf8');
}

async function withRig(t: { teardown(fn: () => Promise<void>): void }, o: RigOptions): Promise<Rig> {
  const rig = await startRig(o);
  t.teardown(() => rig.close());
  return rig;
}

/** Download/<X> commands with an Ext/Signature leaf before the Exec. */
function signedDownload(x: string, pkgId: string, url: string, op: string, corr: string, sig: string) {
  const cmds = downloadJob(x, pkgId, url, op, corr);
  cmds.splice(cmds.length - 1, 0, leaf('./SCOMO/Download/' + x + '/Ext/Signature', sig));
  return cmds;
}

/** Delivered/<X> commands with an Ext/Signature leaf before the Data. */
function signedDelivery(x: string, pkgId: string, bytes: Uint8Array, op: string, corr: string, sig: string) {
  const cmds = deliverJob(x, pkgId, bytes, op, corr);
  cmds.splice(cmds.length - 2, 0, leaf('./SCOMO/Inventory/Delivered/' + x + '/Ext/Signature', sig));
  return cmds;
}

const trusted = { trustKeys: [PUB] };

for (const runtime of ['node', 'quickjs', 'native'] as const) {
  test(`[${runtime}] a signed package installs when its signature verifies against a trusted key`, async (t) => {
    const rig = await withRig(t, { runtime, device: trusted });
    const bytes = makeAppPackage({ id: 'signed', name: 'Signed', version: '1.0', payloadBytes: 150_000 });
    const pkg = await rig.upload(bytes, 'signed', '1.0');
    await rig.run(signedDownload('s1', pkg.pkgId, pkg.url, 'DownloadInstall', 'c-ok', signature(bytes)));
    const a = await rig.alert('c-ok');
    t.is(a.resultCode, 1200);
    t.is(a.target, './SCOMO/Inventory/Deployed/signed');
    t.true(existsSync(join(rig.dir, 'device', 'components', 'signed', 'manifest.json')));
  });

  test(`[${runtime}] a package whose signature does not verify is refused with 1407 and nothing is deployed`, async (t) => {
    const rig = await withRig(t, { runtime, device: trusted });
    const bytes = makeAppPackage({ id: 'forged', name: 'Forged', version: '1.0' });
    const pkg = await rig.upload(bytes, 'forged', '1.0');
    // Signed by a key the device does not trust.
    await rig.run(signedDownload('f1', pkg.pkgId, pkg.url, 'DownloadInstall', 'c-bad', signature(bytes, other.privateKey)));
    const a = await rig.alert('c-bad');
    t.is(a.resultCode, 1407);
    t.is(a.source, './SCOMO/Download/f1/Operations/DownloadInstall');
    t.false(existsSync(join(rig.dir, 'device', 'components', 'forged')));
    const e = await rig.run([get('./SCOMO/Inventory/Deployed/forged'), get('./SCOMO/Download/f1/Status'), get('./SCOMO/Inventory/Delivered/f1')]);
    t.is(e.outcomes?.[0]?.status, 404);
    t.is(value(e, 1), '20', 'Download/<X>/Status is Download Failed');
    t.is(e.outcomes?.[2]?.status, 404, 'a forged package never becomes a Delivered DP');
  });

  test(`[${runtime}] DM delivery: Install verifies the Delivered/<X>/Ext/Signature first (1200 good, 1407 tampered)`, async (t) => {
    const rig = await withRig(t, { runtime, device: trusted });
    const bytes = makeAppPackage({ id: 'dmsig', name: 'DmSig', version: '2.0', payloadBytes: 30_000 });
    await rig.run(signedDelivery('d1', 'pkg-dmsig', bytes, 'Install', 'c-dm-ok', signature(bytes)));
    t.is((await rig.alert('c-dm-ok')).resultCode, 1200);
    const tampered = Buffer.from(bytes);
    const sig = signature(tampered);
    tampered[tampered.length - 600] ^= 0x55; // inside the payload file, after signing
    await rig.run(signedDelivery('d2', 'pkg-dmsig2', tampered, 'Install', 'c-dm-bad', sig));
    const a = await rig.alert('c-dm-bad');
    t.is(a.resultCode, 1407);
    t.is(a.target, './SCOMO/Inventory/Delivered/d2');
    const e = await rig.run([get('./SCOMO/Inventory/Delivered/d2/Status'), get('./SCOMO/Inventory/Delivered/d2/State')]);
    t.is(value(e, 0), '50', 'Install Failed With Data: the server may Remove it');
    t.is(value(e, 1), '10', 'still Delivered, not Installed');
  });
}

test('[node] a device with no trusted key refuses a signed package (1407); an unsigned one still installs', async (t) => {
  const rig = await withRig(t, { runtime: 'node' });
  const bytes = makeAppPackage({ id: 'nokey', name: 'NoKey', version: '1' });
  const pkg = await rig.upload(bytes, 'nokey', '1');
  await rig.run(signedDownload('n1', pkg.pkgId, pkg.url, 'DownloadInstall', 'c-nokey', signature(bytes)));
  t.is((await rig.alert('c-nokey')).resultCode, 1407);
  await rig.run(downloadJob('n2', pkg.pkgId, pkg.url, 'DownloadInstall', 'c-plain'));
  t.is((await rig.alert('c-plain')).resultCode, 1200);
});

test('[node] --require-signature: an unsigned package is refused with 1407, a signed one installs', async (t) => {
  const rig = await withRig(t, { runtime: 'node', device: { ...trusted, requireSignature: true } });
  const bytes = makeAppPackage({ id: 'strict', name: 'Strict', version: '1' });
  const pkg = await rig.upload(bytes, 'strict', '1');
  await rig.run(downloadJob('u1', pkg.pkgId, pkg.url, 'DownloadInstall', 'c-unsigned'));
  t.is((await rig.alert('c-unsigned')).resultCode, 1407);
  t.false(existsSync(join(rig.dir, 'device', 'components', 'strict')));
  await rig.run(deliverJob('u2', 'pkg-strict', bytes, 'Install', 'c-unsigned-dm'));
  t.is((await rig.alert('c-unsigned-dm')).resultCode, 1407);
  await rig.run(signedDownload('u3', pkg.pkgId, pkg.url, 'DownloadInstall', 'c-signed', signature(bytes)));
  t.is((await rig.alert('c-signed')).resultCode, 1200);
});

test('[node] a malformed signature leaf is refused with 1407 without calling the host', async (t) => {
  const rig = await withRig(t, { runtime: 'node', device: trusted });
  let calls = 0;
  const host = rig.device.host!;
  const real = host.verifyPackage.bind(host);
  host.verifyPackage = (id: number, req: VerifyRequest) => { calls++; real(id, req); };
  const bytes = makeAppPackage({ id: 'junk', name: 'Junk', version: '1' });
  const pkg = await rig.upload(bytes, 'junk', '1');
  await rig.run(signedDownload('j1', pkg.pkgId, pkg.url, 'DownloadInstall', 'c-junk', 'md5:AAAA'));
  t.is((await rig.alert('c-junk')).resultCode, 1407);
  t.is(calls, 0);
});

test('[node] Download then Install: the signature follows the DP into Delivered/<X>/Ext/Signature and is checked again', async (t) => {
  const rig = await withRig(t, { runtime: 'node', device: trusted });
  const reqs: VerifyRequest[] = [];
  const host = rig.device.host!;
  const real = host.verifyPackage.bind(host);
  host.verifyPackage = (id: number, req: VerifyRequest) => { reqs.push(req); real(id, req); };
  const bytes = makeAppPackage({ id: 'later', name: 'Later', version: '1' });
  const pkg = await rig.upload(bytes, 'later', '1');
  const sig = signature(bytes);
  await rig.run(signedDownload('l1', pkg.pkgId, pkg.url, 'Download', 'c-dl', sig));
  const a = await rig.alert('c-dl');
  t.is(a.resultCode, 1200);
  t.is(a.target, './SCOMO/Inventory/Delivered/l1');
  t.is(value(await rig.run([get('./SCOMO/Inventory/Delivered/l1/Ext/Signature')]), 0), sig);
  await rig.run([exec('./SCOMO/Inventory/Delivered/l1/Operations/Install', 'c-inst')]);
  t.is((await rig.alert('c-inst')).resultCode, 1200);
  t.is(reqs.length, 2, 'verified after the download and again before the install');
  t.is(reqs[0].alg, 'ecdsa-p256-sha256');
  t.is(reqs[0].sha256, pkg.sha256, 'the download path hands the verifier the SHA-256 it computed');
  t.is(reqs[0].size, bytes.length);
});

test('[node] a reboot while the signature is being verified verifies again and reports exactly one outcome', async (t) => {
  const rig = await withRig(t, { runtime: 'node', device: trusted });
  const host = rig.device.host!;
  let asked = 0;
  host.verifyPackage = () => { asked++; }; // never completes: power is lost mid-verification
  const bytes = makeAppPackage({ id: 'reboot', name: 'Reboot', version: '1' });
  const pkg = await rig.upload(bytes, 'reboot', '1');
  await rig.run(signedDownload('r1', pkg.pkgId, pkg.url, 'DownloadInstall', 'c-reboot', signature(bytes)));
  for (let i = 0; i < 200 && asked === 0; i++) await new Promise((r) => setTimeout(r, 25));
  t.is(asked, 1);
  t.is(rig.device.status()?.jobs[0]?.state, 'verifying');
  await rig.reboot();
  const a = await rig.alert('c-reboot');
  t.is(a.resultCode, 1200);
  await rig.device.waitIdle(20_000);
  t.is(rig.alerts.filter((x) => x.correlator === 'c-reboot').length, 1);
  t.true(existsSync(join(rig.dir, 'device', 'components', 'reboot', 'manifest.json')));
});
