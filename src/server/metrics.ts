// `GET /metrics`: the server's counters in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/). Dependency-free: a tiny
// registry of counters, callback gauges and histograms. The endpoint sits behind the API bearer
// token (Prometheus: `authorization: { credentials_file: ... }`), because the server's port also
// faces devices. What is counted, and how, is listed in docs/api.md ("Metrics").
import { readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Route } from './http.js';
import { checkBearer } from './repo/api-packages.js';
import type { DownloadStats } from './repo/download-handler.js';
import type { Storage } from './storage/types.js';
import type { JobStore } from './scomo/job-store.js';

export const METRICS_PATH = '/metrics';
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(l: Labels): string {
  const keys = Object.keys(l);
  if (keys.length === 0) return '';
  return '{' + keys.map((k) => `${k}="${escapeLabel(l[k])}"`).join(',') + '}';
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`;
}

/** Label sets stay bounded: callers only pass values from fixed vocabularies. */
export class Counter {
  private readonly values = new Map<string, { labels: Labels; v: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelText(labels);
    const e = this.values.get(k);
    if (e) e.v += by;
    else this.values.set(k, { labels, v: by });
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.v ?? 0;
  }
  render(): string {
    let s = header(this.name, this.help, 'counter');
    if (this.values.size === 0) s += `${this.name} 0\n`;
    for (const e of this.values.values()) s += `${this.name}${labelText(e.labels)} ${num(e.v)}\n`;
    return s;
  }
}

type Rows = Array<{ labels?: Labels; value: number }> | number;

/** A value read when scraped (counters kept elsewhere, e.g. DownloadStats, use type 'counter'). */
export class CallbackMetric {
  constructor(readonly name: string, readonly help: string, readonly type: 'gauge' | 'counter',
    private readonly read: () => Rows | Promise<Rows>) {}
  async render(): Promise<string> {
    let rows: Array<{ labels?: Labels; value: number }>;
    try {
      const r = await this.read();
      rows = typeof r === 'number' ? [{ value: r }] : r;
    } catch {
      return ''; // a source that cannot answer is left out of this scrape rather than failing it
    }
    let s = header(this.name, this.help, this.type);
    for (const r of rows) s += `${this.name}${labelText(r.labels ?? {})} ${num(r.value)}\n`;
    return s;
  }
}

export const DB_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[] = DB_BUCKETS) {}
  observe(labels: Labels, v: number): void {
    const k = labelText(labels);
    let e = this.series.get(k);
    if (!e) { e = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }; this.series.set(k, e); }
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) e.counts[i]++;
    e.sum += v;
    e.count++;
  }
  count(labels: Labels): number {
    return this.series.get(labelText(labels))?.count ?? 0;
  }
  render(): string {
    let s = header(this.name, this.help, 'histogram');
    for (const e of this.series.values()) {
      for (let i = 0; i < this.buckets.length; i++) s += `${this.name}_bucket${labelText({ ...e.labels, le: num(this.buckets[i]) })} ${e.counts[i]}\n`;
      s += `${this.name}_bucket${labelText({ ...e.labels, le: '+Inf' })} ${e.count}\n`;
      s += `${this.name}_sum${labelText(e.labels)} ${num(e.sum)}\n`;
      s += `${this.name}_count${labelText(e.labels)} ${e.count}\n`;
    }
    return s;
  }
}

/** Session end reasons (free text in dm/session.ts) folded into a fixed label vocabulary. */
export function endReasonLabel(reason: string): string {
  if (reason === 'completed') return 'completed';
  if (reason === 'expired') return 'expired';
  if (reason.startsWith('superseded')) return 'superseded';
  if (reason.startsWith('aborted')) return 'aborted';
  if (reason.startsWith('authentication failed')) return 'auth_failed';
  if (reason.startsWith('client refused')) return 'server_auth_refused';
  if (reason.startsWith('unknown device')) return 'unknown_device';
  if (reason.startsWith('unsupported protocol')) return 'unsupported_protocol';
  return 'other';
}

/** What the metrics observe once the server runs (event sources are duck-typed EventEmitters). */
export interface MetricsSources {
  /** The DmServer: 'session-start', 'session-end' and 'alert' events. */
  dm: { on(ev: 'session-start', f: (e: { deviceId: string }) => void): unknown; on(ev: 'session-end', f: (e: { reason: string }) => void): unknown; on(ev: 'alert', f: (a: { code: number }) => void): unknown };
  downloads?: DownloadStats;
  /** Current number of jobs per state. */
  jobCounts?: () => Record<string, number> | Promise<Record<string, number>>;
}

export interface ServerMetrics {
  readonly sessionsStarted: Counter;
  readonly sessionsEnded: Counter;
  readonly authFailures: Counter;
  readonly alerts: Counter;
  /** Webhook POST attempts by outcome: delivered (2xx), retry (will be tried again), failed (gave up). */
  readonly webhookAttempts: Counter;
  readonly dbLatency: Histogram;
  /** Serves METRICS_PATH (bearer token) and counts 401 answers of /api/ requests; answers nothing else. */
  route(token: () => string): Route;
  /** A log function that counts DM authentication failures (the DM server reports them only by log line). */
  tapLog(log: (line: string) => void): (line: string) => void;
  /**
   * Times the methods `ops` of `obj` in place (sync or async) into the DB latency histogram as
   * {store, op}. Without `ops`: every method but constructor/close/exclusive/subscribe.
   */
  instrument(obj: object, store: string, ops?: readonly string[]): void;
  attach(src: MetricsSources): void;
  render(): Promise<string>;
}

/** The Storage interface's calls (helpers inside an implementation are not timed on their own). */
export const STORAGE_OPS = [
  'getAccount', 'findAccountByUser', 'putAccount', 'updateAccount', 'listAccounts', 'deleteAccount',
  'getSession', 'findSession', 'putSession', 'deleteSession', 'openSessions', 'staleSessions',
  'appendChunk', 'readChunks', 'clearChunks',
  'enqueue', 'getEntry', 'queuedEntries', 'entriesByTag', 'setEntryState', 'withdrawEntry', 'sentEntries',
  'addAlert', 'listAlerts', 'publish',
] as const satisfies readonly (keyof Storage)[];

/** The JobStore interface's calls (also the package metadata store). */
export const JOB_STORE_OPS = [
  'putJob', 'getJob', 'findByCorrelator', 'activeJobs', 'listJobs', 'jobsUpdatedSince', 'takeOrphans', 'expiredJobs', 'updateJobIf',
  'forgetDevice', 'getRoot', 'setRoot', 'getInventory', 'setInventory', 'getKv', 'setKv', 'get', 'put', 'list', 'delete',
] as const satisfies readonly (keyof JobStore)[];

// `[deviceId] authentication failed: ...` — the 'log' effect of dm/session.ts as dm/server.ts prints it.
const DM_AUTH_FAILED = /^\[[^\]]*\] authentication failed: /;

export function createServerMetrics(): ServerMetrics {
  const sessionsStarted = new Counter('scomo_dm_sessions_started_total', 'DM sessions authenticated.');
  const sessionsEnded = new Counter('scomo_dm_sessions_ended_total', 'DM sessions ended, by reason.');
  const authFailures = new Counter('scomo_auth_failures_total', 'Failed authentications: kind="dm" (device credentials), kind="api" (bearer token).');
  const alerts = new Counter('scomo_dm_alerts_received_total', 'Alerts received from devices, by alert code (1226 = Generic Alert, the SCOMO final notification).');
  const webhookAttempts = new Counter('scomo_webhook_attempts_total', 'Webhook POST attempts by this process, by outcome: delivered, retry, failed (no attempts left).');
  const dbLatency = new Histogram('scomo_db_operation_duration_seconds', 'Latency of storage calls, by store and operation.');
  const callbacks: CallbackMetric[] = [];
  const startTime = Date.now() / 1000 - process.uptime();

  const processMetrics: CallbackMetric[] = [
    new CallbackMetric('process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', 'counter', () => { const c = process.cpuUsage(); return (c.user + c.system) / 1e6; }),
    new CallbackMetric('process_resident_memory_bytes', 'Resident memory size in bytes.', 'gauge', () => process.memoryUsage().rss),
    new CallbackMetric('process_heap_bytes', 'V8 heap used, in bytes.', 'gauge', () => process.memoryUsage().heapUsed),
    new CallbackMetric('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', 'gauge', () => startTime),
    new CallbackMetric('process_open_fds', 'Open file descriptors.', 'gauge', () => readdirSync('/proc/self/fd').length),
    new CallbackMetric('nodejs_version_info', 'Node.js version.', 'gauge', () => [{ labels: { version: process.version }, value: 1 }]),
  ];

  const instrumented = new WeakSet<object>();

  const m: ServerMetrics = {
    sessionsStarted, sessionsEnded, authFailures, alerts, webhookAttempts, dbLatency,

    route(token) {
      return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
        if (url.pathname === METRICS_PATH) {
          req.resume();
          if (!checkBearer(req, token())) {
            authFailures.inc({ kind: 'api' });
            res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Bearer' });
            res.end(JSON.stringify({ error: 'missing or invalid bearer token' }));
            return true;
          }
          if (req.method !== 'GET' && req.method !== 'HEAD') {
            res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'application/json' });
            res.end(JSON.stringify({ error: 'method not allowed' }));
            return true;
          }
          const body = await m.render();
          res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : body);
          return true;
        }
        if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
          res.once('finish', () => { if (res.statusCode === 401) authFailures.inc({ kind: 'api' }); });
        }
        return false;
      };
    },

    tapLog(log) {
      return (line: string) => {
        if (DM_AUTH_FAILED.test(line)) authFailures.inc({ kind: 'dm' });
        log(line);
      };
    },

    instrument(obj, store, ops) {
      if (instrumented.has(obj)) return;
      instrumented.add(obj);
      const names = new Set<string>();
      if (ops) for (const n of ops) if (typeof (obj as Record<string, unknown>)[n] === 'function') names.add(n);
      if (!ops) for (let p: object | null = obj; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
        for (const n of Object.getOwnPropertyNames(p)) {
          // exclusive() spans a whole unit of work and subscribe() registers a listener: not storage latency.
          if (n === 'constructor' || n === 'close' || n === 'exclusive' || n === 'subscribe' || n.startsWith('_')) continue;
          const d = Object.getOwnPropertyDescriptor(p, n);
          if (d && typeof d.value === 'function') names.add(n);
        }
      }
      const target = obj as Record<string, (...a: unknown[]) => unknown>;
      for (const op of names) {
        const orig = target[op];
        const labels = { store, op };
        target[op] = function (this: unknown, ...args: unknown[]): unknown {
          const t0 = performance.now();
          const done = (): void => dbLatency.observe(labels, (performance.now() - t0) / 1000);
          let r: unknown;
          try {
            r = orig.apply(this, args);
          } catch (e) {
            done();
            throw e;
          }
          if (r && typeof (r as Promise<unknown>).then === 'function') {
            (r as Promise<unknown>).then(done, done);
            return r;
          }
          done();
          return r;
        };
      }
    },

    attach(src) {
      src.dm.on('session-start', () => sessionsStarted.inc());
      src.dm.on('session-end', (e) => sessionsEnded.inc({ reason: endReasonLabel(e.reason) }));
      src.dm.on('alert', (a) => alerts.inc({ code: String(a.code) }));
      const dl = src.downloads;
      if (dl) {
        callbacks.push(new CallbackMetric('scomo_download_bytes_served_total', 'Package body bytes written by the download server (/dl/).', 'counter', () => dl.bytesServed));
        callbacks.push(new CallbackMetric('scomo_download_requests_total', 'Requests to the download server (/dl/).', 'counter', () => dl.requests));
      }
      const jc = src.jobCounts;
      if (jc) {
        callbacks.push(new CallbackMetric('scomo_jobs', 'SCOMO jobs by state.', 'gauge', async () => Object.entries(await jc()).map(([state, value]) => ({ labels: { state }, value }))));
      }
    },

    async render() {
      const parts = await Promise.all([sessionsStarted, sessionsEnded, authFailures, alerts, webhookAttempts, ...callbacks, dbLatency, ...processMetrics].map((x) => x.render()));
      return parts.join('');
    },
  };
  return m;
}

/**
 * Jobs per state (every state present, 0 when none). Uses the store's own count when it has one
 * (a COUNT ... GROUP BY), else tallies its job list. Stores may answer synchronously or not.
 */
export async function jobStateCounts(store: {
  countByState?(): Record<string, number> | Promise<Record<string, number>>;
  listJobs(deviceId?: string, limit?: number): Array<{ state: string }> | Promise<Array<{ state: string }>>;
}, states: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of states) out[s] = 0;
  if (typeof store.countByState === 'function') {
    for (const [s, n] of Object.entries(await store.countByState())) out[s] = n;
    return out;
  }
  for (const j of await store.listJobs(undefined, 10_000_000)) out[j.state] = (out[j.state] ?? 0) + 1;
  return out;
}
