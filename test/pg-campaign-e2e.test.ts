// A campaign on PostgreSQL with two `scomo server --db` processes behind one address (round robin:
// each request may reach either process), four real emulated devices, waves 1 + 3; one process is
// SIGKILLed after the first wave. The campaign still completes through the survivor (its lease on
// the campaign expires and the other process takes over), with one succeeded job per device.
import test from 'ava';
import { startPostgres, type TestPostgres } from './helpers/postgres.js';
import { startCluster } from './helpers/pg-cluster.js';
import { makeAppPackage } from './helpers/packages.js';

const pgStarted: Promise<TestPostgres> = startPostgres();
pgStarted.catch(() => {});
test.after.always(async () => { await (await pgStarted).stop(); });

interface Campaign { state: string; wave?: number; waves: { size?: number; state?: string }[]; counts: Record<string, number> }

test('a campaign completes across two processes on PostgreSQL, with one of them killed mid-campaign', async (t) => {
  const c = await startCluster(await pgStarted);
  t.teardown(() => c.close());
  const ids = ['camp-1', 'camp-2', 'camp-3', 'camp-4'];
  for (const id of ids) await c.addDevice(id);
  for (const id of ids) {
    await c.bootDevice(id);
    const r = await c.api('PUT', `/api/devices/${id}`, { tags: ['lab'] });
    t.is(r.status, 200, JSON.stringify(r.json));
  }
  const pkg = await c.upload(makeAppPackage({ id: 'com.example.epg', name: 'EPG', version: '4.0' }), 'epg', '4.0');
  const created = await c.api<{ campaignId: string }>('POST', '/api/campaigns', {
    operation: 'DownloadInstall', pkgId: pkg.pkgId, target: { tags: ['lab'] }, waves: [1, 3], successThreshold: 1, errorThreshold: 0.5,
  });
  t.is(created.status, 201, JSON.stringify(created.json));
  const id = created.json.campaignId;
  const get = async (): Promise<Campaign> => (await c.api<Campaign>('GET', `/api/campaigns/${id}`)).json;
  const until = async (what: string, ok: (x: Campaign) => boolean, ms: number): Promise<Campaign> => {
    const t0 = Date.now();
    for (;;) {
      const x = await get();
      if (ok(x)) return x;
      if (Date.now() - t0 > ms) throw new Error(`campaign did not reach "${what}" in ${ms} ms: ${JSON.stringify(x)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await until('first wave succeeded', (x) => (x.counts.succeeded ?? 0) >= 1, 60_000);
  c.kill(c.backends[0]);
  const done = await until('completed', (x) => x.state === 'completed', 90_000);
  t.is(done.counts.succeeded, 4, JSON.stringify(done));
  t.falsy(done.counts.failed);
  for (const dev of ids) {
    const jobs = (await c.api<{ jobs: { campaignId?: string; state: string }[] }>('GET', `/api/devices/${dev}/jobs`)).json.jobs.filter((j) => j.campaignId === id);
    t.deepEqual(jobs.map((j) => j.state), ['succeeded'], `${dev}: exactly one job of the campaign, succeeded`);
  }
});
