// `scomo device` run as a user runs it (a process) in a hostile or broken environment: a data
// directory it cannot use, a damaged flash image or installer state, servers that are down,
// answer garbage or never answer, bad --ca / --trust-key files, a busy notification port.
// Each must end with a one-line reason and exit 1 (no stack trace, no hang) and leave the files
// it found as they were; a server that comes back later gets a completed session.
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../src/server/app.js';
import { crc32Update } from '../src/crypto/crc32.js';
import { startEnv, addDevice, ACCOUNT } from './helpers/scomo-e2e.js';
import { makeAppPackage } from './helpers/packages.js';
import { startDevice } from '../targets/node/device.js';

interface Run { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

function device(args: string[], kill?: (p: ReturnType<typeof spawn>) => void): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['bin/scomo.js', 'device', ...args, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (b: Buffer) => { stdout += b.toString(); });
    p.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    // A hang is a failure: the test sees a kill (status null), not a stuck suite.
    const guard = setTimeout(() => p.kill('SIGKILL'), 40_000);
    kill?.(p);
    p.on('close', (status, signal) => { clearTimeout(guard); resolve({ status, signal, stdout, stderr, ms: Date.now() - t0 }); });
  });
}

const creds = (id: string): string[] => ['--id', id, '--client-user', id, '--client-secret', 'cs', '--server-id', 'srv', '--server-secret', 'ss', '--auth', 'md5'];
const NOWHERE = 'http://127.0.0.1:9/dm';

function dir(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'scomo-devenv-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Exit 1, one line on stderr matching `re`, no stack frame or uncaught-exception text. */
function oneLineFailure(t: { is(a: unknown, b: unknown, m?: string): void; regex(s: string, r: RegExp, m?: string): void; notRegex(s: string, r: RegExp, m?: string): void }, r: Run, re: RegExp): void {
  t.is(r.status, 1, `exit status (stderr: ${r.stderr})`);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0], re);
  t.notRegex(r.stderr + r.stdout, /\n\s+at |Uncaught|node:internal|TypeError|RangeError/, 'no stack trace or raw exception');
}

async function dmServer(t: { teardown(fn: () => Promise<void>): void }, d: string, id: string, port = 0): Promise<Awaited<ReturnType<typeof startServer>>> {
  const srv = await startServer({ port, host: '127.0.0.1', dataDir: join(d, 'srv') });
  t.teardown(() => srv.close());
  await srv.addAccount({ deviceId: id, clientUser: id, clientSecret: 'cs', serverId: 'srv', serverSecret: 'ss', authType: 'md5' });
  return srv;
}

/** A TCP server on loopback playing a broken DM server; resolves with its URL. */
async function badServer(t: { teardown(fn: () => Promise<void>): void }, mode: 'garbage' | 'silent' | '500' | 'html'): Promise<string> {
  let srv: net.Server;
  const socks = new Set<net.Socket>();
  if (mode === 'garbage') srv = net.createServer((s) => { socks.add(s); s.on('error', () => {}); s.once('data', () => s.end('HELLO THIS IS NOT HTTP\r\n\r\n')); });
  else if (mode === 'silent') srv = net.createServer((s) => { socks.add(s); s.on('error', () => {}); s.on('data', () => {}); });
  else {
    srv = http.createServer((req, res) => {
      req.resume();
      if (mode === '500') { res.writeHead(500); res.end('internal error'); } else { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<html><body>captive portal</body></html>'); }
    });
  }
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(async () => { for (const s of socks) s.destroy(); (srv as http.Server).closeAllConnections?.(); await new Promise((r) => srv.close(r)); });
  return `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/dm`;
}

// ---- the data directory ----

test('--data naming a file, or a path under a file: one line naming the directory, nothing created', async (t) => {
  const d = dir(t);
  writeFileSync(join(d, 'f'), 'not a directory');
  const a = await device(['--server', NOWHERE, ...creds('e1'), '--data', join(d, 'f'), '--once']);
  oneLineFailure(t, a, /^scomo device: cannot use data directory .*\/f: exists and is not a directory$/);
  const b = await device(['--server', NOWHERE, ...creds('e1'), '--data', join(d, 'f', 'sub'), '--once']);
  oneLineFailure(t, b, /^scomo device: cannot use data directory .*\/f\/sub: a part of the path is not a directory$/);
  t.is(readFileSync(join(d, 'f'), 'utf8'), 'not a directory');
});

test('--data whose parents do not exist yet: created, and the session completes', async (t) => {
  const d = dir(t);
  const srv = await dmServer(t, d, 'e2');
  const r = await device(['--server', srv.dmUrl, ...creds('e2'), '--data', join(d, 'a', 'b', 'c'), '--once']);
  t.is(r.status, 0, r.stderr);
  t.true(existsSync(join(d, 'a', 'b', 'c', 'flash.bin')));
});

// root ignores file modes, so the case cannot be built there (CI containers often run as root).
(process.getuid?.() === 0 ? test.skip : test)('--data not writable (mode 500): one line, permission denied', async (t) => {
  const d = dir(t);
  const ro = join(d, 'ro');
  mkdirSync(ro);
  chmodSync(ro, 0o500);
  t.teardown(() => chmodSync(ro, 0o700));
  const r = await device(['--server', NOWHERE, ...creds('e3'), '--data', ro, '--once']);
  oneLineFailure(t, r, /^scomo device: cannot use data directory .*\/ro: .*permission denied$/);
});

// ---- damaged files from an earlier run ----

test('a truncated flash image is refused with its size and left untouched', async (t) => {
  const d = dir(t);
  mkdirSync(join(d, 'dev'));
  const img = randomBytes(5000);
  writeFileSync(join(d, 'dev', 'flash.bin'), img);
  const r = await device(['--server', NOWHERE, ...creds('e4'), '--data', join(d, 'dev'), '--once']);
  oneLineFailure(t, r, /^scomo device: flash file .*flash\.bin has 5000 bytes, expected 1048576$/);
  t.true(readFileSync(join(d, 'dev', 'flash.bin')).equals(img), 'the image is not reformatted');
});

/** A 1 MiB flash image whose tree log holds one CRC-valid transaction that is not msgpack. */
function forgedImage(): Buffer {
  const f = Buffer.alloc(1 << 20, 0xff);
  f.writeUInt32BE(0x444d5331, 0); f.writeUInt32BE(1, 4); f.writeUInt32BE(0, 8);
  f.writeUInt32BE(crc32Update(0, f, 0, 12) >>> 0, 12);
  const at = 16;
  f[at] = 0x63; f[at + 1] = 0; f[at + 2] = 0; f[at + 3] = 1; f.writeUInt32BE(0, at + 4);
  f[at + 12] = 0xc1; // never used in msgpack
  f.writeUInt32BE(crc32Update(crc32Update(0, f, at, at + 8), f, at + 12, at + 13) >>> 0, at + 8);
  return f;
}

test('a flash image the store refuses: one line, the process exits even with a bound notify port, the image is kept', async (t) => {
  // Before the fix the UDP socket stayed bound after the failed start and the process never exited.
  const d = dir(t);
  mkdirSync(join(d, 'dev'));
  const img = forgedImage();
  writeFileSync(join(d, 'dev', 'flash.bin'), img);
  const r = await device(['--server', NOWHERE, ...creds('e5'), '--data', join(d, 'dev'), '--notify-port', '0', '--once']);
  oneLineFailure(t, r, /^scomo device: cannot read the device state in .*flash\.bin: store corrupt: /);
  // The blank journal partition may be formatted on open; the tree's partition is not touched.
  const TREE = 192 * 4096;
  t.true(readFileSync(join(d, 'dev', 'flash.bin')).subarray(0, TREE).equals(img.subarray(0, TREE)));
});

test('damaged installer state (A/B firmware state.json, the components ledger): one line naming the installer, the file kept; stray package files are harmless', async (t) => {
  const d = dir(t);
  mkdirSync(join(d, 'dev', 'firmware'), { recursive: true });
  writeFileSync(join(d, 'dev', 'firmware', 'state.json'), 'null');
  const r = await device(['--server', NOWHERE, ...creds('e6'), '--data', join(d, 'dev'), '--notify-port', '0', '--once']);
  oneLineFailure(t, r, /^scomo device: the ab-firmware installer cannot boot from its state: .*state\.json is damaged/);
  t.is(readFileSync(join(d, 'dev', 'firmware', 'state.json'), 'utf8'), 'null');
  // Parseable but not this installer's JSON, or truncated: refused too, never replaced by defaults.
  for (const text of ['{"active":"c","slots":{},"committed":{},"log":[]}', '{"active":"a","slots":{"a":{"id":"fw"', '[]']) {
    writeFileSync(join(d, 'dev', 'firmware', 'state.json'), text);
    oneLineFailure(t, await device(['--server', NOWHERE, ...creds('e6'), '--data', join(d, 'dev'), '--once']), /ab-firmware installer cannot boot from its state: .*damaged/);
    t.is(readFileSync(join(d, 'dev', 'firmware', 'state.json'), 'utf8'), text);
  }
  rmSync(join(d, 'dev', 'firmware'), { recursive: true });
  // The directory installer's ledger (which component is installed from which package, which is active).
  mkdirSync(join(d, 'dev', 'components'), { recursive: true });
  for (const text of ['{"installs":{"pkg-1":{"id":"a"}},"active":{}}', '{"installs":{},"active":{"a":"yes"}}', 'garbage']) {
    writeFileSync(join(d, 'dev', 'components', '.ledger.json'), text);
    oneLineFailure(t, await device(['--server', NOWHERE, ...creds('e6'), '--data', join(d, 'dev'), '--once']), /^scomo device: the directory installer cannot boot from its state: .*\.ledger\.json is damaged/);
    t.is(readFileSync(join(d, 'dev', 'components', '.ledger.json'), 'utf8'), text, 'kept as it was');
  }

  const srv = await dmServer(t, d, 'e6');
  mkdirSync(join(d, 'dev2', 'packages'), { recursive: true });
  writeFileSync(join(d, 'dev2', 'packages', 'p1.bin'), randomBytes(3000));
  writeFileSync(join(d, 'dev2', 'packages', 'half-downloaded.bin'), Buffer.alloc(0));
  const ok = await device(['--server', srv.dmUrl, ...creds('e6'), '--data', join(d, 'dev2'), '--once']);
  t.is(ok.status, 0, ok.stderr);
});

test('a torn tree log and a destroyed job journal: the device still completes a session and reports its installed component', async (t) => {
  // DESIGN/src/store: after the last intact terminator everything is ignored and the committed
  // prefix is relocated; an unreadable region is formatted. The tree and the journal are two
  // stores, so the component in the tree survives both.
  const d = dir(t);
  const env = await startEnv({}, join(d, 'srv'));
  t.teardown(() => env.close());
  await addDevice(env, 'keep-1', 'basic');
  const pkg = await env.upload(makeAppPackage({ id: 'kept', name: 'Kept', version: '4.2' }), 'kept', '4.2');
  const job = await env.api<{ jobId: string }>('POST', '/api/devices/keep-1/jobs', { operation: 'DownloadInstall', pkgId: pkg.pkgId, delivery: 'alternate' });
  t.is(job.status, 201, JSON.stringify(job.json));
  const args = ['--server', env.srv.dmUrl, '--id', 'keep-1', '--client-user', ACCOUNT.clientUser, '--client-secret', ACCOUNT.clientSecret,
    '--server-id', ACCOUNT.serverId, '--server-secret', ACCOUNT.serverSecret, '--auth', 'basic', '--data', join(d, 'dev'), '--once'];
  // The job's commands come in a session after discovery: poll until it is done, then stop.
  let proc: ReturnType<typeof spawn> | undefined;
  const first = device([...args.slice(0, -1), '--poll-interval', '1'], (p) => { proc = p; });
  t.teardown(() => { proc?.kill('SIGKILL'); });
  t.is((await env.waitJob(job.json.jobId)).state, 'succeeded');
  proc!.kill('SIGTERM');
  t.is((await first).status, 0, 'SIGTERM: a clean exit');

  // Layout (src/agent/partition.ts, 256 blocks of 4 KiB): tree = blocks 0..191 in two regions
  // of 96 blocks, journal = blocks 192..255.
  const file = join(d, 'dev', 'flash.bin');
  const img = readFileSync(file);
  const R = 96 * 4096;
  const gen = (r: number): number => (img.readUInt32BE(r * R) === 0x444d5331 ? img.readUInt32BE(r * R + 4) : -1);
  const act = gen(1) > gen(0) ? 1 : 0;
  let last = (act + 1) * R - 1;
  while (img[last] === 0xff) last--;
  randomBytes(64).copy(img, last + 17); // torn bytes after the last frame
  randomBytes(64 * 4096).copy(img, 192 * 4096); // the journal partition: garbage throughout
  writeFileSync(file, img);

  const t0 = Date.now();
  const inv = env.api<{ deployed: { id: string; version: string }[]; updatedAt: string }>('GET', '/api/devices/keep-1/inventory?refresh=1');
  const second = await device(args);
  t.is(second.status, 0, second.stderr);
  const got = (await inv).json;
  t.true(Date.parse(got.updatedAt) >= t0, 'the snapshot comes from the second run: ' + JSON.stringify(got));
  t.deepEqual(got.deployed.map((c) => [c.id, c.version]), [['kept', '4.2']]);
});

// ---- servers ----

test('servers that answer garbage, a 500 or an HTML page: one line each, promptly', async (t) => {
  const d = dir(t);
  for (const [mode, re] of [
    ['garbage', /^scomo device: session failed: bad HTTP response from 127\.0\.0\.1:\d+ \(HPE_[A-Z_]+\)$/],
    ['500', /^scomo device: session failed: HTTP 500$/],
    ['html', /^scomo device: session failed: malformed server message: .*html/],
  ] as const) {
    const url = await badServer(t, mode);
    const r = await device(['--server', url, ...creds('e7'), '--data', join(d, mode), '--once']);
    oneLineFailure(t, r, re);
    t.true(r.ms < 20_000, `${mode}: no retry back-off under --once`);
  }
});

test('a server that never answers: --http-timeout ends the session with one line', async (t) => {
  const d = dir(t);
  const url = await badServer(t, 'silent');
  const r = await device(['--server', url, ...creds('e8'), '--data', join(d, 'dev'), '--http-timeout', '1', '--once']);
  oneLineFailure(t, r, /^scomo device: session failed: no answer from 127\.0\.0\.1:\d+ within 1 s$/);
  t.true(r.ms < 15_000, `took ${r.ms} ms`);
  const bad = await device(['--server', url, ...creds('e8'), '--data', join(d, 'dev'), '--http-timeout', '0', '--once']);
  t.is(bad.status, 1);
  t.regex(bad.stderr, /^scomo device: --http-timeout must be at least 1 second$/m);
});

test('without --once a server that is down at boot is retried, the session completes once it is up, and the device runs until SIGTERM', async (t) => {
  const d = dir(t);
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const url = `http://127.0.0.1:${port}/dm`;
  let proc: ReturnType<typeof spawn> | undefined;
  const running = device(['--server', url, ...creds('e9'), '--data', join(d, 'dev')], (p) => { proc = p; });
  t.teardown(() => { proc?.kill('SIGKILL'); });
  // Read the device's own log as it goes.
  let out = '';
  proc!.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  const waitFor = async (re: RegExp, what: string): Promise<void> => {
    const t0 = Date.now();
    while (!re.test(out)) {
      if (Date.now() - t0 > 20_000) throw new Error(`timed out waiting for ${what}; log:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await waitFor(/DM session ended: cannot reach .*ECONNREFUSED/, 'the first failed session');
  await dmServer(t, d, 'e9', port);
  await waitFor(/DM session ended: ok/, 'a completed session');
  t.regex(out, /DM session 2/, 'a retry, not a new boot');
  // It keeps running until told to stop (before the fix, with no poll interval and no notify
  // port, it exited by itself once the event loop emptied after the session).
  await new Promise((r) => setTimeout(r, 1000));
  t.is(proc!.exitCode, null, 'still running after the session');
  t.is(proc!.signalCode, null);
  proc!.kill('SIGTERM');
  const r = await running;
  t.is(r.status, 0, `${r.signal ?? ''} ${r.stderr}`);
  t.is(r.stderr, '');
});

// ---- configuration files and ports ----

test('--ca naming a missing file, a non-PEM file or a broken certificate: one line before anything is written', async (t) => {
  const d = dir(t);
  writeFileSync(join(d, 'text.pem'), 'hello, not a certificate\n');
  writeFileSync(join(d, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  for (const [file, re] of [
    ['missing.pem', /^scomo device: CA file .*missing\.pem: no such file or directory$/],
    ['text.pem', /^scomo device: CA file .*text\.pem: no PEM certificate in it$/],
    ['broken.pem', /^scomo device: CA file .*broken\.pem: certificate 1 is not valid: /],
  ] as const) {
    const r = await device(['--server', 'https://127.0.0.1:9/dm', ...creds('e10'), '--data', join(d, 'dev-' + file), '--ca', join(d, file), '--once']);
    oneLineFailure(t, r, re);
    t.false(existsSync(join(d, 'dev-' + file)), `${file}: no data directory created`);
  }
  // The project's own test certificate passes the check (the session then fails on the port).
  const ok = await device(['--server', NOWHERE, ...creds('e10'), '--data', join(d, 'dev-ok'), '--ca', 'test/fixtures/c/tls-cert.pem', '--once']);
  oneLineFailure(t, ok, /^scomo device: session failed: cannot reach 127\.0\.0\.1:9: ECONNREFUSED$/);
});

test('--trust-key naming a PEM file that holds no key: one line', async (t) => {
  const d = dir(t);
  writeFileSync(join(d, 'k.pem'), '-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n');
  const r = await device(['--server', NOWHERE, ...creds('e11'), '--data', join(d, 'dev'), '--trust-key', join(d, 'k.pem'), '--once']);
  oneLineFailure(t, r, /^scomo device: trust key .*k\.pem: unexpected PEM block "FOO"/);
  t.false(existsSync(join(d, 'dev')));
});

test('--notify-port already bound by another socket: one line naming the port, no data directory created', async (t) => {
  const d = dir(t);
  const other = dgram.createSocket('udp4');
  await new Promise<void>((r) => other.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => other.close());
  const port = other.address().port;
  const r = await device(['--server', NOWHERE, ...creds('e12'), '--data', join(d, 'dev'), '--notify-port', String(port), '--once']);
  oneLineFailure(t, r, new RegExp(`^scomo device: UDP notification port ${port} on 127\\.0\\.0\\.1: already in use$`));
  t.false(existsSync(join(d, 'dev')), 'nothing written before the port was had');
});

test('a server reply that never ends is cut off at the session\'s reply limit (1 MiB): the connection is dropped, the session fails with one line', async (t) => {
  // 200 and then an endless body: a device that buffered it whole would grow without bound.
  let sent = 0;
  let closedEarly = false;
  const srv = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'Content-Type': 'application/vnd.syncml.dm+xml' });
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const pump = (): void => {
      while (sent < 64 * 1024 * 1024) {
        sent += chunk.length;
        if (!res.write(chunk)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    res.on('close', () => { if (!res.writableFinished) closedEarly = true; });
    pump();
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  t.teardown(() => new Promise<void>((ok) => { srv.closeAllConnections(); srv.close(() => ok()); }));
  const d = dir(t);
  const dev = await startDevice({
    server: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/dm`, id: 'dev-big', ...ACCOUNT, auth: 'basic', encoding: 'xml', dataDir: d,
  });
  try {
    await waitFor(() => dev.agent.status().lastSessionOk === false, 15_000);
    t.regex(String(dev.agent.status().lastError), /^server reply larger than 1048576 bytes$/);
    await waitFor(() => closedEarly, 5_000);
    t.true(sent < 16 * 1024 * 1024, `the device stopped reading early (server wrote ${sent} bytes)`);
  } finally {
    await dev.close();
  }
});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met within ' + ms + ' ms');
    await new Promise((r) => setTimeout(r, 20));
  }
}
