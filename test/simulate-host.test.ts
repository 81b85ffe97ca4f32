// The simulated device's host pieces: in-memory package storage and the manifest-reading installer.
import test from 'ava';
import http from 'node:http';
import { MemPackages, SimHost, readManifest, RC_OK, RC_INSTALL_FAILED } from '../src/server/fleet/sim-host.js';
import { fleetSpecs } from '../src/server/fleet/provision.js';
import { makeAppPackage } from './helpers/packages.js';

test('MemPackages appends, reads, truncates, limits and removes', (t) => {
  const p = new MemPackages(10);
  t.is(p.open('k'), 'ok');
  t.is(p.append('k', new Uint8Array([1, 2, 3])), 'ok');
  t.is(p.append('k', new Uint8Array([4, 5])), 'ok');
  t.is(p.size('k'), 5);
  t.deepEqual([...p.read('k', 1, 3)], [2, 3, 4]);
  t.is(p.truncate('k', 2), 'ok');
  t.deepEqual([...p.read('k', 0, 10)], [1, 2]);
  t.is(p.append('k', new Uint8Array(9)), 'no-space');
  t.is(p.append('nope', new Uint8Array(1)), 'error');
  p.remove('k');
  t.is(p.size('k'), 0);
});

test('readManifest finds manifest.json in a ustar, and says why when it cannot', (t) => {
  const good = makeAppPackage({ id: 'com.example.m', name: 'M', version: '3.1', description: 'd' });
  t.deepEqual(readManifest((o, n) => good.subarray(o, o + n), good.length), { id: 'com.example.m', name: 'M', version: '3.1', description: 'd' });
  const none = makeAppPackage({ id: 'x', name: 'X', version: '1', noManifest: true });
  t.is(readManifest((o, n) => none.subarray(o, o + n), none.length), 'manifest.json missing');
  const junk = new Uint8Array(1024).fill(7);
  t.regex(String(readManifest((o, n) => junk.subarray(o, o + n), junk.length)), /not a valid ustar/);
});

test('the SimHost installer deploys the manifest\'s component, or reports 1405', async (t) => {
  const agent = new http.Agent();
  const host = new SimHost({ httpAgent: agent });
  const results: { id: number; code: number; component?: unknown }[] = [];
  host.agent = {
    onInstallDone: (id: number, r: { resultCode: number; component?: unknown }) => results.push({ id, code: r.resultCode, component: r.component }),
  } as unknown as SimHost['agent'];
  for (const [key, bytes] of [['a', makeAppPackage({ id: 'com.example.a', name: 'A', version: '1' })], ['b', makeAppPackage({ id: 'b', name: 'B', version: '1', noManifest: true })]] as const) {
    host.packages.open(key);
    host.packages.append(key, new Uint8Array(bytes));
  }
  host.install(1, { pkgId: 'p-a', pkgType: 'application/x-tar', storageKey: 'a', size: host.packages.size('a'), activate: true });
  host.install(2, { pkgId: 'p-b', pkgType: 'application/x-tar', storageKey: 'b', size: host.packages.size('b'), activate: true });
  host.install(3, { pkgId: 'p-c', pkgType: 'application/x-firmware', storageKey: 'a', size: 1, activate: true });
  await new Promise((r) => setImmediate(r));
  t.deepEqual(results.map((r) => [r.id, r.code]), [[1, RC_OK], [2, RC_INSTALL_FAILED], [3, 1413]]);
  t.deepEqual(results[0].component, { id: 'com.example.a', name: 'A', version: '1' });
  t.is(host.components.get('com.example.a')?.active, true);
  t.deepEqual(host.installStatus('p-a'), { resultCode: RC_OK, component: { id: 'com.example.a', name: 'A', version: '1' } });
  t.is(host.installStatus('p-b'), undefined);
  host.close();
  agent.destroy();
});

test('fleet specs: zero-padded ids with a prefix, one shared set of secrets', (t) => {
  const s = fleetSpecs(12, 'x-', 'md5');
  t.is(s.length, 12);
  t.is(s[0].deviceId, 'x-00');
  t.is(s[11].deviceId, 'x-11');
  t.is(s[0].clientUser, 'x-00');
  t.true(s.every((d) => d.clientSecret === s[0].clientSecret && d.auth === 'md5'));
});
