// Webhooks (docs/api.md "Webhooks"): registration and its validation, the durable outbox and the
// dispatcher — one delivery per subscribed job state change, signed with HMAC-SHA256, retried
// with backoff up to 12 attempts, kept across a restart, dropped with its webhook — and the
// secret never shown. Scripted DM sessions play the device; a local HTTP server is the receiver.
// test/pg-webhooks.test.ts runs the same tests on PostgreSQL.
import test from 'ava';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEnv, Env, TOKEN } from './helpers/scomo-e2e.js';
import { scriptedSession, finalAlert, DEV, until, queued } from './helpers/scomo-script.js';
import { account } from './helpers/server-fixtures.js';
import type { ScomoServerOptions } from '../src/server/scomo-server.js';
import { EventEmitter } from 'node:events';
import { WebhookDispatcher } from '../src/server/webhooks/dispatcher.js';
import type { Job } from '../src/server/scomo/types.js';

const SECRET = 'whsec-Very-Secret-0123';
const FAST: Partial<ScomoServerOptions> = { jobSweepMs: 100, webhookPollMs: 10, webhookBackoffMs: 5, webhookMaxBackoffMs: 20 };

async function env(over: Partial<ScomoServerOptions> = {}, dir?: string): Promise<Env> {
  const e = await startEnv({ ...FAST, ...over }, dir);
  if (!(await e.srv.storage.getAccount(DEV))) await e.srv.addAccount(account());
  await e.srv.jobs.store.setRoot(DEV, './SCOMO');
  return e;
}

interface Hit { headers: http.IncomingHttpHeaders; body: string; json: { event: string; deliveryId: string; at: string; job: Record<string, unknown> } }

interface Receiver {
  url: string;
  hits: Hit[];
  /** Status answered to the n-th request (0-based). */
  status: (n: number) => number;
  /** Requests received and not yet closed (one cut short by a server stop may still arrive). */
  open: () => number;
  close(): Promise<void>;
}

async function receiver(status: (n: number) => number = () => 200, port = 0): Promise<Receiver> {
  const r: Partial<Receiver> & { hits: Hit[]; status: (n: number) => number } = { hits: [], status };
  let open = 0;
  r.open = () => open;
  const srv = http.createServer((req, res) => {
    open++;
    res.on('close', () => { open--; });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const n = r.hits.length;
      r.hits.push({ headers: req.headers, body, json: JSON.parse(body) as Hit['json'] });
      res.writeHead(r.status(n), { 'Content-Type': 'text/plain' }).end('receiver says hi\n');
    });
  });
  await new Promise<void>((ok) => srv.listen(port, '127.0.0.1', ok));
  r.url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`;
  r.close = () => new Promise<void>((ok) => { srv.close(() => ok()); srv.closeAllConnections(); });
  return r as Receiver;
}

type Dlv = { deliveryId: string; event: string; jobId: string; state: string; attempts: number; lastStatus: number | null; lastError: string | null; nextAt: string | null; deliveredAt: string | null };
type Hook = { webhookId: string; url: string; events: string[]; createdAt: string; deliveries: Dlv[]; error?: string };

async function addHook(e: Env, body: Record<string, unknown>): Promise<string> {
  const r = await e.api<Hook>('POST', '/api/webhooks', body);
  if (r.status !== 201) throw new Error(`webhook creation answered ${r.status}: ${r.json.error}`);
  return r.json.webhookId;
}

async function hook(e: Env, id: string): Promise<Hook> {
  return (await e.api<Hook>('GET', '/api/webhooks/' + id)).json;
}

/** A DownloadInstall job the scripted device accepts and then reports with `resultCode`. */
async function runJob(e: Env, resultCode = 1200): Promise<string> {
  const pkg = await e.upload(new Uint8Array([1, 2, 3]), 'p', '1');
  const r = await e.api<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(DEV)}/jobs`, { operation: 'DownloadInstall', pkgId: pkg.pkgId });
  const jobId = r.json.jobId;
  await queued(e, jobId);
  await scriptedSession(e.srv.dm);
  await until(async () => (await e.api<{ state: string }>('GET', '/api/jobs/' + jobId)).json.state === 'accepted', 'accepted');
  await scriptedSession(e.srv.dm, { extra: [finalAlert(jobId, resultCode, 'p')] });
  await e.waitJob(jobId);
  return jobId;
}

const sign = (body: string): string => 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');

test('webhook registration is validated strictly: 400 with a clear error, nothing stored', async (t) => {
  const e = await env();
  try {
    const bad: [unknown, RegExp][] = [
      [{}, /"url" must be an http/],
      [{ url: 'ftp://example.net/x' }, /http:\/\/ or https:\/\//],
      [{ url: 'not a url' }, /"url"/],
      [{ url: 'http://example.net/' + 'a'.repeat(2048) }, /at most 2048/],
      [{ url: 'http://user:pw@example.net/x' }, /credentials/],
      [{ url: 'http://example.net/x', events: [] }, /"events" must be/],
      [{ url: 'http://example.net/x', events: ['done'] }, /"events" must be/],
      [{ url: 'http://example.net/x', events: 'failed' }, /"events" must be/],
      [{ url: 'http://example.net/x', secret: '' }, /"secret" must be a string of 1\.\.256/],
      [{ url: 'http://example.net/x', secret: 'x'.repeat(257) }, /"secret"/],
      [{ url: 'http://example.net/x', secret: 42 }, /"secret"/],
      [{ url: 'http://example.net/x', extra: 1 }, /"extra" is not a webhook field/],
      ['[1]', /JSON object/],
      ['{', /not valid JSON/],
    ];
    for (const [body, re] of bad) {
      const r = await e.api<{ error: string }>('POST', '/api/webhooks', body);
      t.is(r.status, 400, JSON.stringify(body).slice(0, 80));
      t.regex(r.json.error, re);
    }
    t.deepEqual((await e.api<{ webhooks: unknown[] }>('GET', '/api/webhooks')).json.webhooks, []);
    t.is((await e.api('GET', '/api/webhooks', undefined, 'wrong-token')).status, 401);
    const nf = await e.api<{ error: string }>('GET', '/api/webhooks/whk-0000000000000000');
    t.is(nf.status, 404);
    t.regex(nf.json.error, /no webhook/);
    t.is((await e.api('DELETE', '/api/webhooks/whk-0000000000000000')).status, 404);
    t.is((await e.api('PUT', '/api/webhooks/whk-0000000000000000', {})).status, 405);
    // Accepted: defaults, "*", and a secret that is never shown again.
    const c = await e.api<Hook>('POST', '/api/webhooks', { url: 'https://example.net/hook?x=1', secret: SECRET });
    t.is(c.status, 201);
    t.deepEqual(Object.keys(c.json).sort(), ['createdAt', 'events', 'url', 'webhookId']);
    t.deepEqual(c.json.events, ['succeeded', 'failed']);
    const all = await e.api<Hook>('POST', '/api/webhooks', { url: 'http://example.net/all', events: ['failed', '*'] });
    t.deepEqual(all.json.events, ['*']);
    const list = await e.api('GET', '/api/webhooks');
    const one = await e.api('GET', '/api/webhooks/' + c.json.webhookId);
    t.is(one.status, 200);
    for (const r of [c, all, list, one]) t.false(JSON.stringify(r.json).includes(SECRET), 'the secret is never echoed');
    t.is((list.json as { webhooks: unknown[] }).webhooks.length, 2);
    t.is((one.json as { signed: boolean }).signed, true);
  } finally {
    await e.close();
  }
});

test('a job that succeeds is pushed once as job.succeeded, signed; a "*" webhook gets every state change once', async (t) => {
  const e = await env();
  const rx = await receiver();
  const rxAll = await receiver();
  try {
    const id = await addHook(e, { url: rx.url, secret: SECRET });
    const allId = await addHook(e, { url: rxAll.url, events: ['*'] });
    const jobId = await runJob(e);
    await until(async () => (await hook(e, id)).deliveries.some((d) => d.state === 'delivered'), 'delivered');
    const job = (await e.api<Record<string, unknown> & { history: { state: string }[] }>('GET', '/api/jobs/' + jobId)).json;
    await until(async () => (await hook(e, allId)).deliveries.filter((d) => d.state === 'delivered').length === job.history.length, 'all states delivered');
    t.is(rx.hits.length, 1, 'default events: succeeded and failed only');
    const h = rx.hits[0];
    t.is(h.json.event, 'job.succeeded');
    t.is(h.headers['x-scomo-event'], 'job.succeeded');
    t.is(h.headers['x-scomo-delivery'], h.json.deliveryId);
    t.is(h.headers['content-type'], 'application/json');
    t.is(h.headers['x-scomo-signature-256'], sign(h.body), 'HMAC-SHA256 of the raw body');
    t.deepEqual(h.json.job, job, 'the same JSON GET /api/jobs/{id} returns');
    t.false(Number.isNaN(Date.parse(h.json.at)));
    const v = await hook(e, id);
    t.is(v.deliveries.length, 1);
    t.like(v.deliveries[0], { deliveryId: h.json.deliveryId, event: 'job.succeeded', jobId, state: 'delivered', attempts: 1, lastStatus: 200, lastError: null, nextAt: null });
    t.truthy(v.deliveries[0].deliveredAt);
    t.false(JSON.stringify(v).includes(SECRET));
    // "*": one delivery per state the job went through, each once, unsigned.
    t.deepEqual(rxAll.hits.map((x) => x.json.event).sort(), job.history.map((x) => 'job.' + x.state).sort());
    t.is(new Set(rxAll.hits.map((x) => x.json.deliveryId)).size, rxAll.hits.length);
    t.false('x-scomo-signature-256' in rxAll.hits[0].headers);
    // Retention: finished deliveries go once past it (the server keeps them 30 days).
    t.is(await e.srv.webhooks.store.prune(Date.now() - 3600_000), 0);
    t.is(await e.srv.webhooks.store.prune(Date.now() + 1000), 1 + job.history.length);
    t.deepEqual((await hook(e, id)).deliveries, []);
  } finally {
    await e.close();
    await rx.close();
    await rxAll.close();
  }
});

test('a receiver answering 500 then 200 gets the delivery retried with the same body; attempts are counted', async (t) => {
  const e = await env();
  const rx = await receiver((n) => (n === 0 ? 500 : 200));
  try {
    const id = await addHook(e, { url: rx.url, events: ['failed'], secret: SECRET });
    const jobId = await runJob(e, 1405);
    await until(async () => (await hook(e, id)).deliveries.some((d) => d.state === 'delivered'), 'delivered');
    t.is(rx.hits.length, 2);
    t.is(rx.hits[0].body, rx.hits[1].body, 'a retry sends the same bytes');
    t.is(rx.hits[1].json.event, 'job.failed');
    t.is(rx.hits[1].json.job.resultCode, 1405);
    t.is(rx.hits[1].headers['x-scomo-signature-256'], sign(rx.hits[1].body));
    const [d] = (await hook(e, id)).deliveries;
    t.like(d, { jobId, state: 'delivered', attempts: 2, lastStatus: 200, lastError: null });
    // Counted by outcome in /metrics.
    const m = e.srv.metrics.webhookAttempts;
    t.deepEqual([m.get({ outcome: 'retry' }), m.get({ outcome: 'delivered' }), m.get({ outcome: 'failed' })], [1, 1, 0]);
    t.regex(await e.srv.metrics.render(), /^scomo_webhook_attempts_total\{outcome="delivered"\} 1$/m);
  } finally {
    await e.close();
    await rx.close();
  }
});

test('a receiver that never succeeds: the delivery fails after 12 attempts, with the last status and error', async (t) => {
  const e = await env();
  const rx = await receiver(() => 503);
  try {
    const id = await addHook(e, { url: rx.url });
    await runJob(e);
    await until(async () => (await hook(e, id)).deliveries.some((d) => d.state === 'failed'), 'failed', 30_000);
    const [d] = (await hook(e, id)).deliveries;
    t.like(d, { state: 'failed', attempts: 12, lastStatus: 503, nextAt: null, deliveredAt: null });
    t.regex(d.lastError ?? '', /^HTTP 503: receiver says hi$/);
    t.is(rx.hits.length, 12);
    t.is(new Set(rx.hits.map((h) => h.json.deliveryId)).size, 1);
    t.deepEqual([e.srv.metrics.webhookAttempts.get({ outcome: 'retry' }), e.srv.metrics.webhookAttempts.get({ outcome: 'failed' })], [11, 1]);
  } finally {
    await e.close();
    await rx.close();
  }
});

test('a delivery still pending when the server stops is sent after the restart', async (t) => {
  let e = await env({ webhookBackoffMs: 100, webhookMaxBackoffMs: 100 });
  const dir = e.dir;
  let up = false;
  const rx = await receiver(() => (up ? 200 : 503));
  try {
    const id = await addHook(e, { url: rx.url });
    await runJob(e);
    await until(async () => ((await hook(e, id)).deliveries[0]?.attempts ?? 0) >= 1, 'a failed attempt');
    await e.srv.close(); // keep the data directory
    // A request the stop cut short may still be landing here: count from when none is open.
    await until(async () => rx.open() === 0, 'the receiver idle');
    const before = rx.hits.length;
    up = true;
    e = await env({}, dir);
    await until(async () => (await hook(e, id)).deliveries.some((d) => d.state === 'delivered'), 'delivered after restart');
    const [d] = (await hook(e, id)).deliveries;
    // A request cut short by the stop reached the receiver but is not an attempt: attempts <= hits.
    t.true(d.attempts >= 2 && d.attempts <= rx.hits.length);
    t.is(d.lastStatus, 200);
    // One request after the restart, answered 200; under load a request the stop cut short (written
    // before the stop, read by the receiver after it) can land here too: at least once, never more.
    const after = rx.hits.slice(before);
    t.true(after.length === 1 || after.length === 2, `${after.length} requests after the restart`);
    t.true(after.every((h) => h.json.deliveryId === rx.hits[0].json.deliveryId), 'the same delivery');
    t.is(rx.hits[rx.hits.length - 1].json.event, 'job.succeeded');
    const settled = rx.hits.length;
    await new Promise((r) => setTimeout(r, 300));
    t.is(rx.hits.length, settled, 'nothing more once delivered');
  } finally {
    await e.close();
    await rx.close();
  }
});

test('a job change saved while its event could not be written (a crash in between) is delivered after the restart; a webhook registered later gets nothing', async (t) => {
  let e = await env();
  const dir = e.dir;
  const rx = await receiver();
  try {
    const id = await addHook(e, { url: rx.url, secret: SECRET });
    // What a crash between saving the job and writing its outbox row leaves: the job succeeded, no delivery.
    await e.srv.webhooks.dispatcher.close();
    const jobId = await runJob(e);
    t.deepEqual((await hook(e, id)).deliveries, []);
    await e.srv.close(); // keep the data directory
    e = await env({}, dir);
    await until(async () => rx.hits.length >= 1, 'the caught-up delivery');
    t.is(rx.hits.length, 1);
    const h = rx.hits[0];
    t.is(h.json.event, 'job.succeeded');
    t.is(h.json.job.jobId, jobId);
    t.is(h.json.job.state, 'succeeded');
    t.is(h.headers['x-scomo-signature-256'], sign(h.body));
    const late = await addHook(e, { url: rx.url, events: ['*'] });
    await e.srv.close();
    e = await env({}, dir);
    await e.srv.webhooks.dispatcher.flush();
    await new Promise((r) => setTimeout(r, 200));
    t.deepEqual((await hook(e, late)).deliveries, [], 'changes from before it existed are not sent to it');
    t.is(rx.hits.length, 1, 'and the first webhook\'s delivery is not sent again');
  } finally {
    await e.close();
    await rx.close();
  }
});

test('DELETE drops the webhook and its pending deliveries; later job changes write none for it', async (t) => {
  const e = await env({ webhookBackoffMs: 3_600_000, webhookMaxBackoffMs: 3_600_000 });
  const rx = await receiver(() => 500);
  try {
    const id = await addHook(e, { url: rx.url, events: ['*'], secret: SECRET });
    const keep = await addHook(e, { url: 'http://127.0.0.1:1/none', events: ['*'] });
    await runJob(e);
    await until(async () => (await hook(e, id)).deliveries.every((d) => d.attempts === 1) && rx.hits.length >= 1, 'first attempts');
    t.true((await hook(e, id)).deliveries.every((d) => d.state === 'pending'));
    t.is(await e.srv.webhooks.store.prune(Date.now() + 1000), 0, 'pending deliveries are never pruned');
    const del = await e.api('DELETE', '/api/webhooks/' + id);
    t.is(del.status, 204);
    t.is((await e.api('GET', '/api/webhooks/' + id)).status, 404);
    t.deepEqual(await e.srv.webhooks.store.listDeliveries(id, 50), []);
    await runJob(e);
    await e.srv.webhooks.dispatcher.flush();
    t.deepEqual(await e.srv.webhooks.store.listDeliveries(id, 50), []);
    t.true((await e.srv.webhooks.store.listDeliveries(keep, 50)).length > 0, 'the other webhook still gets its deliveries');
    const list = await e.api<{ webhooks: Hook[] }>('GET', '/api/webhooks');
    t.deepEqual(list.json.webhooks.map((w) => w.webhookId), [keep]);
  } finally {
    await e.close();
    await rx.close();
  }
});

test('bearer token: webhook endpoints answer 401 without it', async (t) => {
  const e = await env();
  try {
    const r = await fetch(e.srv.url + '/api/webhooks', { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
    t.is(r.status, 401);
    t.is(((await r.json()) as { error: string }).error, 'missing or invalid bearer token');
    t.is((await e.api('GET', '/api/webhooks', undefined, TOKEN)).status, 200);
  } finally {
    await e.close();
  }
});

/** A finished job as the engine would emit it (the dispatcher only reads it). */
function fakeJob(jobId: string, state: 'succeeded' | 'failed' = 'succeeded'): Job {
  const now = Date.now();
  return {
    jobId, deviceId: DEV, operation: 'Activate', componentId: 'c', delivery: 'alternate', origin: 'api', state, correlator: jobId,
    createdAt: now, updatedAt: now, finishedAt: now, history: [{ state: 'queued', at: now }, { state, at: now }],
  };
}

test('bounded work: at most `concurrency` requests in flight; a huge error body is cut off, not buffered', async (t) => {
  const e = await env();
  // The server's own dispatcher steps aside: this one, on the same outbox, is the one under test.
  await e.srv.webhooks.dispatcher.close();
  let now = 0;
  let most = 0;
  let closedEarly = 0;
  const slow = http.createServer((req, res) => {
    now++;
    most = Math.max(most, now);
    req.resume();
    req.on('end', () => setTimeout(() => { now--; res.writeHead(200).end(); }, 300));
  });
  const big = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      let sent = 0;
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const pump = (): void => {
        while (sent < 8 << 20) {
          sent += chunk.length;
          if (!res.write(chunk)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      res.on('close', () => { if (sent < 8 << 20) closedEarly++; });
      pump();
    });
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
  const jobs = new EventEmitter<{ job: [Job] }>();
  const d = new WebhookDispatcher({ store: e.srv.webhooks.store, jobs, concurrency: 2, pollMs: 10, maxAttempts: 1 });
  try {
    const slowId = await addHook(e, { url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/` });
    // All six are due before the dispatcher starts, so its first claim can fill both slots (a
    // slow store under load would otherwise hand them out one by one).
    for (let i = 0; i < 6; i++) {
      const j = fakeJob('job-fake' + i);
      await e.srv.webhooks.store.enqueue({ jobId: j.jobId, state: j.state, body: (id) => JSON.stringify({ deliveryId: id, job: j }), at: Date.now() });
    }
    d.start();
    await until(async () => (await hook(e, slowId)).deliveries.filter((x) => x.state === 'delivered').length === 6, '6 delivered');
    t.is(most, 2, 'two requests at a time, never more');
    await e.api('DELETE', '/api/webhooks/' + slowId);
    const bigId = await addHook(e, { url: `http://127.0.0.1:${(big.address() as AddressInfo).port}/`, events: ['failed'] });
    jobs.emit('job', fakeJob('job-fake-big', 'failed'));
    await until(async () => (await hook(e, bigId)).deliveries.some((x) => x.state === 'failed'), 'failed');
    const [x] = (await hook(e, bigId)).deliveries;
    t.is(x.attempts, 1);
    t.is(x.lastStatus, 500);
    t.true((x.lastError ?? '').length <= 'HTTP 500: '.length + 200);
    t.regex(x.lastError ?? '', /^HTTP 500: x+$/);
    await until(() => closedEarly === 1, 'the dispatcher hangs up on an 8 MiB answer');
  } finally {
    await d.close();
    await e.close();
    await new Promise<void>((r) => { slow.close(() => r()); slow.closeAllConnections(); });
    await new Promise<void>((r) => { big.close(() => r()); big.closeAllConnections(); });
  }
});
