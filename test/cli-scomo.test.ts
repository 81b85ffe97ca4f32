// `scomo package|job|inventory` as child processes against a SCOMO server (and the emulated
// device) running in this process: output, progress, exit codes and one-line errors.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEnv, addDevice, bootDevice, Env, TOKEN } from './helpers/scomo-e2e.js';
import { makeAppPackage } from './helpers/packages.js';
import type { RunningDevice } from '../targets/node/device.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/scomo.js');
const tmp = mkdtempSync(join(tmpdir(), 'scomo-cli-'));

let e: Env;
let dev: RunningDevice;

test.before(async () => {
  e = await startEnv();
  await addDevice(e, 'cli-dev');
  dev = await bootDevice(e, 'cli-dev', join(tmp, 'device'));
});

test.after.always(async () => {
  await dev?.close();
  await e?.close();
});

function scomo(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, SCOMO_API_TOKEN: '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const srv = (): string[] => ['--server', e.srv.url, '--token', TOKEN];

test.serial('package upload, job create, job wait, inventory: a DownloadInstall end to end', async (t) => {
  const file = join(tmp, 'hello.tar');
  writeFileSync(file, makeAppPackage({ id: 'cli.hello', name: 'CLI Hello', version: '1.2.3', payloadBytes: 1_500_000 }));
  const up = await scomo(['package', 'upload', file, '--name', 'cli-hello', '--version', '1.2.3', ...srv()]);
  t.is(up.code, 0, up.stderr);
  const pkg = JSON.parse(up.stdout) as { pkgId: string; url: string; sha256: string; size: number };
  t.regex(pkg.pkgId, /^pkg-[0-9a-f]{16}$/);
  t.regex(pkg.sha256, /^[0-9a-f]{64}$/);
  t.regex(up.stderr, /uploading hello\.tar: 100% \(1\.\d MB of 1\.\d MB\)/);

  const cr = await scomo(['job', 'create', 'cli-dev', '--operation', 'DownloadInstall', '--pkg', pkg.pkgId, ...srv()], { SCOMO_API_TOKEN: TOKEN });
  t.is(cr.code, 0, cr.stderr);
  const jobId = cr.stdout.trim();
  t.regex(jobId, /^job-[0-9a-f]{12}$/);

  const w = await scomo(['job', 'wait', jobId, '--timeout', '30', '--server', e.srv.url], { SCOMO_API_TOKEN: TOKEN });
  t.is(w.code, 0, w.stderr);
  t.is(w.stdout.trim(), `job ${jobId} succeeded (result 1200)`);
  t.regex(w.stderr, /DownloadInstall on cli-dev\): (queued|notified|in-session|accepted|succeeded)/);

  const show = await scomo(['job', 'show', jobId, ...srv()]);
  t.is(show.code, 0);
  t.like(JSON.parse(show.stdout), { jobId, deviceId: 'cli-dev', operation: 'DownloadInstall', state: 'succeeded', resultCode: 1200 });

  const inv = await scomo(['inventory', 'cli-dev', '--refresh', '--timeout', '10', ...srv()]);
  t.is(inv.code, 0, inv.stderr);
  t.regex(inv.stdout, /deployed components:\nID\s+NAME\s+VERSION\s+STATE\ncli\.hello\s+CLI Hello\s+1\.2\.3\s+active/);
  const invJson = await scomo(['inventory', 'cli-dev', '--json', ...srv()]);
  t.deepEqual((JSON.parse(invJson.stdout) as { deployed: unknown[] }).deployed, [{ id: 'cli.hello', name: 'CLI Hello', version: '1.2.3', state: 'active', pkgIdRef: pkg.pkgId }]);
});

test('job wait on a failing job exits 1 with a one-line reason', async (t) => {
  const cr = await scomo(['job', 'create', 'cli-dev', '--operation', 'Activate', '--component', 'not.there', ...srv()]);
  t.is(cr.code, 0, cr.stderr);
  const w = await scomo(['job', 'wait', cr.stdout.trim(), '--timeout', '30', ...srv()]);
  t.is(w.code, 1);
  t.regex(w.stderr, /failed: component not\.there is not deployed on device cli-dev\n$/);
  t.notRegex(w.stderr, /\s+at\s.*:\d+:\d+/);
});

test('API validation errors come back as one line, exit 1', async (t) => {
  const r = await scomo(['job', 'create', 'cli-dev', '--operation', 'DownloadInstall', '--pkg', 'pkg-0000000000000000', ...srv()]);
  t.is(r.code, 1);
  t.is(r.stderr, 'scomo job: unknown package pkg-0000000000000000\n');
  const u = await scomo(['job', 'create', 'cli-dev', '--operation', 'Explode', ...srv()]);
  t.is(u.code, 1);
  t.regex(u.stderr, /^scomo job: --operation must be one of Download, /);
});

test('server down, missing token, wrong token: clear one-line errors, exit 1, no stack trace', async (t) => {
  const down = await scomo(['job', 'show', 'job-x', '--server', 'http://127.0.0.1:1', '--token', 'x']);
  t.is(down.code, 1);
  t.is(down.stderr, 'scomo job: cannot reach server at http://127.0.0.1:1 (ECONNREFUSED)\n');
  const none = await scomo(['inventory', 'cli-dev', '--server', e.srv.url]);
  t.is(none.code, 1);
  t.is(none.stderr, 'scomo inventory: no API token: pass --token T or set SCOMO_API_TOKEN\n');
  const wrong = await scomo(['package', 'list', '--server', e.srv.url, '--token', 'nope']);
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /^scomo package: the server refused the API token/);
  const missing = await scomo(['package', 'upload', join(tmp, 'nope.tar'), '--name', 'a', '--version', '1', ...srv()]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^scomo package: cannot read .*nope\.tar: ENOENT\n$/);
});

test('scomo server --db-pool: a whole number 2..1000, only with --db; usage errors exit 1 before anything starts', async (t) => {
  for (const [args, re] of [
    [['--db-pool', '5'], /^scomo server: --db-pool goes with --db$/m],
    [['--db', 'postgres://127.0.0.1:1/x', '--db-pool', '1'], /^scomo server: --db-pool must be a whole number of connections, 2\.\.1000$/m],
    [['--db', 'postgres://127.0.0.1:1/x', '--db-pool', 'ten'], /--db-pool must be a whole number/],
    [['--db', 'postgres://127.0.0.1:1/x', '--db-pool', '1001'], /--db-pool must be a whole number/],
  ] as const) {
    const r = await scomo(['server', '--port', '0', '--data', join(tmp, 'never'), ...args]);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, re);
    t.notRegex(r.stderr, /^\s+at /m);
  }
});
