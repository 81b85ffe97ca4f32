// Webhooks on PostgreSQL: the SQLite suite (test/webhooks.test.ts) again with the server on
// PostgreSQL (one database per data directory, so its restart reopens the same outbox), and two
// `scomo server --db` processes on one database: every job state change is written once to the
// shared outbox and each delivery — first attempt and retry — is sent by one process only.
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import './webhooks.test.js';
import { serverSuitesOnPostgres } from './helpers/pg-backend.js';
import { startCluster } from './helpers/pg-cluster.js';

const pgStarted = serverSuitesOnPostgres();

interface Hit { deliveryId: string; event: string; jobId: string; status: number }

test('two server processes on one database: each job change is one delivery, each attempt sent by one process', async (t) => {
  const c = await startCluster(await pgStarted, 2);
  t.teardown(() => c.close());
  // The receiver refuses the first request of every delivery (so retries are claimed again) and
  // answers slowly, so both processes' polls overlap with requests in flight.
  const hits: Hit[] = [];
  const rx = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => {
      const j = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { deliveryId: string; event: string; job: { jobId: string } };
      const status = hits.some((h) => h.deliveryId === j.deliveryId) ? 200 : 500;
      hits.push({ deliveryId: j.deliveryId, event: j.event, jobId: j.job.jobId, status });
      setTimeout(() => res.writeHead(status).end(), 150);
    });
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { rx.close(() => r()); rx.closeAllConnections(); }));
  const hook = await c.api<{ webhookId: string }>('POST', '/api/webhooks', { url: `http://127.0.0.1:${(rx.address() as AddressInfo).port}/h`, events: ['*'] });
  t.is(hook.status, 201);
  await c.addDevice('wh-dev');
  // Jobs created through either process (round robin) for a device that never connects: queued,
  // then failed at their 1 s deadline by whichever process's sweep gets there first.
  const jobIds: string[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await c.api<{ jobId: string }>('POST', '/api/devices/wh-dev/jobs', { operation: 'Activate', componentId: 'c' + i, timeoutS: 1 });
    t.is(r.status, 201);
    jobIds.push(r.json.jobId);
  }
  for (const id of jobIds) t.is((await c.waitJob(id)).state, 'failed');
  type D = { deliveryId: string; event: string; jobId: string; state: string; attempts: number };
  const deliveries = async (): Promise<D[]> => (await c.api<{ deliveries: D[] }>('GET', '/api/webhooks/' + hook.json.webhookId)).json.deliveries;
  const t0 = Date.now();
  while ((await deliveries()).filter((d) => d.state === 'delivered').length < jobIds.length * 2) {
    if (Date.now() - t0 > 30_000) throw new Error('deliveries not done: ' + JSON.stringify(await deliveries()));
    await new Promise((r) => setTimeout(r, 100));
  }
  const ds = await deliveries();
  t.is(ds.length, jobIds.length * 2, 'queued and failed of each job, once');
  t.deepEqual(ds.map((d) => `${d.jobId} ${d.event}`).sort(), jobIds.flatMap((id) => [`${id} job.failed`, `${id} job.queued`]).sort());
  t.true(ds.every((d) => d.state === 'delivered' && d.attempts === 2), JSON.stringify(ds));
  // Exactly two requests per delivery reached the receiver: a 500, then a 200.
  const per = new Map<string, number[]>();
  for (const h of hits) per.set(h.deliveryId, [...(per.get(h.deliveryId) ?? []), h.status]);
  t.is(per.size, ds.length);
  for (const [id, statuses] of per) t.deepEqual(statuses, [500, 200], id);
});
