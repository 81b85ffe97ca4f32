// `scomo webhook add|list|show|remove` against a running server: the hook it adds really gets
// the signed job outcome; usage errors are one line and exit 1; the secret is never printed.
import test from 'ava';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnv, Env, TOKEN } from './helpers/scomo-e2e.js';
import { scriptedSession, finalAlert, DEV, until, queued } from './helpers/scomo-script.js';
import { account } from './helpers/server-fixtures.js';
import { captured } from './helpers/cli-capture.js';
import { run as webhookCli } from '../src/server/cli/webhook.js';

const SECRET = 'cli-secret-42';

async function env(): Promise<Env> {
  const e = await startEnv({ webhookPollMs: 10, webhookBackoffMs: 5, webhookMaxBackoffMs: 20 });
  await e.srv.addAccount(account());
  await e.srv.jobs.store.setRoot(DEV, './SCOMO');
  return e;
}

test.serial('add (secret from a file) -> the receiver gets one signed job.succeeded; list and show never print the secret; remove', async (t) => {
  const e = await env();
  const dir = mkdtempSync(join(tmpdir(), 'scomo-whcli-'));
  const hits: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const rx = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => { hits.push({ headers: req.headers, body: Buffer.concat(parts).toString('utf8') }); res.writeHead(204).end(); });
  });
  await new Promise<void>((ok) => rx.listen(0, '127.0.0.1', ok));
  try {
    const url = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/in`;
    const common = ['--server', e.srv.url, '--token', TOKEN];
    writeFileSync(join(dir, 'secret'), SECRET + '\n');
    const add = await captured(webhookCli, ['add', url, '--secret-file', join(dir, 'secret'), ...common]);
    t.is(add.code, 0, add.err);
    const id = add.out.trim();
    t.regex(id, /^\S+$/);

    const pkg = await e.upload(new Uint8Array([1]), 'p', '1');
    const jobId = (await e.api<{ jobId: string }>('POST', `/api/devices/${DEV}/jobs`, { operation: 'DownloadInstall', pkgId: pkg.pkgId })).json.jobId;
    await queued(e, jobId);
    await scriptedSession(e.srv.dm);
    await until(async () => (await e.api<{ state: string }>('GET', '/api/jobs/' + jobId)).json.state === 'accepted', 'accepted');
    await scriptedSession(e.srv.dm, { extra: [finalAlert(jobId, 1200, 'p')] });
    await until(async () => hits.length >= 1, 'the webhook POST');
    const h = hits[0];
    t.is(h.headers['x-scomo-event'], 'job.succeeded');
    t.is(h.headers['x-scomo-signature-256'], 'sha256=' + createHmac('sha256', SECRET).update(h.body).digest('hex'));
    t.is((JSON.parse(h.body) as { job: { jobId: string } }).job.jobId, jobId);

    const list = await captured(webhookCli, ['list', ...common]);
    t.is(list.code, 0);
    t.deepEqual((JSON.parse(list.out) as { webhookId: string }[]).map((w) => w.webhookId), [id]);
    await until(async () => (await e.api<{ deliveries: { deliveredAt: string | null }[] }>('GET', '/api/webhooks/' + id)).json.deliveries.some((d) => d.deliveredAt), 'recorded delivery');
    const show = await captured(webhookCli, ['show', id, ...common]);
    t.is(show.code, 0);
    const shown = JSON.parse(show.out) as { url: string; deliveries: { jobId: string; lastStatus: number }[] };
    t.is(shown.url, url);
    t.is(shown.deliveries[0].jobId, jobId);
    t.is(shown.deliveries[0].lastStatus, 204);
    t.false((list.out + show.out + add.out).includes(SECRET), 'the secret is never printed');

    const rm = await captured(webhookCli, ['remove', id, ...common]);
    t.is(rm.code, 0);
    t.is(rm.out, `removed ${id}\n`);
    const again = await captured(webhookCli, ['remove', id, ...common]);
    t.is(again.code, 1);
    t.regex(again.err, /^scomo webhook: .*\n$/);
  } finally {
    rx.close();
    rmSync(dir, { recursive: true, force: true });
    await e.close();
  }
});

test.serial('bad command lines and values the server refuses: one clear line, exit 1, nothing registered', async (t) => {
  const e = await env();
  try {
    const common = ['--server', e.srv.url, '--token', TOKEN];
    const cases: [string[], RegExp][] = [
      [['add', ...common], /add needs exactly one URL/],
      [['add', 'http://x/1', 'http://x/2', ...common], /add needs exactly one URL/],
      [['add', 'http://x/1', '--secret', 's', '--secret-file', '/nonexistent', ...common], /either --secret or --secret-file/],
      [['add', 'http://x/1', '--secret-file', '/nonexistent/secret', ...common], /cannot read --secret-file \/nonexistent\/secret: ENOENT/],
      [['list', '--events', '*', ...common], /only go with add/],
      [['show', ...common], /show needs exactly one webhook id/],
      [['frobnicate', ...common], /unknown subcommand 'frobnicate'/],
      [[...common], /missing subcommand/],
      [['add', 'ftp://x/1', ...common], /^scomo webhook: .*url/i],
      [['add', 'http://x/1', '--events', 'exploded', ...common], /^scomo webhook: .*events/i],
    ];
    for (const [args, re] of cases) {
      const r = await captured(webhookCli, args);
      t.is(r.code, 1, args.join(' '));
      t.regex(r.err, re, args.join(' '));
      t.notRegex(r.err, /^\s+at /m);
    }
    t.deepEqual((await e.api<{ webhooks: unknown[] }>('GET', '/api/webhooks')).json.webhooks, []);
  } finally {
    await e.close();
  }
});
