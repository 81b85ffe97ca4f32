// The SCOMO server end to end on PostgreSQL with TWO `scomo server --db` processes behind one
// address (a round-robin proxy: consecutive requests, DM messages of one session included, go
// to different processes), with the real emulated device; and with one process SIGKILLed
// mid-job and mid-session: the job still completes through the other, with exactly one outcome,
// one final alert stored and one delivery of its commands.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { startPostgres, TestPostgres } from './helpers/postgres.js';
import { startCluster, Cluster } from './helpers/pg-cluster.js';
import { makeAppPackage } from './helpers/packages.js';

const pgStarted: Promise<TestPostgres> = startPostgres();
pgStarted.catch(() => {});
test.after.always(async () => { await (await pgStarted).stop(); });

interface Inv { deployed: { id: string; version: string; state: string }[]; delivered: { pkgId: string; state: string }[]; stale: boolean }

async function createJob(c: Cluster, deviceId: string, body: Record<string, unknown>, base?: string): Promise<string> {
  const r = await c.api<{ jobId: string }>('POST', `/api/devices/${deviceId}/jobs`, body, base);
  if (r.status !== 201) throw new Error('job create: ' + r.status + ' ' + JSON.stringify(r.json));
  return r.json.jobId;
}

function outcomes(job: Record<string, unknown>): string[] {
  return (job.history as { state: string }[]).map((h) => h.state).filter((s) => s === 'succeeded' || s === 'failed');
}

async function finalAlerts(c: Cluster, deviceId: string, jobId: string): Promise<number> {
  return (await c.storage.listAlerts(deviceId)).filter((a) => a.code === 1226 && a.correlator === jobId).length;
}

test('two processes behind one address: alternate DownloadInstall, Deactivate, Remove and a WBXML large-object delivery over DM', async (t) => {
  const c = await startCluster(await pgStarted);
  try {
    await c.addDevice('dev-x');
    await c.addDevice('dev-w');
    await c.bootDevice('dev-x');
    await c.bootDevice('dev-w', { encoding: 'wbxml' });
    const pkg = await c.upload(makeAppPackage({ id: 'com.example.hello', name: 'Hello', version: '1.0' }), 'hello', '1.0');
    const big = await c.upload(makeAppPackage({ id: 'app.big', name: 'Big', version: '2.0', payloadBytes: 200_000 }), 'big', '2.0');

    const [j1, jw] = await Promise.all([
      createJob(c, 'dev-x', { operation: 'DownloadInstall', pkgId: pkg.pkgId, delivery: 'alternate' }).then((id) => c.waitJob(id)),
      createJob(c, 'dev-w', { operation: 'DownloadInstallInactive', pkgId: big.pkgId, delivery: 'dm' }).then((id) => c.waitJob(id)),
    ]);
    t.is(j1.state, 'succeeded', JSON.stringify(j1));
    t.is(j1.resultCode, 1200);
    t.is(jw.state, 'succeeded', JSON.stringify(jw));
    // The inventory refresh is queued by one process and may be answered through the other.
    let inv = (await c.api<Inv>('GET', '/api/devices/dev-x/inventory?refresh=1&timeout=10')).json;
    t.deepEqual(inv.deployed.map((d) => `${d.id}@${d.version}:${d.state}`), ['com.example.hello@1.0:active']);
    inv = (await c.api<Inv>('GET', '/api/devices/dev-w/inventory?refresh=1&timeout=10')).json;
    t.deepEqual(inv.deployed.map((d) => `${d.id}@${d.version}:${d.state}`), ['app.big@2.0:inactive']);

    const j2 = await c.waitJob(await createJob(c, 'dev-x', { operation: 'Deactivate', componentId: 'com.example.hello' }));
    t.is(j2.state, 'succeeded', JSON.stringify(j2));
    const j3 = await c.waitJob(await createJob(c, 'dev-x', { operation: 'Remove', componentId: 'com.example.hello' }));
    t.is(j3.state, 'succeeded', JSON.stringify(j3));
    inv = (await c.api<Inv>('GET', '/api/devices/dev-x/inventory?refresh=1&timeout=10')).json;
    t.deepEqual(inv.deployed, []);

    for (const j of [j1, jw, j2, j3]) {
      t.deepEqual(outcomes(j), ['succeeded']);
      t.is((await c.storage.entriesByTag(j.jobId as string)).length, 1, 'the job\'s commands were queued once');
    }
    t.is(await finalAlerts(c, 'dev-x', j1.jobId as string), 1);
    t.true(c.backends.every((b) => b.dmRequests > 3), 'both processes answered DM requests: ' + c.backends.map((b) => b.dmRequests).join('/'));
  } finally {
    await c.close();
  }
});

test('a process SIGKILLed right after it created a job (owning it): the other takes the job over and completes it', async (t) => {
  const c = await startCluster(await pgStarted);
  try {
    await c.addDevice('dev-k');
    await c.bootDevice('dev-k');
    const pkg = await c.upload(makeAppPackage({ id: 'app.k', name: 'K', version: '1.0' }), 'k', '1.0');
    const [victim, survivor] = c.backends;
    // The job is created at the victim directly: the victim owns it (plans it, queues it, waits for it).
    const jobId = await createJob(c, 'dev-k', { operation: 'DownloadInstall', pkgId: pkg.pkgId, delivery: 'alternate' }, victim.url);
    c.kill(victim);
    const j = await c.waitJob(jobId, 30_000, survivor.url);
    t.is(j.state, 'succeeded', JSON.stringify(j));
    t.deepEqual(outcomes(j), ['succeeded']);
    t.true((await c.storage.entriesByTag(jobId)).length <= 1, 'never queued twice');
    t.is(await finalAlerts(c, 'dev-k', jobId), 1);
    t.true(survivor.output.some((l) => l.includes(`job ${jobId} taken over`)) || (await c.storage.entriesByTag(jobId)).length === 1);
  } finally {
    await c.close();
  }
});

for (const when of ['status of the Exec', 'final Generic Alert'] as const) {
  test(`a process SIGKILLed mid-session, with the DM message carrying the ${when} in flight: the retried message completes the job once`, async (t) => {
    const c = await startCluster(await pgStarted);
    try {
      await c.addDevice('dev-m');
      await c.bootDevice('dev-m');
      const pkg = await c.upload(makeAppPackage({ id: 'app.m', name: 'M', version: '1.0' }), 'm', '1.0');
      const [victim, survivor] = c.backends;
      let killed = false;
      let jobId = '';
      // The chosen DM message goes to the victim, which is killed as soon as the request is sent:
      // it may or may not have committed it; the proxy re-sends it to the survivor.
      c.router = (req) => {
        if (killed || req.path !== '/dm' || !jobId) return undefined;
        const text = req.body.toString('latin1');
        const hit = when === 'final Generic Alert' ? text.includes('1226') && text.includes(jobId)
          : /<Cmd>Exec<\/Cmd>/.test(text) && /<Data>20[02]<\/Data>/.test(text);
        if (!hit) return undefined;
        killed = true;
        return { to: victim, killAfterSend: true };
      };
      jobId = await createJob(c, 'dev-m', { operation: 'DownloadInstall', pkgId: pkg.pkgId, delivery: 'alternate' }, victim.url);
      const j = await c.waitJob(jobId, 40_000, survivor.url);
      t.true(killed, 'the chosen message was seen');
      t.false(victim.alive);
      t.is(j.state, 'succeeded', JSON.stringify(j));
      t.is(j.resultCode, 1200);
      t.deepEqual(outcomes(j), ['succeeded']);
      t.is((await c.storage.entriesByTag(jobId)).length, 1, 'queued once');
      t.is(await finalAlerts(c, 'dev-m', jobId), 1, 'one final alert stored');
      const inv = (await c.api<Inv>('GET', '/api/devices/dev-m/inventory?refresh=1&timeout=10')).json;
      t.deepEqual(inv.deployed.map((d) => d.id), ['app.m']);
    } finally {
      await c.close();
    }
  });
}

test('scomo server refuses a --db that is not a postgres:// URL', (t) => {
  const r = spawnSync(process.execPath, ['bin/scomo.js', 'server', '--db', 'mysql://x/y', '--port', '0'], { encoding: 'utf8' });
  t.is(r.status, 1);
  t.regex(r.stderr, /--db must be a postgres:\/\/ URL/);
});
