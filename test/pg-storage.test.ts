// The Storage contract on PostgreSQL: the DM server suites that run on SQLite (server-session,
// server-hostile, server-large) run here again on PgStorage, each test on a fresh database; plus what only a
// store shared by several processes has: a lock across connections, entries claimed with SKIP
// LOCKED, alerts de-duplicated, events by LISTEN/NOTIFY delivered on commit, the job store's
// owner locks and monotonic job writes.
import test from 'ava';
// The SQLite suites, run again here on PostgreSQL (their tests register on import; ava wants
// every test declared synchronously, so PostgreSQL starts lazily, on first use).
import './server-session.test.js';
import './server-hostile.test.js';
import './server-large.test.js';
import { startPostgres, TestPostgres } from './helpers/postgres.js';
import { storageBackend, ScriptClient, account, alert, answerAll, basic, commandsOf, devInfoReplace, results, DEV } from './helpers/server-fixtures.js';
import { DmServer } from '../src/server/dm/server.js';
import { makeAccount } from '../src/server/accounts.js';
import type { ReceivedAlert } from '../src/server/storage/types.js';
import { PgStorage } from '../src/server/storage/postgres.js';
import { PgJobStore, mergeJob } from '../src/server/scomo/job-store-postgres.js';
import type { Job } from '../src/server/scomo/types.js';
import type { StorageEvent } from '../src/server/storage/types.js';

const pgStarted: Promise<TestPostgres> = startPostgres();
pgStarted.catch(() => {}); // reported by every test that uses it
const pg = {
  async createDatabase(): Promise<string> { return (await pgStarted).createDatabase(); },
};
const opened: PgStorage[] = [];
async function open(url: string): Promise<PgStorage> {
  const s = await PgStorage.open(url, { max: 8 });
  opened.push(s);
  return s;
}
storageBackend.open = async () => open(await pg.createDatabase());

test.after.always(async () => {
  for (const s of opened) await s.close();
  await (await pgStarted).stop();
});


const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('pg: migrations are recorded once; a second process opening the database applies nothing again', async (t) => {
  const url = await pg.createDatabase();
  const [a, b] = await Promise.all([open(url), open(url)]);
  const rows = (await a.pool.query('SELECT id FROM schema_migrations ORDER BY id')).rows as { id: string }[];
  t.deepEqual(rows.map((r) => r.id), ['dm-001-core']);
  await b.putAccount({ deviceId: 'd', clientUser: 'u', clientSecret: 's', serverId: 'srv', serverSecret: 'x', authType: 'basic', serverAuthType: 'basic', serverNonce: '', clientNonce: '', createdAt: 1, updatedAt: 1 });
  t.is((await a.getAccount('d'))?.clientUser, 'u');
});

test('pg: exclusive() serialises work on one key across connections, and rolls back on error', async (t) => {
  const url = await pg.createDatabase();
  const [a, b] = await Promise.all([open(url), open(url)]);
  const log: string[] = [];
  const work = (s: PgStorage, name: string) => s.exclusive('dev-1', async () => {
    log.push(name + '>');
    await s.enqueue('dev-1', [{ kind: 'Get', cmdID: '0', items: [{ target: { locURI: './' + name } }] }]);
    await tick(30);
    log.push('<' + name);
  });
  await Promise.all([work(a, 'a'), work(b, 'b')]);
  t.true(log.join(' ') === 'a> <a b> <b' || log.join(' ') === 'b> <b a> <a', log.join(' '));
  await t.throwsAsync(a.exclusive('dev-1', async () => {
    await a.enqueue('dev-1', [{ kind: 'Get', cmdID: '0', items: [{ target: { locURI: './gone' } }] }]);
    throw new Error('boom');
  }), { message: 'boom' });
  t.is((await b.queuedEntries('dev-1', 10)).length, 2, 'the failed unit of work left nothing');
});

test('pg: queued entries taken inside a unit of work are skipped by any other until it ends', async (t) => {
  const url = await pg.createDatabase();
  const [a, b] = await Promise.all([open(url), open(url)]);
  const e1 = await a.enqueue('dev-2', [{ kind: 'Get', cmdID: '0', items: [{ target: { locURI: './x' } }] }]);
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  let seen: number[] = [];
  const inA = a.exclusive('dev-2', async () => {
    seen = (await a.queuedEntries('dev-2', 10)).map((e) => e.id);
    await held;
    await a.setEntryState(e1.id, 'sent');
  });
  while (!seen.length) await tick(5);
  t.deepEqual(seen, [e1.id]);
  t.deepEqual(await b.queuedEntries('dev-2', 10), [], 'locked row skipped, not waited for');
  release();
  await inA;
  t.deepEqual(await b.queuedEntries('dev-2', 10), [], 'now sent');
  t.is((await b.getEntry(e1.id))?.state, 'sent');
});

test('pg: withdrawing an entry a session is taking waits for it and then leaves the sent entry alone; a queued one is withdrawn', async (t) => {
  const url = await pg.createDatabase();
  const [a, b] = await Promise.all([open(url), open(url)]);
  const get = { kind: 'Get' as const, cmdID: '0', items: [{ target: { locURI: './x' } }] };
  const e1 = await a.enqueue('dev-4', [get]);
  const e2 = await a.enqueue('dev-4', [get]);
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  let taken = false;
  const inA = a.exclusive('dev-4', async () => {
    await a.queuedEntries('dev-4', 1); // locks e1 only
    taken = true;
    await held;
    await a.setEntryState(e1.id, 'sent');
  });
  while (!taken) await tick(5);
  let settled = false;
  const withdrawing = b.withdrawEntry(e1.id, [{ cmd: 'Get', status: 514 }]).then((r) => { settled = true; return r; });
  await tick(100);
  t.false(settled, 'waits for the session holding the row');
  release();
  await inA;
  t.false(await withdrawing, 'the entry went out: not withdrawn');
  t.is((await b.getEntry(e1.id))?.state, 'sent');
  t.true(await b.withdrawEntry(e2.id, [{ cmd: 'Get', status: 514 }]));
  const w = await a.getEntry(e2.id);
  t.is(w?.state, 'done');
  t.deepEqual(w?.outcomes, [{ cmd: 'Get', status: 514 }]);
  t.false(await b.withdrawEntry(e2.id, []), 'done already');
});

test('pg: the same alert applied twice (a retried request) is stored once', async (t) => {
  const s = await open(await pg.createDatabase());
  const al = { deviceId: 'dev-3', code: 1226, correlator: 'job-1', items: [{ data: 'x' }], sessionKey: 'k1', receivedAt: 5 };
  const a1 = await s.addAlert(al);
  const a2 = await s.addAlert({ ...al, receivedAt: 6 });
  t.is(a1.id, a2.id);
  const other = await s.addAlert({ ...al, sessionKey: 'k2' });
  t.not(other.id, a1.id);
  t.is((await s.listAlerts('dev-3')).length, 2);
  t.deepEqual((await s.listAlerts('dev-3', a1.id)).map((a) => a.id), [other.id]);
});

test('pg: events reach the other processes only once the unit of work commits; never the sender', async (t) => {
  const url = await pg.createDatabase();
  const [a, b] = await Promise.all([open(url), open(url)]);
  const atB: StorageEvent[] = [];
  const atA: StorageEvent[] = [];
  b.subscribe((e) => atB.push(e));
  a.subscribe((e) => atA.push(e));
  await a.exclusive('dev-4', async () => {
    await a.publish({ type: 'command-done', id: 7, deviceId: 'dev-4' });
    await tick(100);
    t.is(atB.length, 0, 'not before commit');
  });
  await t.throwsAsync(a.exclusive('dev-4', async () => { await a.publish({ type: 'alert', id: 8, deviceId: 'dev-4' }); throw new Error('no'); }));
  for (let i = 0; i < 200 && !atB.length; i++) await tick(10);
  await tick(50);
  t.deepEqual(atB.map((e) => [e.type, e.id]), [['command-done', 7]]);
  t.is(atA.length, 0);
});

function job(over: Partial<Job> = {}): Job {
  return {
    jobId: 'job-1', deviceId: 'dev-5', operation: 'Download', delivery: 'alternate', origin: 'api', state: 'queued', correlator: 'job-1',
    createdAt: 1, updatedAt: 1, history: [{ state: 'queued', at: 1 }], ...over,
  } as Job;
}

test('pg job store: a job never moves back nor past its outcome, whichever process writes last', async (t) => {
  const s = await open(await pg.createDatabase());
  const js = await PgJobStore.open(s);
  await js.putJob(job());
  await js.putJob(job({ state: 'accepted', execUri: './x', history: [{ state: 'queued', at: 1 }, { state: 'accepted', at: 3 }] }));
  await js.putJob(job({ state: 'in-session', entryId: 9, history: [{ state: 'queued', at: 1 }, { state: 'in-session', at: 2 }] }));
  let j = (await js.getJob('job-1'))!;
  t.is(j.state, 'accepted');
  t.is(j.entryId, 9, 'a field only the stale copy had is kept');
  t.is(j.execUri, './x');
  await js.putJob(job({ state: 'succeeded', resultCode: 1200, history: [...j.history, { state: 'succeeded', at: 4 }] }));
  await js.putJob(job({ state: 'failed', resultCode: 1400, history: [...j.history, { state: 'failed', at: 5 }] }));
  j = (await js.getJob('job-1'))!;
  t.is(j.state, 'succeeded');
  t.is(j.resultCode, 1200);
  t.deepEqual(j.history.filter((h) => h.state === 'succeeded' || h.state === 'failed').map((h) => h.state), ['succeeded']);
  t.deepEqual(mergeJob(job({ state: 'failed', status: 0, resultCode: null }), job({ state: 'succeeded', resultCode: 1200 })).state, 'succeeded',
    'a job that failed only for a lost session may still be settled by its alert');
  t.deepEqual(await js.countByState(), { succeeded: 1 });
  await js.close();
});

test('pg job store: a live process keeps its jobs; those of a stopped one are taken over by exactly one other', async (t) => {
  const url = await pg.createDatabase();
  const [sa, sb, sc] = await Promise.all([open(url), open(url), open(url)]);
  const [a, b, c] = await Promise.all([PgJobStore.open(sa), PgJobStore.open(sb), PgJobStore.open(sc)]);
  await a.putJob(job({ jobId: 'job-a1' }));
  await a.putJob(job({ jobId: 'job-a2', state: 'succeeded' }));
  await b.putJob(job({ jobId: 'job-b1' }));
  t.deepEqual(await c.takeOrphans(), []);
  await a.close(); // as a dead process's connection would
  const [fromB, fromC] = await Promise.all([b.takeOrphans(), c.takeOrphans()]);
  t.deepEqual([...fromB, ...fromC].map((j) => j.jobId), ['job-a1'], 'the unfinished job, once');
  t.deepEqual(await c.takeOrphans(), []);
  await b.close();
  await c.close();
});

test('pg: a session started at one process continues at another; the process that queued the commands learns their outcome', async (t) => {
  const url = await pg.createDatabase();
  const [sa, sb] = await Promise.all([open(url), open(url)]);
  const acc = makeAccount(account());
  if (typeof acc === 'string') throw new Error(acc);
  await sa.putAccount(acc);
  const dmA = new DmServer({ storage: sa });
  const dmB = new DmServer({ storage: sb });
  const alertsAtA: ReceivedAlert[] = [];
  dmA.on('alert', (a) => alertsAtA.push(a));
  try {
    const h = await dmA.queueCommands(DEV, [{ kind: 'Get', cmdID: '', items: [{ target: { locURI: './DevInfo/Mod' } }] }], { tag: 'x' });
    const c = new ScriptClient(dmA);
    const r1 = await c.send(c.build([alert(1201), devInfoReplace()], { cred: basic('dev-user', 'dev-secret') }));
    const cmds = commandsOf(r1);
    t.deepEqual(cmds.map((k) => k.kind), ['Get']);
    (c as unknown as { dm: DmServer }).dm = dmB; // the next message reaches the other process
    const r2 = await c.send(c.build([...answerAll(r1, 200), results(r1.hdr.msgID, cmds[0].cmdID, [{ source: { locURI: './DevInfo/Mod' }, data: 'X1' }]),
      { kind: 'Alert', cmdID: '0', code: 1226, correlator: 'corr-1', items: [{ source: { locURI: './SCOMO/Download/x' }, meta: { type: 'urn:oma:at:scomo:1.0:OperationComplete', format: 'xml' }, data: '<ResultCode>1200</ResultCode>' }] }]));
    t.true(r2.body.final);
    const done = await h.done;
    t.is(done.outcomes?.[0].status, 200);
    t.is(done.outcomes?.[0].results?.[0].data, 'X1');
    for (let i = 0; i < 200 && !alertsAtA.length; i++) await tick(10);
    t.deepEqual(alertsAtA.map((a) => [a.code, a.correlator]), [[1226, 'corr-1']]);
  } finally {
    dmA.close();
    dmB.close();
  }
});

test('pg job store: one process leads a name at a time; when it stops another takes the lead', async (t) => {
  const url = await pg.createDatabase();
  const [sa, sb] = await Promise.all([open(url), open(url)]);
  const a = await PgJobStore.open(sa);
  const b = await PgJobStore.open(sb);
  t.true(await a.lead('campaigns'));
  t.true(await a.lead('campaigns'));
  t.false(await b.lead('campaigns'));
  t.true(await b.lead('other'));
  await a.close();
  t.true(await b.lead('campaigns'));
  await b.close();
});

test('pg: a listening connection that is lost (database restart, admin) is re-opened', async (t) => {
  const url = await pg.createDatabase();
  const [a, b] = await Promise.all([open(url), open(url)]);
  const got: StorageEvent[] = [];
  b.subscribe((e) => got.push(e));
  const killed = await a.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`);
  t.true((killed.rowCount ?? 0) >= 2);
  for (let i = 0; i < 100 && !got.length; i++) {
    await a.publish({ type: 'job', id: 'job-' + i });
    await tick(100);
  }
  t.true(got.length > 0, 'events flow again');
});
