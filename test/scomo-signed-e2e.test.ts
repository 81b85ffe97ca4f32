// A signed package end to end: the SCOMO server and the real emulated device (targets/node) with
// a trusted key and --require-signature. Alternate download (the device reads the signature from
// the .dd it is pointed at) and DM delivery (from Inventory/Delivered/<X>/Ext/Signature) install;
// a package signed by another key, and an unsigned one, fail with result 1407.
import test from 'ava';
import { generateKeyPairSync, sign, KeyObject } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnv, addDevice, ACCOUNT, TOKEN, Env } from './helpers/scomo-e2e.js';
import { makeAppPackage } from './helpers/packages.js';
import { startDevice } from '../targets/node/device.js';

async function signedUpload(e: Env, bytes: Uint8Array, key: KeyObject): Promise<string> {
  const sig = 'ecdsa-p256-sha256:' + sign('sha256', bytes, key).toString('base64');
  const r = await fetch(`${e.srv.url}/api/packages?name=s&version=1&type=application/x-tar`, {
    method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'X-Scomo-Signature': sig }, body: bytes,
  });
  if (r.status !== 201) throw new Error('upload: ' + r.status + ' ' + (await r.text()));
  return ((await r.json()) as { pkgId: string }).pkgId;
}

test('signed packages install on a device that trusts the key (alternate and dm); wrong key or unsigned -> 1407', async (t) => {
  const e = await startEnv();
  await addDevice(e, 'dev-sig');
  const trusted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dev = await startDevice({
    server: e.srv.dmUrl, id: 'dev-sig', ...ACCOUNT, auth: 'basic', encoding: 'xml', dataDir: mkdtempSync(join(tmpdir(), 'scomo-dev-sig-')),
    notifyPort: 0, trustKeys: [trusted.publicKey.export({ type: 'spki', format: 'pem' }) as string], requireSignature: true,
  });
  try {
    await dev.waitIdle(15_000);
    await e.srv.storage.updateAccount('dev-sig', { notifyHost: '127.0.0.1', notifyPort: dev.notifyPort });
    const cases = [['alternate', trusted, 'succeeded'], ['dm', trusted, 'succeeded'], ['alternate', other, 'failed'], ['dm', other, 'failed']] as const;
    let n = 0;
    for (const [delivery, key, want] of cases) {
      const pkgId = await signedUpload(e, makeAppPackage({ id: 'com.example.signed' + n++, name: 'S', version: '1.0' }), key.privateKey);
      const j = await e.api<{ jobId: string }>('POST', '/api/devices/dev-sig/jobs', { operation: 'DownloadInstall', pkgId, delivery });
      const done = await e.waitJob(j.json.jobId, 30_000);
      t.is(done.state, want, `${delivery} ${JSON.stringify(done)}`);
      t.is(done.resultCode, want === 'succeeded' ? 1200 : 1407);
    }
    const pkg = await e.upload(makeAppPackage({ id: 'com.example.unsigned', name: 'U', version: '1.0' }), 'u', '1');
    const j = await e.api<{ jobId: string }>('POST', '/api/devices/dev-sig/jobs', { operation: 'DownloadInstall', pkgId: pkg.pkgId });
    const done = await e.waitJob(j.json.jobId, 30_000);
    t.is(done.resultCode, 1407);
  } finally {
    await dev.close();
    await e.close();
  }
});
