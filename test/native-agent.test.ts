// The native C agent (targets/c): builds it with make, runs it with a stub ES5 bundle
// (test/fixtures/c/stub-agent.js) against small servers started here, and checks what the stub
// observed of every host function (flash, package storage, random/clock, HTTP streaming, cancel,
// errors, timers, installer hook, package 0 over UDP) plus the program's exit contract.
// The real agent bundle runs on it in the end-to-end suite; this file tests the host side.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleES5, ENTRIES } from '../build/build.js';
import { startServer } from '../src/server/app.js';
import { createRepoServer } from '../src/server/repo/repo-server.js';
import type { ReceivedAlert } from '../src/server/storage/types.js';
import { downloadJob, get, parseAlert } from './helpers/scomo-rig.js';
import { makeAppPackage } from './helpers/packages.js';
import { startNativeDevice } from '../targets/c/native-device.js';
import { prepareNative } from './helpers/native.js';

const root = fileURLToPath(new URL('..', import.meta.url));
// SCOMO_NATIVE_BIN: run these tests against another build (e.g. one with -fsanitize=address).
const bin = process.env.SCOMO_NATIVE_BIN ?? join(root, 'targets/c/build/scomo-native-agent');
const stub = join(root, 'test/fixtures/c/stub-agent.js');
const hook = join(root, 'test/fixtures/c/installer-hook.sh');

let server: Server;
let baseUrl = '';
const tmp = mkdtempSync(join(tmpdir(), 'scomo-native-'));

test.before(async () => {
  // CI installs duktape-dev and libcurl4-openssl-dev (.ci/run): a missing toolchain is a failure.
  // Built under a lock: other test files build the same program at the same time.
  await prepareNative();
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/chunked') {
      res.writeHead(200, { 'X-Stub': 'chunked', 'Content-Type': 'text/plain' });
      const parts = ['alpha-', 'beta-', 'gamma'];
      const send = (i: number): void => {
        if (i === parts.length) return void res.end();
        res.write(parts[i]);
        setTimeout(() => send(i + 1), 40);
      };
      send(0);
    } else if (url.pathname === '/big') {
      const n = Number(url.searchParams.get('n'));
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = i % 251;
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.end(b);
    } else if (url.pathname === '/zeros') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.end(Buffer.alloc(Number(url.searchParams.get('mb')) << 20));
    } else if (url.pathname === '/echo') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(201, {
          'X-Echo-Id': String(req.headers['x-stub-id']),
          'X-Echo-Method': req.method ?? '',
          'X-Echo-Ct': String(req.headers['content-type']),
          'X-Echo-Expect': String(req.headers.expect ?? ''),
        });
        res.end(Buffer.concat(chunks));
      });
    } else if (url.pathname === '/slow') {
      res.writeHead(200);
      res.write('first');
      const t = setTimeout(() => res.end('never seen'), 2000);
      res.on('close', () => clearTimeout(t));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no server address');
  baseUrl = `http://127.0.0.1:${addr.port}`;
});

test.after.always(() => {
  server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const required = ['--id', 'dev-c-1', '--client-user', 'dev-c-1', '--client-secret', 'cs"\\1', '--server-id', 'srv', '--server-secret', 'ss1'];

/** Runs the agent; `onLine` sees each stderr line as it arrives (to act on "waiting" lines). */
function run(args: string[], onLine?: (line: string) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const guard = setTimeout(() => p.kill('SIGKILL'), 30000);
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) onLine?.(l);
    });
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function results(stderr: string): Map<string, { ok: boolean; detail: unknown }> {
  const m = new Map<string, { ok: boolean; detail: unknown }>();
  for (const line of stderr.split('\n')) {
    const i = line.indexOf('stub-result ');
    if (i < 0) continue;
    const r = JSON.parse(line.slice(i + 'stub-result '.length)) as { check: string; ok: boolean; detail: unknown };
    m.set(r.check, r);
  }
  return m;
}

test('the stub bundle exercises every host function of the native agent, and --once exits 0', async (t) => {
  const data = join(tmp, 'dev1');
  const udp = createSocket('udp4');
  const r = await run(
    ['--server', baseUrl + '/', ...required, '--auth', 'hmac', '--encoding', 'wbxml', '--data', data, '--notify-port', '0',
      '--bundle', stub, '--installer-hook', hook, '--max-package-bytes', '4096', '--poll-interval', '1.5', '--once', '--stats', '--timeout', '25'],
    (line) => {
      const m = /stub: waiting for package0 on port (\d+)/.exec(line);
      if (!m) return;
      // First a datagram the stub throws on (the host must survive it), then the real one.
      udp.send(Buffer.from([0xee]), Number(m[1]), '127.0.0.1', () => {
        udp.send(Buffer.from([1, 2, 3, 0, 0, 255]), Number(m[1]), '127.0.0.1');
      });
    },
  );
  udp.close();
  const res = results(r.stderr);
  const expected = ['config', 'prelude', 'flash', 'packages', 'random-clock', 'native-hash', 'http-get-chunked', 'http-get-big', 'http-post-echo', 'http-error',
    'http-cancel', 'timers', 'install', 'install-fails', 'component-ops', 'install-status', 'package0'];
  for (const c of expected) {
    t.true(res.get(c)?.ok, `${c}: ${JSON.stringify(res.get(c)?.detail)}`);
  }
  t.deepEqual([...res.keys()].filter((k) => !expected.includes(k)), [], 'no unexpected events');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /once: ok/);
  // The deliberate throw was caught and logged with its message; the program went on.
  t.regex(r.stderr, /js error in onPackage0: .*deliberate throw on package 0/);
  const cfg = res.get('config')?.detail as Record<string, unknown>;
  t.like(cfg, { deviceId: 'dev-c-1', serverId: 'srv', clientUser: 'dev-c-1', clientSecret: 'cs"\\1', serverSecret: 'ss1', auth: 'hmac', encoding: 'wbxml', pollIntervalMs: 1500 });
  t.true(typeof cfg.notifyPort === 'number' && cfg.notifyPort > 0);
  // Native hashes agree with node:crypto over a 1 MB input fed in odd pieces.
  const big = Buffer.alloc(1000003);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  t.like(res.get('native-hash')?.detail, { sha256big: createHash('sha256').update(big).digest('hex'), md5big: createHash('md5').update(big).digest('hex') });
  // No "Expect: 100-continue" round trip on POST.
  t.is((res.get('http-post-echo')?.detail as { expect: string }).expect, '');
  const stats = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { peak_heap_bytes: number; current_heap_bytes: number; status: { lastSessionOk: boolean } };
  t.true(stats.peak_heap_bytes > 10000 && stats.peak_heap_bytes < 10_000_000, String(stats.peak_heap_bytes));
  t.true(stats.current_heap_bytes <= stats.peak_heap_bytes);
  t.is(stats.status.lastSessionOk, true);
  t.is(statSync(join(data, 'flash.bin')).size, 1024 * 1024);
});

test('--once exits 1 with a one-line reason when the session failed', async (t) => {
  const bundle = join(tmp, 'failing.js');
  writeFileSync(bundle, `globalThis.ScomoAgent = { create: function (host, config) {
    var done = false;
    return { boot: function () { host.setTimer(1, 5); }, onTimer: function () { done = true; },
      idle: function () { return done; },
      status: function () { return { sessions: 1, inSession: !done, lastSessionOk: done ? false : null, lastError: 'server said "no"', pendingAlerts: 0, jobs: [], deployed: [] }; } };
  } };`);
  const r = await run(['--server', baseUrl, ...required, '--data', join(tmp, 'dev2'), '--bundle', bundle, '--once', '--timeout', '10']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^once: failed: server said "no"$/m);
});

test('bad setups fail with a clear reason and no crash', async (t) => {
  const base = ['--server', baseUrl, ...required, '--data', join(tmp, 'dev3'), '--once', '--timeout', '10'];
  const missing = await run([...base, '--bundle', join(tmp, 'nope.js')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /cannot read the bundle .*nope\.js/);

  const syntax = join(tmp, 'syntax.js');
  writeFileSync(syntax, 'var x = ;');
  const bad = await run([...base, '--bundle', syntax]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /bundle failed to load: SyntaxError/);

  const noAgent = join(tmp, 'empty.js');
  writeFileSync(noAgent, 'var x = 1;');
  const empty = await run([...base, '--bundle', noAgent]);
  t.is(empty.code, 1);
  t.regex(empty.stderr, /did not set globalThis.ScomoAgent/);

  const throwing = join(tmp, 'throwing.js');
  writeFileSync(throwing, 'globalThis.ScomoAgent = { create: function () { throw new TypeError("no way"); } };');
  const thrown = await run([...base, '--bundle', throwing]);
  t.is(thrown.code, 1);
  t.regex(thrown.stderr, /ScomoAgent.create threw: TypeError: no way/);

  // Heap caps too small for the engine, or for the bundle: a clean refusal, not a signal.
  const tiny = await run([...base, '--bundle', stub, '--heap-limit', '30000']);
  t.is(tiny.signal, null);
  t.is(tiny.code, 1);
  t.regex(tiny.stderr, /cannot start the agent: heap limit 30000 is below the engine's bare heap \(\d+ bytes\)/);
  const small = await run([...base, '--bundle', stub, '--heap-limit', '120000']);
  t.is(small.signal, null);
  t.is(small.code, 1);
  t.regex(small.stderr, /cannot start the agent: .*(alloc failed|DoubleError)/);

  const usage = await run(['--server', baseUrl]);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /--id is required/);
});

test('the minimal C host of targets/host-abi.md runs an agent bundle', async (t) => {
  const r = await new Promise<Run>((resolve, reject) => {
    const p = spawn(join(root, 'targets/c/build/minimal-host'), [join(root, 'test/fixtures/c/minimal-bundle.js'), '{"deviceId":"m1"}'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const guard = setTimeout(() => p.kill('SIGKILL'), 10000);
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => { clearTimeout(guard); resolve({ code, signal, stdout, stderr }); });
  });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /mini done m1/);
  const status = JSON.parse(r.stdout.split('\n')[0]) as { lastSessionOk: boolean; lastError: string };
  t.deepEqual([status.lastSessionOk, status.lastError], [true, '']);
  t.regex(r.stdout, /peak heap \d+ bytes/);
});

test('the node-installers hook gives the native agent the Node device\'s installers', async (t) => {
  const hookSh = join(root, 'targets/c/hooks/node-installers.sh');
  const work = join(tmp, 'hook');
  mkdirSync(join(work, 'pkg'), { recursive: true });
  writeFileSync(join(work, 'pkg/manifest.json'), JSON.stringify({ id: 'app.hello', name: 'Hello', version: '1.2.3' }));
  writeFileSync(join(work, 'pkg/hello.txt'), 'hi\n');
  const tar = join(work, 'app.tar');
  await promisify(execFile)('tar', ['--format=ustar', '-cf', tar, '-C', join(work, 'pkg'), 'manifest.json', 'hello.txt']);
  const data = join(work, 'data');
  // Async: the other tests' servers live in this process and must keep answering.
  const call = async (args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> => {
    try {
      const r = await promisify(execFile)(hookSh, args, { env: { ...process.env, SCOMO_DATA_DIR: data, ...env } });
      return { code: 0, out: r.stdout };
    } catch (e) {
      const err = e as { code: number; stdout?: string };
      return { code: err.code, out: err.stdout ?? '' };
    }
  };
  const installed = await call(['install', tar], { SCOMO_PKG_ID: 'pkg-1', SCOMO_PKG_TYPE: 'application/x-tar', SCOMO_PACKAGE_SIZE: String(statSync(tar).size), SCOMO_ACTIVATE: '1' });
  t.deepEqual(JSON.parse(installed.out), { resultCode: 1200, component: { id: 'app.hello', name: 'Hello', version: '1.2.3' } });
  t.is(statSync(join(data, 'components/app.hello/hello.txt')).size, 3);
  t.deepEqual(JSON.parse((await call(['install-status', 'pkg-1'])).out), { resultCode: 1200, component: { id: 'app.hello', name: 'Hello', version: '1.2.3' } });
  t.is((await call(['install-status', 'pkg-unknown'])).code, 1);
  const unsupported = await call(['install', tar], { SCOMO_PKG_ID: 'pkg-2', SCOMO_PKG_TYPE: 'application/x-nope', SCOMO_PACKAGE_SIZE: '10', SCOMO_ACTIVATE: '0' });
  t.is(JSON.parse(unsupported.out).resultCode, 1413);
  t.is(JSON.parse((await call(['deactivate', 'app.hello'])).out).resultCode, 1200);
  t.is(JSON.parse((await call(['remove', 'app.hello'])).out).resultCode, 1200);
  t.is(JSON.parse((await call(['remove', 'app.hello'])).out).resultCode, 1408);
});

// The real agent (src/agent, bundled to ES5 here as `npm run build` does) on Duktape, against
// the real DM server and package repository: a SCOMO DownloadInstall queued before the device
// boots, installed through the node-installers hook, final alert 1200.
test('the real ES5 agent bundle on Duktape runs a DownloadInstall end to end', async (t) => {
  const dir = join(tmp, 'real');
  mkdirSync(dir, { recursive: true });
  const bundle = join(dir, 'scomo-agent.es5.js');
  writeFileSync(bundle, (await bundleES5(ENTRIES.es5)).code);
  const deviceId = 'native-dev-1';
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'server') });
  const repo = await createRepoServer({ dataDir: join(dir, 'repo'), token: 't' });
  t.teardown(async () => { await repo.close(); await server.close(); });
  await server.addAccount({ deviceId, clientUser: deviceId, clientSecret: 'client-secret', serverId: 'scomo-test', serverSecret: 'server-secret', authType: 'md5' });
  const alerts: ReceivedAlert[] = [];
  server.dm.on('alert', (a: ReceivedAlert) => { alerts.push(a); });
  const up = await fetch(`${repo.base}/api/packages?name=weather&version=1.0.0&type=application%2Fx-tar`, {
    method: 'POST', headers: { Authorization: 'Bearer t' }, body: makeAppPackage({ id: 'weather', name: 'Weather', version: '1.0.0' }),
  });
  t.is(up.status, 201);
  const pkg = (await up.json()) as { pkgId: string; url: string };
  await server.dm.queueCommands(deviceId, downloadJob('p1', pkg.pkgId, pkg.url, 'DownloadInstall', 'job-native-1'));
  const data = join(dir, 'device');
  const r = await run(['--server', server.dmUrl, '--id', deviceId, '--client-user', deviceId, '--client-secret', 'client-secret',
    '--server-id', 'scomo-test', '--server-secret', 'server-secret', '--auth', 'md5', '--encoding', 'wbxml', '--data', data,
    '--bundle', bundle, '--installer-hook', join(root, 'targets/c/hooks/node-installers.sh'), '--once', '--stats', '--timeout', '60']);
  t.is(r.code, 0, r.stderr);
  const alert = alerts.map(parseAlert).find((a) => a.alert.correlator === 'job-native-1');
  t.is(alert?.resultCode, 1200, r.stderr);
  t.is(alert?.identifier, 'weather');
  t.true(existsSync(join(data, 'components/weather/manifest.json')));
  t.is(JSON.parse(readFileSync(join(data, 'components/weather/manifest.json'), 'utf8')).version, '1.0.0');
  const stats = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { peak_heap_bytes: number; status: { deployed: { id: string }[] } };
  t.true(stats.peak_heap_bytes > 100_000);
  t.log(`peak Duktape heap for a DownloadInstall: ${stats.peak_heap_bytes} bytes`);
});

// Duktape collects reference cycles only by mark-and-sweep, which it triggers by counting
// allocations; the binding adds a trigger by heap growth. Without it this run peaked at 8+ MB.
test('chunks kept in garbage cycles do not pile up in the Duktape heap', async (t) => {
  const bundle = join(tmp, 'cycles.js');
  writeFileSync(bundle, `globalThis.ScomoAgent = { create: function (host, config) {
    var done = false, n = 0;
    return {
      boot: function () { host.httpRequest(1, { method: 'GET', url: config.server.url + '/zeros?mb=8', headers: {} }); },
      onHttpResponse: function () {},
      onHttpChunk: function (id, b) { var ev = { bytes: b }; ev.self = ev; n += b.length; },
      onHttpEnd: function () { host.log('info', 'cycles: got ' + n); done = true; },
      onHttpError: function (id, r) { host.log('error', r); done = true; },
      idle: function () { return done; },
      status: function () { return { sessions: 1, inSession: !done, lastSessionOk: done && n === 8388608 }; }
    };
  } };`);
  const r = await run(['--server', baseUrl, ...required, '--data', join(tmp, 'dev-cycles'), '--bundle', bundle, '--once', '--stats', '--timeout', '20']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /cycles: got 8388608/);
  const stats = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { peak_heap_bytes: number };
  t.true(stats.peak_heap_bytes < 1_000_000, String(stats.peak_heap_bytes));
});

// HTTPS through libcurl with --ca as the trust anchor (test-only self-signed certificate for
// 127.0.0.1 in test/fixtures/c/tls-*.pem); without it the certificate is refused.
test('HTTPS: --ca FILE is the trust anchor', async (t) => {
  const fx = join(root, 'test/fixtures/c');
  const https = createHttpsServer({ key: readFileSync(join(fx, 'tls-key.pem')), cert: readFileSync(join(fx, 'tls-cert.pem')) }, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('secure');
  });
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  t.teardown(() => { https.close(); });
  const port = (https.address() as { port: number }).port;
  const bundle = join(tmp, 'https.js');
  writeFileSync(bundle, `globalThis.ScomoAgent = { create: function (host, config) {
    var done = false, ok = false, body = '', status = 0, why = '';
    return {
      boot: function () { host.httpRequest(1, { method: 'GET', url: config.server.url, headers: {} }); },
      onHttpResponse: function (id, s) { status = s; },
      onHttpChunk: function (id, b) { for (var i = 0; i < b.length; i++) body += String.fromCharCode(b[i]); },
      onHttpEnd: function () { ok = status === 200 && body === 'secure'; done = true; },
      onHttpError: function (id, r) { why = r; done = true; },
      idle: function () { return done; },
      status: function () { return { sessions: 1, inSession: !done, lastSessionOk: done ? ok : null, lastError: why || ('status ' + status + ' body ' + body) }; }
    };
  } };`);
  const args = ['--server', `https://127.0.0.1:${port}/dm`, ...required, '--data', join(tmp, 'dev-https'), '--bundle', bundle, '--once', '--timeout', '15'];
  const trusted = await run([...args, '--ca', join(fx, 'tls-cert.pem')]);
  t.is(trusted.code, 0, trusted.stderr);
  const untrusted = await run(args);
  t.is(untrusted.code, 1);
  t.regex(untrusted.stderr, /once: failed: .*(certificate|SSL)/i);
});

// Package 0 end to end, and Agent.connect() by signal, through the Node-side driver
// (targets/c/native-device.ts): the real server sends the notification datagram to the native
// agent's UDP port; the real agent verifies it and opens the session that carries a queued Get.
test('the real ES5 agent bundle on Duktape answers a package 0 and connect() from its driver', async (t) => {
  const dir = join(tmp, 'real-p0');
  mkdirSync(dir, { recursive: true });
  const bundle = join(dir, 'scomo-agent.es5.js');
  writeFileSync(bundle, (await bundleES5(ENTRIES.es5)).code);
  const deviceId = 'native-dev-2';
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'server') });
  t.teardown(() => server.close());
  await server.addAccount({ deviceId, clientUser: deviceId, clientSecret: 'client-secret', serverId: 'scomo-test', serverSecret: 'server-secret', authType: 'hmac' });
  const log: string[] = [];
  const dev = await startNativeDevice({
    server: server.dmUrl, id: deviceId, clientUser: deviceId, clientSecret: 'client-secret', serverId: 'scomo-test',
    serverSecret: 'server-secret', auth: 'hmac', encoding: 'wbxml', dataDir: join(dir, 'device'), notifyPort: 0, bundle, bin,
    log: (l) => log.push(l),
  });
  t.teardown(() => { void dev.close(); });
  await dev.waitIdle(30_000);
  t.is(dev.status()?.lastSessionOk, true);
  t.true((dev.notifyPort ?? 0) > 0);
  const timeout = (what: string) => new Promise<never>((_, rej) => setTimeout(() => rej(new Error(what + '\n' + log.join('\n'))), 20000));

  await server.storage.updateAccount(deviceId, { notifyHost: '127.0.0.1', notifyPort: dev.notifyPort });
  const h = await server.dm.queueCommands(deviceId, [get('./DevInfo/DevId')]);
  await server.notify(deviceId);
  const done = await Promise.race([h.done, timeout('no session after package 0')]);
  t.is(done.outcomes?.[0]?.status, 200);
  const data = done.outcomes?.[0]?.results?.[0]?.data;
  t.is(typeof data === 'string' ? data : Buffer.from(data ?? []).toString(), deviceId);
  await dev.waitIdle(20_000);

  const h2 = await server.dm.queueCommands(deviceId, [get('./DevInfo/DevId')]);
  dev.connect();
  t.is((await Promise.race([h2.done, timeout('no session after connect()')])).outcomes?.[0]?.status, 200);
  await dev.waitIdle(20_000);
  t.true(dev.status()!.sessions >= 3);
  t.true(dev.peakHeap() > 100_000);
  t.is(await dev.close(), 0);
});
