// CampaignStore contract, checked on SQLite and on PostgreSQL with the same bodies: what one
// returns the other returns (order included).
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, TestPostgres } from './helpers/postgres.js';
import { PgStorage } from '../src/server/storage/postgres.js';
import { PgCampaignStore } from '../src/server/campaigns/store-postgres.js';
import { SqliteCampaignStore } from '../src/server/campaigns/store-sqlite.js';
import type { Campaign, CampaignStore, CampaignTarget } from '../src/server/campaigns/types.js';

const pgStarted: Promise<TestPostgres> = startPostgres();
pgStarted.catch(() => {});
const cleanups: Array<() => Promise<void>> = [];
test.after.always(async () => {
  for (const c of cleanups) await c();
  await (await pgStarted).stop();
});

type Opener = () => Promise<CampaignStore>;
const backends: Array<[string, Opener]> = [
  ['sqlite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scomo-cs-'));
    const s = new SqliteCampaignStore(dir);
    cleanups.push(async () => { await s.close(); rmSync(dir, { recursive: true, force: true }); });
    return s;
  }],
  ['postgres', async () => {
    const st = await PgStorage.open(await (await pgStarted).createDatabase(), { max: 4 });
    cleanups.push(() => st.close());
    return PgCampaignStore.open(st);
  }],
];

function campaign(id: string, state: Campaign['state'], createdAt: number): Campaign {
  return {
    campaignId: id, operation: 'DownloadInstall', pkgId: 'pkg-1', delivery: 'alternate', target: { tags: ['a'] }, waves: [1, 2],
    successThreshold: 0.9, errorThreshold: 0.2, state, currentWave: -1, errorBaseline: { failed: 0, finished: 0 },
    createdAt, updatedAt: createdAt, history: [{ state, at: createdAt }],
  };
}

const target = (deviceId: string, wave: number, state: CampaignTarget['state'] = 'pending'): CampaignTarget => ({ deviceId, wave, state, updatedAt: 1 });

for (const [name, open] of backends) {
  test(`${name}: campaigns are stored, replaced, listed newest first, active only on request`, async (t) => {
    const s = await open();
    await s.putCampaign(campaign('c-a', 'running', 1));
    await s.putCampaign(campaign('c-b', 'completed', 2));
    await s.putCampaign(campaign('c-C', 'paused', 2));
    await s.putCampaign({ ...campaign('c-a', 'running', 1), currentWave: 1 });
    t.is((await s.getCampaign('c-a'))?.currentWave, 1);
    t.is(await s.getCampaign('nope'), undefined);
    t.deepEqual((await s.listCampaigns()).map((c) => c.campaignId), ['c-b', 'c-C', 'c-a']);
    t.deepEqual((await s.listCampaigns({ activeOnly: true })).map((c) => c.campaignId), ['c-C', 'c-a']);
    t.deepEqual((await s.listCampaigns({ limit: 1 })).map((c) => c.campaignId), ['c-b']);
  });

  test(`${name}: targets are upserted by device and listed by wave then device`, async (t) => {
    const s = await open();
    const many = Array.from({ length: 2500 }, (_x, i) => target(`d${String(i).padStart(4, '0')}`, i % 3));
    await s.putTargets('c1', many);
    await s.putTargets('c1', [target('d0001', 1, 'succeeded'), target('Z-dev', 0)]);
    await s.putTargets('c2', [target('d0001', 0)]);
    const list = await s.listTargets('c1');
    t.is(list.length, 2501);
    t.deepEqual(list.slice(0, 3).map((x) => x.deviceId), ['Z-dev', 'd0000', 'd0003']);
    t.is(list.find((x) => x.deviceId === 'd0001')?.state, 'succeeded');
    t.deepEqual((await s.listTargets('c2')).map((x) => x.deviceId), ['d0001']);
    t.deepEqual(await s.listTargets('none'), []);
  });

  test(`${name}: tags replace each other; devices with any of some tags come back sorted, once`, async (t) => {
    const s = await open();
    await s.setTags('dev-b', ['x', 'y']);
    await s.setTags('dev-a', ['y', 'Y']);
    await s.setTags('dev-c', ['z']);
    await s.setTags('dev-c', []);
    t.deepEqual(await s.getTags('dev-a'), ['Y', 'y']);
    t.deepEqual(await s.getTags('dev-c'), []);
    t.deepEqual(await s.devicesWithAnyTag(['x', 'y']), ['dev-a', 'dev-b']);
    t.deepEqual(await s.devicesWithAnyTag(['z']), []);
    t.deepEqual(await s.devicesWithAnyTag([]), []);
  });
}
