// Every SCOMO primitive through the product as a user runs it: `scomo server` and `scomo device`
// as separate processes on loopback, jobs created through the REST API, the device reached by
// package 0 on its UDP port, outcomes and inventory read back through the API.
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeAppPackage } from './helpers/packages.js';

const BIN = 'bin/scomo.js';
const TOKEN = 'proc-token';

interface Proc { p: ChildProcess; out: string[] }

function run(args: string[]): Proc {
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  p.stdout!.on('data', (b: Buffer) => out.push(...b.toString().split('\n').filter(Boolean)));
  p.stderr!.on('data', (b: Buffer) => out.push(...b.toString().split('\n').filter(Boolean)));
  return { p, out };
}

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Json = Record<string, unknown>;

interface World {
  dir: string;
  base: string;
  api(method: string, path: string, body?: unknown): Promise<Json>;
  upload(bytes: Uint8Array, name: string, version: string, type?: string): Promise<string>;
  /** Creates a job for stb-p and waits for its outcome. */
  job(body: Json): Promise<Json>;
  inventory(): Promise<{ deployed: { id: string; version: string; state: string }[]; delivered: { pkgId: string; state: string }[] }>;
}

/** `scomo server` and `scomo device` (with `deviceArgs`) as processes; the account stb-p. */
async function world(t: { teardown(fn: () => void): void; is(a: unknown, b: unknown, m?: string): void }, deviceArgs: string[] = [], serverArgs: string[] = []): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'scomo-proc-'));
  const procs: Proc[] = [];
  t.teardown(() => { for (const x of procs) x.p.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); });
  const server = run(['server', '--port', '0', '--host', '127.0.0.1', '--data', join(dir, 'srv'), '--api-token', TOKEN, '--quiet', ...serverArgs]);
  procs.push(server);
  const dmUrl = await waitFor('the server URL', () => server.out.map((l) => /listening on (http:\/\/\S+\/dm)/.exec(l)?.[1]).find(Boolean));
  const base = dmUrl.replace(/\/dm$/, '');
  const acc = spawnSync(process.execPath, [BIN, 'account', 'add', 'stb-p', '--client-user', 'stb-p', '--client-secret', 'cs', '--server-id', 'srv', '--server-secret', 'ss', '--auth', 'hmac', '--data', join(dir, 'srv')], { encoding: 'utf8' });
  t.is(acc.status, 0, acc.stderr);
  const device = run(['device', '--server', dmUrl, '--id', 'stb-p', '--client-user', 'stb-p', '--client-secret', 'cs', '--server-id', 'srv',
    '--server-secret', 'ss', '--auth', 'hmac', '--encoding', 'wbxml', '--data', join(dir, 'dev'), '--notify-port', '0', ...deviceArgs]);
  procs.push(device);
  await waitFor('the device\'s first session', () => device.out.some((l) => /DM session ended: ok/.test(l)) || undefined);

  const api = async (method: string, path: string, body?: unknown): Promise<Json> => {
    const r = await fetch(base + path, {
      method, headers: { Authorization: `Bearer ${TOKEN}`, ...(body && !(body instanceof Uint8Array) ? { 'Content-Type': 'application/json' } : {}) },
      ...(body === undefined ? {} : { body: body instanceof Uint8Array ? body : JSON.stringify(body) }),
    });
    const j = await r.json() as Record<string, unknown>;
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
    return j;
  };
  const upload = async (bytes: Uint8Array, name: string, version: string, type = 'application/x-tar'): Promise<string> =>
    (await api('POST', `/api/packages?name=${name}&version=${version}&type=${encodeURIComponent(type)}`, new Uint8Array(bytes))).pkgId as string;
  const job = async (body: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const { jobId } = await api('POST', '/api/devices/stb-p/jobs', body);
    return waitFor(`job ${String(jobId)}`, async () => {
      const j = await api('GET', `/api/jobs/${String(jobId)}`);
      return j.state === 'succeeded' || j.state === 'failed' ? j : undefined;
    }, 30_000);
  };
  const inventory = async (): Promise<{ deployed: { id: string; version: string; state: string }[]; delivered: { pkgId: string; state: string }[] }> =>
    await api('GET', '/api/devices/stb-p/inventory?refresh=1') as never;
  return { dir, base, api, upload, job, inventory };
}

test('every primitive, with server and device as separate processes', async (t) => {
  const { upload, job, inventory } = await world(t);

  const a1 = await upload(makeAppPackage({ id: 'news', name: 'News', version: '1.0' }), 'news', '1.0');
  const r1 = await job({ operation: 'DownloadInstall', pkgId: a1, delivery: 'alternate' });
  t.is(r1.state, 'succeeded'); t.is(r1.resultCode, 1200);
  t.deepEqual((await inventory()).deployed.map((d) => `${d.id}@${d.version}:${d.state}`), ['news@1.0:active']);

  t.is((await job({ operation: 'Deactivate', componentId: 'news' })).resultCode, 1200);
  t.deepEqual((await inventory()).deployed.map((d) => d.state), ['inactive']);
  t.is((await job({ operation: 'Activate', componentId: 'news' })).resultCode, 1200);
  t.deepEqual((await inventory()).deployed.map((d) => d.state), ['active']);

  const a2 = await upload(makeAppPackage({ id: 'mail', name: 'Mail', version: '2.0' }), 'mail', '2.0');
  t.is((await job({ operation: 'DownloadInstallInactive', pkgId: a2, delivery: 'dm' })).resultCode, 1200, 'DM delivery');
  const inv2 = await inventory();
  t.deepEqual(inv2.deployed.map((d) => `${d.id}:${d.state}`).sort(), ['mail:inactive', 'news:active']);

  const a3 = await upload(makeAppPackage({ id: 'games', name: 'Games', version: '3' }), 'games', '3');
  t.is((await job({ operation: 'Download', pkgId: a3, delivery: 'alternate' })).resultCode, 1200);
  t.true((await inventory()).delivered.some((d) => d.pkgId === a3), 'delivered, not installed yet');
  t.is((await job({ operation: 'Install', pkgId: a3 })).resultCode, 1200);

  t.is((await job({ operation: 'Remove', componentId: 'news' })).resultCode, 1200);
  t.false((await inventory()).deployed.some((d) => d.id === 'news'));

  const broken = await upload(makeAppPackage({ id: 'x', name: 'X', version: '1', noManifest: true }), 'broken', '1');
  const f1 = await job({ operation: 'DownloadInstall', pkgId: broken, delivery: 'alternate' });
  t.is(f1.state, 'failed'); t.is(f1.resultCode, 1405);
  const odd = await upload(new Uint8Array([1, 2, 3, 4]), 'odd', '1', 'application/x-unknown');
  const f2 = await job({ operation: 'DownloadInstall', pkgId: odd, delivery: 'alternate' });
  t.is(f2.state, 'failed'); t.is(f2.resultCode, 1413);
});

test('signed packages, with server and device as separate processes: scomo package upload --sign-key, scomo device --trust-key --require-signature', async (t) => {
  const keys = mkdtempSync(join(tmpdir(), 'scomo-proc-keys-'));
  t.teardown(() => rmSync(keys, { recursive: true, force: true }));
  const signer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const stranger = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(join(keys, 'key.pem'), signer.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(keys, 'stranger.pem'), stranger.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(keys, 'pub.pem'), signer.publicKey.export({ type: 'spki', format: 'pem' }));
  const w = await world(t, ['--trust-key', join(keys, 'pub.pem'), '--require-signature']);
  /** `scomo package upload` as a user runs it; returns the new pkgId. */
  const cliUpload = (bytes: Uint8Array, name: string, key: string | undefined): string => {
    const file = join(keys, name + '.tar');
    writeFileSync(file, bytes);
    const r = spawnSync(process.execPath, [BIN, 'package', 'upload', file, '--name', name, '--version', '1', '--type', 'application/x-tar',
      '--server', w.base, '--token', TOKEN, ...(key ? ['--sign-key', join(keys, key)] : [])], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    const id = /pkg-[0-9a-z]+/.exec(r.stdout)?.[0];
    if (!id) throw new Error('no pkgId in: ' + r.stdout);
    return id;
  };
  const good = cliUpload(makeAppPackage({ id: 'safe', name: 'Safe', version: '1' }), 'safe', 'key.pem');
  t.regex(String((await w.api('GET', '/api/packages/' + good)).signature), /^ecdsa-p256-sha256:/);
  const r1 = await w.job({ operation: 'DownloadInstall', pkgId: good, delivery: 'alternate' });
  t.is(r1.state, 'succeeded'); t.is(r1.resultCode, 1200);
  const dm = cliUpload(makeAppPackage({ id: 'safe-dm', name: 'SafeDm', version: '1' }), 'safedm', 'key.pem');
  t.is((await w.job({ operation: 'DownloadInstall', pkgId: dm, delivery: 'dm' })).resultCode, 1200, 'DM delivery');

  const forged = cliUpload(makeAppPackage({ id: 'evil', name: 'Evil', version: '1' }), 'evil', 'stranger.pem');
  const f1 = await w.job({ operation: 'DownloadInstall', pkgId: forged, delivery: 'alternate' });
  t.is(f1.state, 'failed'); t.is(f1.resultCode, 1407);
  const plain = cliUpload(makeAppPackage({ id: 'plain', name: 'Plain', version: '1' }), 'plain', undefined);
  const f2 = await w.job({ operation: 'DownloadInstall', pkgId: plain, delivery: 'dm' });
  t.is(f2.state, 'failed'); t.is(f2.resultCode, 1407);
  t.deepEqual((await w.inventory()).deployed.map((d) => d.id).sort(), ['safe', 'safe-dm']);
});

test('download failure result codes, with server and device as separate processes: 1402, 1403, 1404, 1500, 1501', async (t) => {
  // The server hands out download URLs on a port of ours (--public-url): a proxy that passes a
  // package through to the server, or answers for it as a failing download server would.
  const faults = new Map<string, 'status404' | 'status401' | 'status500' | 'reset'>();
  let target = '';
  const proxy = createServer((req, res) => {
    const id = /\/dl\/(pkg-[0-9a-f]+)/.exec(req.url ?? '')?.[1] ?? '';
    const f = faults.get(id);
    if (f === 'reset') { req.socket.destroy(); return; }
    if (f) { res.writeHead(Number(f.slice(6))).end(); return; }
    void fetch(target + (req.url ?? ''), { headers: req.headers.range ? { Range: req.headers.range } : {} }).then(async (r) => {
      const h: Record<string, string> = {};
      r.headers.forEach((v, k) => { h[k] = v; });
      res.writeHead(r.status, h).end(Buffer.from(await r.arrayBuffer()));
    }, () => res.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.teardown(() => proxy.close());
  const w = await world(t, ['--download-retries', '1', '--download-backoff-ms', '50', '--max-package-bytes', '300000'],
    ['--public-url', `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`]);
  target = w.base;
  const outcome = async (id: string, fault?: 'status404' | 'status401' | 'status500' | 'reset'): Promise<unknown> => {
    if (fault) faults.set(id, fault);
    const r = await w.job({ operation: 'DownloadInstall', pkgId: id, delivery: 'alternate' });
    t.is(r.state, r.resultCode === 1200 ? 'succeeded' : 'failed');
    return r.resultCode;
  };
  const small = (n: string) => w.upload(makeAppPackage({ id: n, name: n, version: '1' }), n, '1');
  t.is(await outcome(await small('fine')), 1200, 'through the proxy untouched');
  t.is(await outcome(await small('gone'), 'status404'), 1402);
  t.is(await outcome(await small('locked'), 'status401'), 1403);
  t.is(await outcome(await small('broken-server'), 'status500'), 1500);
  t.is(await outcome(await small('unreachable'), 'reset'), 1501);
  const big = await w.upload(makeAppPackage({ id: 'big', name: 'big', version: '1', payloadBytes: 400_000 }), 'big', '1');
  t.is(await outcome(big), 1404, 'bigger than the device\'s package storage');
  t.deepEqual((await w.inventory()).deployed.map((d) => d.id), ['fine']);
});
