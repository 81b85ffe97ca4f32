// Webhook delivery throughput of one server process (SQLite outbox): N job-outcome deliveries
// written to the outbox at once, then claimed, POSTed (HMAC-signed) to a local receiver that
// answers 204, with the dispatcher's default 8 requests in flight. The figure is
// deliveries per second from the first write to the last delivery received.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startScomoServer } from '../src/server/scomo-server.js';
import type { BenchOptions, BenchOutput } from './run.js';

export async function run(o: BenchOptions): Promise<BenchOutput> {
  const n = o.quick ? 500 : 5000;
  const dir = mkdtempSync(join(tmpdir(), 'scomo-bench-wh-'));
  let got = 0;
  const rx = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { got++; res.writeHead(204).end(); });
  });
  rx.keepAliveTimeout = 30_000;
  await new Promise<void>((ok) => rx.listen(0, '127.0.0.1', ok));
  const srv = await startScomoServer({ port: 0, host: '127.0.0.1', dataDir: dir, apiToken: 'bench', log: () => {}, webhookPollMs: 50 });
  try {
    const url = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/hook`;
    const r = await fetch(srv.url + '/api/webhooks', {
      method: 'POST', headers: { Authorization: 'Bearer bench', 'Content-Type': 'application/json' },
      body: JSON.stringify({ url, secret: 'bench-secret' }),
    });
    if (r.status !== 201) throw new Error('webhook registration answered ' + r.status);
    const body = (id: string): string => JSON.stringify({ event: 'job.succeeded', deliveryId: id, at: new Date().toISOString(), job: { jobId: id, state: 'succeeded', resultCode: 1200 } });
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await srv.webhooks.store.enqueue({ jobId: 'job-bench-' + i, state: 'succeeded', body, at: Date.now() });
    const deadline = Date.now() + 120_000;
    while (got < n) {
      if (Date.now() > deadline) throw new Error(`only ${got} of ${n} webhook deliveries arrived`);
      await new Promise((res) => setTimeout(res, 5));
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    return {
      'server.webhooks.sqlite.deliveries_per_s': {
        value: Math.round(n / s), unit: '/s',
        how: `${n} deliveries written to the SQLite outbox, then claimed and POSTed with HMAC to a local 204 receiver (8 in flight, one process); time to the last one received`,
      },
    };
  } finally {
    await srv.close();
    await new Promise<void>((ok) => { rx.closeAllConnections(); rx.close(() => ok()); });
    rmSync(dir, { recursive: true, force: true });
  }
}
