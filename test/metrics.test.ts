// GET /metrics: Prometheus text format 0.0.4, behind the API token; the counters move when a real
// emulated device runs a session and a job, and when someone presents bad credentials.
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnv, addDevice, bootDevice, TOKEN, Env } from './helpers/scomo-e2e.js';
import { makeAppPackage } from './helpers/packages.js';
import { startDevice } from '../targets/node/device.js';
import { Counter, Histogram, createServerMetrics, endReasonLabel } from '../src/server/metrics.js';

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Scrape { samples: Sample[]; types: Record<string, string>; contentType: string }

/** A small parser of the text exposition format: enough to check syntax and read values. */
function parseExposition(text: string): { samples: Sample[]; types: Record<string, string> } {
  const samples: Sample[] = [];
  const types: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (!m) throw new Error('bad comment line: ' + line);
      if (m[1] === 'TYPE') {
        if (!/^(counter|gauge|histogram|summary|untyped)$/.test(m[3])) throw new Error('bad type: ' + line);
        types[m[2]] = m[3];
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error('bad sample line: ' + line);
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let pos = 0;
      while (pos < m[3].length) {
        re.lastIndex = pos;
        const l = re.exec(m[3]);
        if (!l) throw new Error('bad labels: ' + line);
        labels[l[1]] = l[2].replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
        pos = re.lastIndex;
      }
    }
    const v = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (Number.isNaN(v) && m[4] !== 'NaN') throw new Error('bad value: ' + line);
    samples.push({ name: m[1], labels, value: v });
  }
  return { samples, types };
}

async function scrape(e: Env): Promise<Scrape> {
  const r = await fetch(e.srv.url + '/metrics', { headers: { Authorization: `Bearer ${TOKEN}` } });
  if (r.status !== 200) throw new Error('scrape: ' + r.status);
  return { ...parseExposition(await r.text()), contentType: r.headers.get('content-type') ?? '' };
}

function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const x of s.samples) {
    if (x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)) sum += x.value;
  }
  return sum;
}

test('/metrics needs the API token and counts the refusal as an API auth failure', async (t) => {
  const e = await startEnv();
  try {
    const before = await scrape(e);
    t.is(value(before, 'scomo_auth_failures_total', { kind: 'api' }), 0);
    t.is((await fetch(e.srv.url + '/metrics')).status, 401);
    t.is((await fetch(e.srv.url + '/metrics', { headers: { Authorization: 'Bearer nope' } })).status, 401);
    t.is((await e.api('GET', '/api/devices', undefined, 'wrong')).status, 401);
    t.is((await fetch(e.srv.url + '/api/packages')).status, 401);
    const after = await scrape(e);
    t.is(value(after, 'scomo_auth_failures_total', { kind: 'api' }), 4);
    t.regex(after.contentType, /^text\/plain; version=0\.0\.4/);
    t.is(after.types.scomo_jobs, 'gauge');
    t.is(after.types.scomo_db_operation_duration_seconds, 'histogram');
    t.is(after.types.process_resident_memory_bytes, 'gauge');
    t.true(value(after, 'process_resident_memory_bytes') > 1_000_000);
    t.true(value(after, 'process_start_time_seconds') > 1_600_000_000);
    for (const s of ['queued', 'notified', 'in-session', 'accepted', 'succeeded', 'failed']) {
      t.true(after.samples.some((x) => x.name === 'scomo_jobs' && x.labels.state === s), s);
    }
    t.is((await fetch(e.srv.url + '/metrics', { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } })).status, 405);
  } finally {
    await e.close();
  }
});

test('sessions, jobs, final alerts, download bytes and DB latency move after a real device runs a job', async (t) => {
  const e = await startEnv();
  await addDevice(e, 'dev-m');
  const dev = await bootDevice(e, 'dev-m', mkdtempSync(join(tmpdir(), 'scomo-dev-')));
  try {
    const s0 = await scrape(e);
    t.true(value(s0, 'scomo_dm_sessions_started_total') >= 1, 'the boot session');
    t.true(value(s0, 'scomo_db_operation_duration_seconds_count', { store: 'dm', op: 'getAccount' }) >= 1);
    t.is(value(s0, 'scomo_jobs', { state: 'succeeded' }), 0);
    t.is(value(s0, 'scomo_download_bytes_served_total'), 0);

    const pkg = await e.upload(makeAppPackage({ id: 'com.example.m', name: 'M', version: '1.0' }), 'm', '1.0');
    const r = await e.api<{ jobId: string }>('POST', '/api/devices/dev-m/jobs', { operation: 'DownloadInstall', pkgId: pkg.pkgId });
    t.is(r.status, 201);
    const j = await e.waitJob(r.json.jobId, 30_000);
    t.is(j.state, 'succeeded');

    const s1 = await scrape(e);
    t.true(value(s1, 'scomo_dm_sessions_started_total') > value(s0, 'scomo_dm_sessions_started_total'));
    // A session whose last reply carries our credentials has no explicit end: it ends when the
    // device's next session supersedes it (or when it expires).
    t.true(value(s1, 'scomo_dm_sessions_ended_total', { reason: 'superseded' }) > value(s0, 'scomo_dm_sessions_ended_total', { reason: 'superseded' }));
    t.is(value(s1, 'scomo_jobs', { state: 'succeeded' }), 1);
    t.true(value(s1, 'scomo_dm_alerts_received_total', { code: '1226' }) >= 1, 'the final alert');
    t.true(value(s1, 'scomo_download_bytes_served_total') >= pkg.size);
    t.true(value(s1, 'scomo_download_requests_total') >= 1);
    t.true(value(s1, 'scomo_db_operation_duration_seconds_count', { store: 'jobs', op: 'putJob' }) >= 1);
    // Histogram buckets are cumulative and end in +Inf = _count.
    const buckets = s1.samples.filter((x) => x.name === 'scomo_db_operation_duration_seconds_bucket' && x.labels.store === 'dm' && x.labels.op === 'getAccount');
    for (let i = 1; i < buckets.length; i++) t.true(buckets[i].value >= buckets[i - 1].value);
    t.is(buckets[buckets.length - 1].labels.le, '+Inf');
    t.is(buckets[buckets.length - 1].value, value(s1, 'scomo_db_operation_duration_seconds_count', { store: 'dm', op: 'getAccount' }));
  } finally {
    await dev.close();
    await e.close();
  }
});

test('a device with the wrong password counts as a DM auth failure and starts no session', async (t) => {
  const e = await startEnv();
  await addDevice(e, 'dev-bad');
  const dev = await startDevice({
    server: e.srv.dmUrl, id: 'dev-bad', clientUser: 'dev-user', clientSecret: 'not-the-secret', serverId: 'scomo-srv', serverSecret: 'srv-secret',
    auth: 'basic', encoding: 'xml', dataDir: mkdtempSync(join(tmpdir(), 'scomo-dev-')),
  });
  try {
    let s = await scrape(e);
    for (let i = 0; i < 200 && value(s, 'scomo_auth_failures_total', { kind: 'dm' }) === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
      s = await scrape(e);
    }
    t.true(value(s, 'scomo_auth_failures_total', { kind: 'dm' }) >= 1);
    t.is(value(s, 'scomo_dm_sessions_started_total'), 0);
  } finally {
    await dev.close();
    await e.close();
  }
});

test('registry: label escaping, empty counters, end reasons folded into a fixed vocabulary', async (t) => {
  const c = new Counter('x_total', 'help');
  t.is(c.render(), '# HELP x_total help\n# TYPE x_total counter\nx_total 0\n');
  c.inc({ a: 'q"u\\o\nte' }, 2);
  t.is(parseExposition(c.render()).samples[0].labels.a, 'q"u\\o\nte');
  const h = new Histogram('h_seconds', 'help', [0.1, 1]);
  h.observe({}, 0.5);
  const p = parseExposition(h.render()).samples;
  t.deepEqual(p.map((x) => [x.name, x.labels.le, x.value]), [
    ['h_seconds_bucket', '0.1', 0], ['h_seconds_bucket', '1', 1], ['h_seconds_bucket', '+Inf', 1], ['h_seconds_sum', undefined, 0.5], ['h_seconds_count', undefined, 1],
  ]);
  t.is(endReasonLabel('authentication failed 3 times'), 'auth_failed');
  t.is(endReasonLabel('superseded by a new session'), 'superseded');
  t.is(endReasonLabel('unknown device foo'), 'unknown_device');
  t.is(endReasonLabel('something new'), 'other');
  // instrument(): sync and async methods are timed, errors still propagate.
  const m = createServerMetrics();
  const obj = { a: () => 1, b: async () => 2, c: async () => { throw new Error('boom'); }, exclusive: () => 3 };
  m.instrument(obj, 's');
  t.is(obj.a(), 1);
  t.is(await obj.b(), 2);
  await t.throwsAsync(obj.c(), { message: 'boom' });
  t.is(obj.exclusive(), 3);
  t.is(m.dbLatency.count({ store: 's', op: 'a' }), 1);
  t.is(m.dbLatency.count({ store: 's', op: 'b' }), 1);
  t.is(m.dbLatency.count({ store: 's', op: 'c' }), 1);
  t.is(m.dbLatency.count({ store: 's', op: 'exclusive' }), 0);
});
