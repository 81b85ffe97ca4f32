// `npm run demo`: the SCOMO server and an emulated set-top box as two processes on loopback; a
// package is signed and uploaded through the REST API, a DownloadInstall job is created, its
// progress is followed until the device (which trusts only the demo's key and refuses unsigned
// packages) reports the outcome, and the device's inventory is shown.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { appPackage } from '../ustar-writer.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const bin = join(root, 'bin', 'scomo.js');
const TOKEN = 'demo-token';
const DEVICE = 'stb-0001';
const t0 = Date.now();

function say(line: string): void {
  process.stdout.write(`${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s  ${line}\n`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

interface Child { proc: ChildProcess; lines: string[]; name: string }

function start(name: string, args: string[], show: (l: string) => boolean): Child {
  const proc = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SCOMO_API_TOKEN: TOKEN } });
  const c: Child = { proc, lines: [], name };
  const feed = (buf: Buffer): void => {
    for (const l of buf.toString('utf8').split('\n')) {
      if (!l.trim()) continue;
      c.lines.push(l);
      if (show(l)) say(`[${name}] ${l.replace(/^\d\d:\d\d:\d\d\.\d+ /, '')}`);
    }
  };
  proc.stdout!.on('data', feed);
  proc.stderr!.on('data', feed);
  return c;
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function api<T>(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body instanceof Uint8Array ? {} : { 'Content-Type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: body instanceof Uint8Array ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

export async function run(): Promise<number> {
  const dir = join(root, '.scomo-demo');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const children: Child[] = [];
  const stop = (): void => { for (const c of children) c.proc.kill('SIGTERM'); };
  process.once('SIGINT', () => { stop(); process.exit(130); });
  try {
    say('starting the SCOMO server');
    const server = start('server', ['server', '--port', String(port), '--host', '127.0.0.1', '--data', join(dir, 'server'), '--api-token', TOKEN], () => false);
    children.push(server);
    await until('the server to listen', () => server.lines.some((l) => l.includes(String(port))) ? true : server.proc.exitCode !== null ? Promise.reject(new Error('server exited: ' + server.lines.join(' | '))) : undefined, 15_000);
    say(`server listening on ${base} (DM endpoint ${base}/dm)`);
    const acc = spawnSync(process.execPath, [bin, 'account', 'add', DEVICE, '--client-user', DEVICE, '--client-secret', 'stb-secret',
      '--server-id', 'scomo-demo', '--server-secret', 'server-secret', '--auth', 'md5', '--data', join(dir, 'server')], { encoding: 'utf8' });
    if (acc.status !== 0) throw new Error('account add failed: ' + (acc.stderr || acc.stdout).trim());
    say(`provisioned device account ${DEVICE} (MD5 digest auth both ways)`);
    // The publisher's signing key; the device gets only its public half.
    const signer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const trustKey = join(dir, 'publisher.pub.pem');
    writeFileSync(trustKey, signer.publicKey.export({ type: 'spki', format: 'pem' }));
    const device = start('device', ['device', '--server', `${base}/dm`, '--id', DEVICE, '--client-user', DEVICE, '--client-secret', 'stb-secret',
      '--server-id', 'scomo-demo', '--server-secret', 'server-secret', '--auth', 'md5', '--encoding', 'wbxml',
      '--data', join(dir, 'device'), '--notify-port', '0', '--trust-key', trustKey, '--require-signature'], (l) => !/ debug /.test(l));
    children.push(device);
    await until('the device\'s first session', () => device.lines.some((l) => /DM session ended: ok/.test(l)) ? true : undefined, 20_000);

    const pkg = appPackage({ id: 'hello-tv', name: 'Hello TV', version: '1.0.0', description: 'A demo application' }, {
      'bin/hello.sh': '#!/bin/sh\necho "Hello from Hello TV 1.0.0"\n',
      'assets/splash.bin': new Uint8Array(randomBytes(768 * 1024)),
    });
    const signature = 'ecdsa-p256-sha256:' + sign('sha256', pkg, signer.privateKey).toString('base64');
    const up = await api<{ pkgId: string; url: string; sha256: string; size: number }>(base, 'POST', '/api/packages?name=hello-tv&version=1.0.0&type=application/x-tar',
      new Uint8Array(pkg), { 'X-Scomo-Signature': signature });
    say(`uploaded package ${up.pkgId} (${up.size} bytes, sha256 ${up.sha256.slice(0, 16)}…, ECDSA P-256 signature)`);
    const job = await api<{ jobId: string }>(base, 'POST', `/api/devices/${DEVICE}/jobs`, { operation: 'DownloadInstall', pkgId: up.pkgId, delivery: 'alternate' });
    say(`created DownloadInstall job ${job.jobId}; the server sends package 0 to the device`);
    let last = '';
    const final = await until('the job to finish', async () => {
      const j = await api<{ state: string; resultCode?: number }>(base, 'GET', `/api/jobs/${job.jobId}`);
      if (j.state !== last) { say(`job ${job.jobId}: ${j.state}${j.resultCode ? ` (result ${j.resultCode})` : ''}`); last = j.state; }
      return j.state === 'succeeded' || j.state === 'failed' ? j : undefined;
    }, 45_000);
    if (final.state !== 'succeeded') throw new Error(`job failed with result ${final.resultCode}`);
    const inv = await api<{ deployed: { id: string; name: string; version: string; state: string }[]; delivered: { pkgId: string; name: string; state: string }[] }>(base, 'GET', `/api/devices/${DEVICE}/inventory?refresh=1`);
    say(`inventory of ${DEVICE}:`);
    process.stdout.write('        deployed:\n');
    for (const d of inv.deployed) process.stdout.write(`          ${d.id.padEnd(12)} ${d.name.padEnd(12)} ${d.version.padEnd(8)} ${d.state}\n`);
    if (!inv.deployed.length) process.stdout.write('          (none)\n');
    process.stdout.write('        delivered:\n');
    for (const d of inv.delivered) process.stdout.write(`          ${d.pkgId.padEnd(22)} ${d.name.padEnd(12)} ${d.state}\n`);
    if (!inv.delivered.length) process.stdout.write('          (none)\n');
    say(`done: the component is installed in ${join('.scomo-demo', 'device', 'components', 'hello-tv')}`);
    return 0;
  } catch (e) {
    say('demo failed: ' + (e instanceof Error ? e.message : String(e)));
    return 1;
  } finally {
    stop();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().then((c) => { process.exitCode = c; setTimeout(() => process.exit(c), 500).unref(); });
}
