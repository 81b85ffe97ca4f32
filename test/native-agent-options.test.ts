// scomo-native-agent's command line: numeric options are parsed strictly (a bad value is one
// stderr line and exit 2 before anything starts), and --download-retries/--download-backoff-ms
// reach the agent as AgentConfig.download, seen both in the config a stub bundle receives and
// in what the real agent does against a download URL that fails.
import test from 'ava';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../src/server/app.js';
import type { ReceivedAlert } from '../src/server/storage/types.js';
import { downloadJob, parseAlert } from './helpers/scomo-rig.js';
import { makeAppPackage } from './helpers/packages.js';
import { prepareNative } from './helpers/native.js';
import { NATIVE_AGENT, startNativeDevice } from '../targets/c/native-device.js';

// SCOMO_NATIVE_BIN: another build (e.g. one with -fsanitize=address), as in native-agent.test.ts.
const bin = process.env.SCOMO_NATIVE_BIN ?? NATIVE_AGENT;
const tmp = mkdtempSync(join(tmpdir(), 'scomo-native-opts-'));
let bundle = '';

// CI installs the toolchain (.ci/run): like the other native tests, a failed build is a failure.
test.before(async () => { bundle = await prepareNative(); });
test.after.always(() => { rmSync(tmp, { recursive: true, force: true }); });

const required = ['--server', 'http://127.0.0.1:9/dm', '--id', 'd', '--client-user', 'd', '--client-secret', 'c', '--server-id', 's', '--server-secret', 'x'];

function run(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const guard = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => { clearTimeout(guard); resolve({ code, signal, stdout, stderr }); });
  });
}

/** A bundle that logs the download part of its config and is done at once. */
function configStub(): string {
  const f = join(tmp, 'config-stub.js');
  writeFileSync(f, `globalThis.ScomoAgent = { create: function (host, config) {
    return {
      boot: function () { host.log('info', 'download-config ' + JSON.stringify(config.download === undefined ? null : config.download)); },
      onHttpResponse: function () {}, onHttpChunk: function () {}, onHttpEnd: function () {}, onHttpError: function () {},
      idle: function () { return true; },
      status: function () { return { sessions: 1, inSession: false, lastSessionOk: true }; }
    };
  } };`);
  return f;
}

test('a bad numeric value is one stderr line and exit 2, before anything starts', async (t) => {
  const bad: Array<[string, string]> = [
    ['--notify-port', 'abc'], ['--notify-port', '70000'], ['--notify-port', '-1'], ['--notify-port', ''],
    ['--max-package-bytes', '-5'], ['--max-package-bytes', '12abc'], ['--max-package-bytes', '99999999999999999999'],
    ['--heap-limit', '1e6'], ['--heap-limit', ' 100'], ['--poll-interval', 'nan'], ['--poll-interval', '-2'], ['--poll-interval', '1.'],
    ['--timeout', 'inf'], ['--timeout', '0x10'], ['--flash-size', '0'], ['--flash-size', '4294967296'], ['--flash-block', '4096.5'],
    ['--download-retries', '-1'], ['--download-retries', '2.5'], ['--download-retries', '1001'],
    ['--download-backoff-ms', 'soon'], ['--download-backoff-ms', '+50'],
  ];
  await Promise.all(bad.map(async ([opt, value], i) => {
    const data = join(tmp, 'bad-' + i);
    const r = await run([...required, '--data', data, '--bundle', join(tmp, 'never-read.js'), opt, value, '--once']);
    const what = `${opt} '${value}': ${r.stderr}`;
    t.is(r.signal, null, what);
    t.is(r.code, 2, what);
    const lines = r.stderr.split('\n').filter(Boolean);
    t.is(lines.length, 1, what);
    t.true(lines[0].startsWith(`scomo-native-agent: ${opt} must be a `), what);
    t.true(lines[0].endsWith(`, got '${value}'`), what);
    t.is(r.stdout, '');
    t.false(existsSync(data), 'nothing started: ' + what);
  }));
});

test('good numeric values start the program; the download options reach the agent config only when given', async (t) => {
  const stub = configStub();
  const ok = await run([...required, '--data', join(tmp, 'good'), '--bundle', stub, '--once', '--notify-port', '0', '--poll-interval', '1.5',
    '--timeout', '20', '--heap-limit', '8000000', '--max-package-bytes', '0', '--flash-size', '65536', '--flash-block', '4096',
    '--download-retries', '0', '--download-backoff-ms', '0']);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stderr, /download-config \{"maxRetries":0,"backoffBaseMs":0\}/);
  const none = await run([...required, '--data', join(tmp, 'good2'), '--bundle', stub, '--once']);
  t.is(none.code, 0, none.stderr);
  t.regex(none.stderr, /download-config null/);
  const one = await run([...required, '--data', join(tmp, 'good3'), '--bundle', stub, '--once', '--download-backoff-ms', '250']);
  t.regex(one.stderr, /download-config \{"backoffBaseMs":250\}/);

  // Through the Node-side driver: NativeDeviceOptions.downloadRetries/downloadBackoffMs.
  const log: string[] = [];
  const dev = await startNativeDevice({
    server: 'http://127.0.0.1:9/dm', id: 'd', clientUser: 'd', clientSecret: 'c', serverId: 's', serverSecret: 'x',
    dataDir: join(tmp, 'driver'), bundle: stub, bin, downloadRetries: 3, downloadBackoffMs: 75, log: (l) => log.push(l),
  });
  await dev.close();
  t.true(log.some((l) => l.endsWith('download-config {"maxRetries":3,"backoffBaseMs":75}')), log.join('\n'));
});

test('--download-retries 1 --download-backoff-ms 50: the real agent gives up after one retry (1501, 1500) and recovers from a fault that heals', async (t) => {
  const dir = join(tmp, 'real');
  const deviceId = 'native-opts-1';
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'server') });
  t.teardown(() => server.close());
  await server.addAccount({ deviceId, clientUser: deviceId, clientSecret: 'client-secret', serverId: 'scomo-test', serverSecret: 'server-secret', authType: 'md5' });
  const alerts: ReceivedAlert[] = [];
  server.dm.on('alert', (a: ReceivedAlert) => { alerts.push(a); });

  // The download server: each package path has a fault (reset, 500, or a reset on the first
  // request only); requests are counted and timed per path.
  const faults: Record<string, 'reset' | 'status500' | 'heal'> = { '/unreachable': 'reset', '/broken': 'status500', '/flaky': 'heal' };
  const hits: Record<string, number[]> = {};
  const pkg = makeAppPackage({ id: 'flaky', name: 'Flaky', version: '1' });
  const dl = createServer((req, res) => {
    const path = req.url ?? '';
    const n = (hits[path] ??= []).push(Date.now());
    const f = faults[path];
    if (f === 'reset' || (f === 'heal' && n === 1)) { req.socket.destroy(); return; }
    if (f === 'status500') { res.writeHead(500).end(); return; }
    res.writeHead(200, { 'Content-Type': 'application/x-tar', 'Content-Length': pkg.length }).end(pkg);
  });
  await new Promise<void>((r) => dl.listen(0, '127.0.0.1', r));
  t.teardown(() => { dl.close(); });
  const base = `http://127.0.0.1:${(dl.address() as AddressInfo).port}`;

  const log: string[] = [];
  const dev = await startNativeDevice({
    server: server.dmUrl, id: deviceId, clientUser: deviceId, clientSecret: 'client-secret', serverId: 'scomo-test',
    serverSecret: 'server-secret', auth: 'md5', encoding: 'wbxml', dataDir: join(dir, 'device'), bundle, bin,
    downloadRetries: 1, downloadBackoffMs: 50, log: (l) => log.push(l),
  });
  t.teardown(() => { void dev.close(); });
  await dev.waitIdle(30_000);

  const job = async (path: string, correlator: string): Promise<number> => {
    await server.dm.queueCommands(deviceId, downloadJob('p-' + correlator, 'pkg-' + correlator, base + path, 'DownloadInstall', correlator));
    dev.connect();
    const t0 = Date.now();
    for (;;) {
      const a = alerts.find((x) => x.correlator === correlator);
      if (a) { await dev.waitIdle(20_000); return parseAlert(a).resultCode; }
      // With the default 5 retries from 1 s this would take over 30 s.
      if (Date.now() - t0 > 15_000) throw new Error(`no final alert for ${correlator}\n${log.slice(-30).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  t.is(await job('/unreachable', 'job-reset'), 1501);
  t.is(hits['/unreachable'].length, 2, 'the first attempt and one retry (the default would make 6)');
  t.is(await job('/broken', 'job-500'), 1500);
  t.is(hits['/broken'].length, 2);
  t.is(await job('/flaky', 'job-heal'), 1200, log.slice(-30).join('\n'));
  t.is(hits['/flaky'].length, 2);
  const gap = hits['/unreachable'][1] - hits['/unreachable'][0];
  t.true(gap >= 45, `retried after ${gap} ms, before the back-off`);
  t.log(`retry after ${gap} ms (--download-backoff-ms 50)`);
  t.is(await dev.close(), 0);
});
