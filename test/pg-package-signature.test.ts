// Package signatures in the PostgreSQL meta store (the job store's scomo_packages table keeps
// each record as JSON): kept across a reopen by another connection, and older records without
// one still read.
import test from 'ava';
import { startPostgres, TestPostgres } from './helpers/postgres.js';
import { PgStorage } from '../src/server/storage/postgres.js';
import { PgJobStore } from '../src/server/scomo/job-store-postgres.js';
import type { PackageMeta } from '../src/server/repo/meta-store.js';

let pg: TestPostgres | undefined;
test.after.always(async () => { await pg?.stop(); });

const SIG = 'rsa-pss-sha256:' + Buffer.alloc(384, 9).toString('base64');

test('pg meta store keeps the signature across a reopen; records without one still read', async (t) => {
  pg = await startPostgres();
  const url = await pg.createDatabase();
  const old: PackageMeta = { pkgId: 'pkg-0000000000000001', name: 'old', version: '1', type: 'x/y', size: 1, sha256: '1'.repeat(64), created: '2026-01-01T00:00:00.000Z' };
  const s1 = await PgStorage.open(url);
  const a = await PgJobStore.open(s1);
  await a.put(old);
  await a.put({ ...old, pkgId: 'pkg-0000000000000002', created: '2026-01-02T00:00:00.000Z', signature: SIG });
  await a.close();
  await s1.close();
  const s2 = await PgStorage.open(url);
  t.teardown(() => s2.close());
  const b = await PgJobStore.open(s2);
  t.is((await b.get('pkg-0000000000000002'))?.signature, SIG);
  const o = await b.get(old.pkgId);
  t.is(o?.name, 'old');
  t.false(o !== undefined && 'signature' in o);
  t.deepEqual((await b.list()).map((m) => m.signature), [undefined, SIG]);
  // Signing an existing record later (PUT /api/packages/{id}/signature) replaces it in place.
  await b.put({ ...old, signature: SIG });
  t.is((await b.get(old.pkgId))?.signature, SIG);
  await b.close();
});
