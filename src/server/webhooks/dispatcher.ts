// Webhook dispatcher: turns job events into outbox deliveries and sends them.
// - The job engine emits 'job' with the whole Job on every save (and, on PostgreSQL, for every
//   other process's change too), so the outbox's unique (webhook, job, state) key is what makes a
//   state change one delivery; an in-memory set only spares the store the repeats it already saw.
// - Sending: claim due deliveries under a lease (at most `concurrency` requests in flight), POST
//   the stored body, record the attempt. 2xx ends it; anything else retries after
//   base * 2^(attempt-1) (capped) until `maxAttempts`, then the delivery is failed.
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Job } from '../scomo/types.js';
import { jobView } from '../scomo/types.js';
import type { ClaimedDelivery, WebhookStore } from './types.js';

export interface JobEvents {
  on(event: 'job', fn: (j: Job) => void): unknown;
  off(event: 'job', fn: (j: Job) => void): unknown;
}

export interface DispatcherOptions {
  store: WebhookStore;
  jobs: JobEvents;
  log?: (line: string) => void;
  /** How often due deliveries are looked for (ms); default 1000. New deliveries of this process go at once. */
  pollMs?: number;
  /** Delay before the 2nd attempt (ms), doubling after each failure; default 1000. */
  backoffMs?: number;
  /** Longest delay between attempts (ms); default 10 min. */
  maxBackoffMs?: number;
  /** Attempts before a delivery is failed; default 12. */
  maxAttempts?: number;
  /** Per-request timeout (ms); default 10 s. */
  timeoutMs?: number;
  /** Requests in flight at most; default 8. */
  concurrency?: number;
  /** How long a claim holds before another process may take the delivery (ms); default 60 s (> timeoutMs). */
  leaseMs?: number;
  /** Finished deliveries are deleted this long after their creation (ms); default 30 days. */
  keepMs?: number;
  /** Told after every attempt that counts (metrics). */
  onAttempt?: (outcome: 'delivered' | 'retry' | 'failed') => void;
  /**
   * Jobs changed since a time, for the catch-up at start: a state change whose outbox write a
   * crash prevented (the job was saved, the event not yet written) is written then.
   */
  recentJobs?: (since: number) => Promise<Job[]>;
  /** How far back the catch-up looks (ms); default 24 h, well inside `keepMs`, so nothing pruned is sent again. */
  catchUpMs?: number;
}

/** Response bytes kept for `lastError`; the rest is read and dropped, and past DRAIN_LIMIT the connection is closed. */
const KEEP_BYTES = 4096;
const DRAIN_LIMIT = 64 * 1024;
const ERROR_SNIPPET = 200;
/** Remembered (job, state) pairs already written; cleared when full. */
const SEEN_LIMIT = 10_000;
/** How often finished deliveries past `keepMs` are deleted. */
const PRUNE_EVERY_MS = 3600_000;

export interface AttemptOutcome { status: number | null; error: string | null }

/** A delivery's body, built once its id is known: the same bytes on every attempt. */
function eventBody(state: string, at: number, job: Record<string, unknown>): (deliveryId: string) => string {
  return (deliveryId) => JSON.stringify({ event: 'job.' + state, deliveryId, at: new Date(at).toISOString(), job });
}

export function signBody(secret: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

export function backoffDelay(attempts: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempts - 1, 30));
}

export class WebhookDispatcher {
  private readonly o: DispatcherOptions;
  private readonly log: (line: string) => void;
  /** Distinguishes this process's claims from another's (and from its own previous run's). */
  readonly owner = 'wh-' + randomBytes(8).toString('hex');
  private readonly seen = new Set<string>();
  private readonly inFlight = new Map<string, { req?: http.ClientRequest; done: Promise<void> }>();
  private writes: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly agents: { http: http.Agent; https: https.Agent };

  constructor(opts: DispatcherOptions) {
    this.o = opts;
    this.log = opts.log ?? (() => {});
    const maxSockets = this.concurrency;
    this.agents = { http: new http.Agent({ keepAlive: true, maxSockets }), https: new https.Agent({ keepAlive: true, maxSockets }) };
  }

  private get concurrency(): number { return this.o.concurrency ?? 8; }

  start(): void {
    this.o.jobs.on('job', this.onJob);
    this.timer = setInterval(() => this.pump(), this.o.pollMs ?? 1000);
    this.timer.unref();
    // The outbox would otherwise grow with every job; pending deliveries are never pruned.
    const prune = (): void => {
      this.o.store.prune(Date.now() - (this.o.keepMs ?? 30 * 24 * 3600_000))
        .then((n) => { if (n) this.log(`webhooks: deleted ${n} finished deliveries past their retention`); },
          (e: unknown) => { if (!this.closed) this.log('webhooks: pruning deliveries failed: ' + String(e)); });
    };
    this.pruneTimer = setInterval(prune, PRUNE_EVERY_MS);
    this.pruneTimer.unref();
    prune();
    this.pump();
    if (this.o.recentJobs) {
      this.writes = this.writes.then(() => this.catchUp()).catch((e: unknown) => {
        if (!this.closed) this.log('webhooks: catching up on missed job events failed: ' + String(e));
      });
    }
  }

  /**
   * Writes the deliveries of recent state changes the outbox lacks (the unique key skips the
   * ones it has). Such a delivery carries the job as it is now, with the state and time of the
   * change in `event` and `at`.
   */
  private async catchUp(): Promise<void> {
    // Only what a webhook could have wanted: none registered (the usual start) costs one query.
    const hooks = await this.o.store.listWebhooks();
    if (!hooks.length) return;
    const since = Math.max(Date.now() - (this.o.catchUpMs ?? 24 * 3600_000), Math.min(...hooks.map((w) => w.createdAt)));
    const wanted = (state: string): boolean => hooks.some((w) => w.events.includes('*') || w.events.includes(state));
    let n = 0;
    for (const j of await this.o.recentJobs!(since)) {
      if (this.closed) return;
      const view = jobView(j);
      const done = new Set<string>();
      for (const h of j.history) {
        if (h.at < since || done.has(h.state) || !wanted(h.state)) continue;
        done.add(h.state);
        n += await this.o.store.enqueue({ jobId: j.jobId, state: h.state, body: eventBody(h.state, h.at, view), at: Date.now(), changedAt: h.at });
      }
    }
    if (n) {
      this.log(`webhooks: wrote ${n} delivery(ies) for job changes made while no event could be written`);
      this.pump();
    }
  }

  /** Stops sending; requests in flight are abandoned (not counted) and their claims given back. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.o.jobs.off('job', this.onJob);
    if (this.timer) clearInterval(this.timer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.writes;
    if (this.pumping) await this.pumping; // a claim committing after release() would hold its rows until the lease ran out
    for (const f of this.inFlight.values()) f.req?.destroy(new Error('server stopping'));
    await Promise.all([...this.inFlight.values()].map((f) => f.done));
    this.agents.http.destroy();
    this.agents.https.destroy();
    try { await this.o.store.release(this.owner); } catch (e) { this.log('webhooks: giving back claims failed: ' + String(e)); }
  }

  /** Resolves once the outbox writes queued so far are done (tests). */
  async flush(): Promise<void> {
    await this.writes;
  }

  private readonly onJob = (j: Job): void => {
    if (this.closed) return;
    const key = j.jobId + '\n' + j.state;
    if (this.seen.has(key)) return;
    if (this.seen.size >= SEEN_LIMIT) this.seen.clear();
    this.seen.add(key);
    // The job object is the engine's and changes later: its view is taken now.
    const view = jobView(j);
    const state = j.state;
    const h = [...j.history].reverse().find((x) => x.state === state);
    const at = h?.at ?? j.updatedAt;
    const body = eventBody(state, at, view);
    this.writes = this.writes.then(async () => {
      try {
        if (await this.o.store.enqueue({ jobId: j.jobId, state, body, at: Date.now() })) this.pump();
      } catch (e) {
        // A lost event would be a missing notification: let a later repeat of it try again.
        this.seen.delete(key);
        if (!this.closed) this.log(`webhooks: writing the ${state} event of job ${j.jobId} failed: ${String(e)}`);
      }
    });
  };

  /** Claims what is due while there is room; sends each. */
  private pump(): void {
    if (this.closed) return;
    if (this.pumping) { this.again = true; return; }
    // .finally runs after the assignment even when the loop finishes without waiting.
    this.pumping = this.pumpLoop().finally(() => {
      this.pumping = undefined;
      // A nudge that came while the loop was ending.
      if (this.again) this.pump();
    });
  }

  private async pumpLoop(): Promise<void> {
    try {
      do {
        this.again = false;
        const free = this.concurrency - this.inFlight.size;
        if (free <= 0) break;
        const now = Date.now();
        const got = await this.o.store.claim(this.owner, now, now + (this.o.leaseMs ?? 60_000), free);
        if (this.closed) break; // close() gives the claims back
        for (const d of got) this.send(d);
        if (got.length === free) this.again = true;
      } while (this.again && !this.closed);
    } catch (e) {
      if (!this.closed) this.log('webhooks: claiming deliveries failed: ' + String(e));
    }
  }

  private send(d: ClaimedDelivery): void {
    const slot: { req?: http.ClientRequest; done: Promise<void> } = { done: Promise.resolve() };
    this.inFlight.set(d.deliveryId, slot);
    slot.done = (async () => {
      const out = await this.post(d, slot);
      if (this.closed) return; // abandoned: not an attempt
      const at = Date.now();
      const attempts = d.attempts + 1;
      const ok = out.status !== null && out.status >= 200 && out.status <= 299;
      const nextAt = ok || attempts >= (this.o.maxAttempts ?? 12) ? null : at + backoffDelay(attempts, this.o.backoffMs ?? 1000, this.o.maxBackoffMs ?? 600_000);
      try {
        await this.o.store.finish(d.deliveryId, this.owner, { ok, status: out.status, error: ok ? null : out.error, nextAt, at });
      } catch (e) {
        if (!this.closed) this.log(`webhooks: recording delivery ${d.deliveryId} failed: ${String(e)}`);
      }
      this.o.onAttempt?.(ok ? 'delivered' : nextAt === null ? 'failed' : 'retry');
      if (!ok) this.log(`webhooks: delivery ${d.deliveryId} (${d.event}) attempt ${attempts} failed: ${out.error}${nextAt === null ? '; giving up' : ''}`);
    })().finally(() => {
      this.inFlight.delete(d.deliveryId);
      this.pump();
    });
  }

  private post(d: ClaimedDelivery, slot: { req?: http.ClientRequest }): Promise<AttemptOutcome> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (o: AttemptOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(o);
      };
      let url: URL;
      try {
        url = new URL(d.url);
      } catch {
        resolve({ status: null, error: 'bad URL' });
        return;
      }
      const body = Buffer.from(d.body, 'utf8');
      const headers: Record<string, string | number> = {
        'Content-Type': 'application/json', 'Content-Length': body.length, 'User-Agent': 'scomo-webhooks/1',
        'X-Scomo-Event': d.event, 'X-Scomo-Delivery': d.deliveryId,
      };
      if (d.secret) headers['X-Scomo-Signature-256'] = signBody(d.secret, d.body);
      const timeoutMs = this.o.timeoutMs ?? 10_000;
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, { method: 'POST', headers, agent: url.protocol === 'https:' ? this.agents.https : this.agents.http });
      slot.req = req;
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
      req.on('error', (e) => finish({ status: null, error: oneLine(e.message || String(e)) }));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const kept: Buffer[] = [];
        let n = 0;
        res.on('data', (c: Buffer) => {
          if (n < KEEP_BYTES) kept.push(c.subarray(0, KEEP_BYTES - n));
          n += c.length;
          if (n > DRAIN_LIMIT) res.destroy();
        });
        const done = (): void => {
          const text = oneLine(Buffer.concat(kept).toString('utf8')).slice(0, ERROR_SNIPPET);
          finish({ status, error: status >= 200 && status <= 299 ? null : `HTTP ${status}${text ? ': ' + text : ''}` });
        };
        res.on('end', done);
        res.on('close', done);
        res.on('error', done);
      });
      req.end(body);
    });
  }
}

function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}
