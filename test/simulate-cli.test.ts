// `scomo simulate` end to end: provisions tagged accounts over the API, runs the devices, answers
// package 0 (a job sent to a simulated device succeeds), and stops cleanly on SIGTERM.
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startEnv, TOKEN } from './helpers/scomo-e2e.js';
import { makeAppPackage } from './helpers/packages.js';

const bin = fileURLToPath(new URL('../bin/scomo.js', import.meta.url));

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    c.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    c.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    c.on('close', (code) => resolve({ code, out, err })); // 'close': after stdout and stderr are read to the end
  });
}

test('scomo simulate provisions, runs and stops a fleet', async (t) => {
  t.timeout(60_000);
  const env = await startEnv();
  const child = spawn(process.execPath, [bin, 'simulate', '--server', env.srv.url, '--devices', '5', '--prefix', 'cli-', '--token', TOKEN, '--auth', 'md5'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  try {
    const t0 = Date.now();
    while (!/fleet up/.test(out)) {
      if (Date.now() - t0 > 40_000 || child.exitCode !== null) throw new Error('simulator did not come up: ' + out + err);
      await new Promise((r) => setTimeout(r, 50));
    }
    t.regex(out, /provisioned 5 devices \(cli-0 \.\. cli-4, tag "sim"\)/);
    const dev = await env.api<{ tags: string[]; notifyPort?: number; scomoRoot?: string }>('GET', '/api/devices/cli-3');
    t.is(dev.status, 200);
    t.deepEqual(dev.json.tags, ['sim']);
    t.true(typeof dev.json.notifyPort === 'number');
    const pkg = await env.upload(makeAppPackage({ id: 'com.example.cli', name: 'Cli', version: '1' }), 'cli', '1');
    const job = await env.api<{ jobId: string }>('POST', '/api/devices/cli-3/jobs', { operation: 'DownloadInstall', pkgId: pkg.pkgId });
    t.is(job.status, 201);
    const done = await env.waitJob(job.json.jobId, 30_000);
    t.is(done.state, 'succeeded', JSON.stringify(done));
    t.is(done.resultCode, 1200);
    // The campaign CLI over the same fleet: create, wait (exit 0 = completed without failures).
    const pkg2 = await env.upload(makeAppPackage({ id: 'com.example.cli', name: 'Cli', version: '2' }), 'cli', '2');
    const created = await cli(['campaign', 'create', '--operation', 'DownloadInstall', '--pkg', pkg2.pkgId, '--tags', 'sim', '--waves', '2', '--server', env.srv.url, '--token', TOKEN]);
    t.is(created.code, 0, created.err);
    const cid = created.out.trim();
    t.regex(cid, /^cmp-/);
    const waited = await cli(['campaign', 'wait', cid, '--timeout', '40', '--server', env.srv.url, '--token', TOKEN]);
    t.is(waited.code, 0, waited.out + waited.err);
    t.regex(waited.out, /completed .*succeeded 5/);
    child.kill('SIGTERM');
    t.is(await exited, 0);
    t.regex(out, /stopping the fleet/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await env.close();
  }
});

test('scomo simulate refuses bad options with a one-line reason', async (t) => {
  const run = (args: string[]): Promise<{ code: number | null; err: string }> => new Promise((resolve) => {
    const c = spawn(process.execPath, [bin, 'simulate', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SCOMO_API_TOKEN: '' } });
    let err = '';
    c.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    c.on('close', (code) => resolve({ code, err })); // 'exit' can come before the last stderr bytes
  });
  const a = await run(['--devices', '3', '--token', 't']);
  t.is(a.code, 1);
  t.regex(a.err, /missing --server/);
  const b = await run(['--server', 'http://127.0.0.1:1', '--devices', '0', '--token', 't']);
  t.regex(b.err, /--devices must be 1\.\.100000/);
  const c = await run(['--server', 'http://127.0.0.1:1', '--devices', '2']);
  t.regex(c.err, /missing --token/);
  const d = await run(['--server', 'http://127.0.0.1:1', '--devices', '2', '--token', 't']);
  t.is(d.code, 1);
  t.regex(d.err, /provisioning failed|fetch failed|ECONNREFUSED/);
});
