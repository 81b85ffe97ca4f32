// The SCOMO server: the DM server (app.ts) plus the package repository (/dl/, /api/packages),
// the SCOMO job engine and the REST API (/api/...). `scomo server` runs this.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startServer, RunningServer, ServerOptions } from './app.js';
import type { Route } from './http.js';
import { PackageStore } from './repo/package-store.js';
import { createDownloadHandler, DownloadStats, DOWNLOAD_PREFIX } from './repo/download-handler.js';
import { createApiPackagesHandler } from './repo/api-packages.js';
import { SqliteJobStore, JobStore } from './scomo/job-store.js';
import { PgJobStore } from './scomo/job-store-postgres.js';
import { PgStorage } from './storage/postgres.js';
import { ScomoJobs } from './scomo/engine.js';
import { createApiRoutes } from './api/routes.js';
import { CampaignEngine } from './campaigns/engine.js';
import { SqliteCampaignStore } from './campaigns/store-sqlite.js';
import { PgCampaignStore } from './campaigns/store-postgres.js';
import type { CampaignStore } from './campaigns/types.js';
import { createCampaignRoutes } from './api/campaigns.js';
import { SqliteWebhookStore } from './webhooks/store-sqlite.js';
import { PgWebhookStore } from './webhooks/store-postgres.js';
import type { WebhookStore } from './webhooks/types.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { createWebhookRoutes } from './api/webhooks.js';
import { createServerMetrics, jobStateCounts, ServerMetrics, STORAGE_OPS, JOB_STORE_OPS } from './metrics.js';
import { createConsoleRoute } from './console/route.js';
import { JOB_STATES, parseTimeoutS } from './scomo/types.js';

export interface ScomoServerOptions extends Omit<ServerOptions, 'routes'> {
  /** Bearer token of the REST API. Default: SCOMO_API_TOKEN, else a random one (see `apiToken` in the result). */
  apiToken?: string;
  /** Base URL devices use to download packages, e.g. http://192.0.2.1:8080. Default: the server's own URL. */
  publicUrl?: string;
  /** Largest package upload in bytes (default 1 GiB). */
  maxUploadBytes?: number;
  /** Longest `?refresh=1` inventory wait (ms). */
  maxRefreshWaitMs?: number;
  /** Timeout (s) of jobs created without `timeoutS` (`--job-timeout`); default none: jobs wait for their device forever. */
  jobTimeoutS?: number;
  /** Period of the job engine's sweep (deadlines, orphans), ms; default 1000 (tests shorten it). */
  jobSweepMs?: number;
  /** Webhook dispatcher: how often due deliveries are looked for (ms); default 1000 (tests shorten it). */
  webhookPollMs?: number;
  /** Webhook retries: first delay (ms, doubling per failed attempt; default 1000) and its cap (default 10 min). */
  webhookBackoffMs?: number;
  webhookMaxBackoffMs?: number;
  /** Extra routes, tried after the SCOMO ones. */
  routes?: Route[];
}

export interface RunningScomoServer extends RunningServer {
  apiToken: string;
  /** Base of package download URLs handed to devices. */
  publicUrl: string;
  packages: PackageStore;
  jobs: ScomoJobs;
  downloads: DownloadStats;
  metrics: ServerMetrics;
  campaigns: CampaignEngine;
  webhooks: { store: WebhookStore; dispatcher: WebhookDispatcher };
}

/** Most recently changed jobs the webhook catch-up looks at when the server starts. */
const CATCH_UP_JOBS = 100_000;

export async function startScomoServer(opts: ScomoServerOptions = {}): Promise<RunningScomoServer> {
  const dataDir = opts.dataDir ?? '.scomo-data';
  if (opts.jobTimeoutS !== undefined) {
    const t = parseTimeoutS(opts.jobTimeoutS, 'jobTimeoutS');
    if (typeof t === 'object') throw new TypeError(t.error);
  }
  const log = opts.log ?? (() => {});
  const given = opts.apiToken ?? process.env.SCOMO_API_TOKEN;
  const apiToken = given || randomBytes(16).toString('hex');
  if (!given) log(`no --api-token / SCOMO_API_TOKEN given; generated API token: ${apiToken}`);
  // PostgreSQL: one database for the DM storage and the job store, shared with other processes.
  let pgStorage: PgStorage | undefined;
  let store: JobStore;
  if (opts.db && !opts.storage) {
    pgStorage = await PgStorage.open(opts.db, opts.dbPoolMax ? { max: opts.dbPoolMax } : {});
    try {
      store = await PgJobStore.open(pgStorage);
    } catch (e) {
      await pgStorage.close();
      throw e;
    }
  } else {
    store = new SqliteJobStore(dataDir);
  }
  const packages = new PackageStore({ dataDir, meta: store, ...(opts.maxUploadBytes ? { maxUploadBytes: opts.maxUploadBytes } : {}) });
  const publicBase = opts.publicUrl?.replace(/\/+$/, '');
  const dl = createDownloadHandler({ store: packages, ...(publicBase ? { publicBase } : {}) });
  let packageInUse: ((pkgId: string) => Promise<string | undefined>) | undefined;
  const pkgApi = createApiPackagesHandler({
    token: apiToken, store: packages, ...(publicBase ? { publicBase } : {}),
    inUse: (pkgId) => (packageInUse ? packageInUse(pkgId) : Promise.resolve('the server is starting')),
  });
  let jobs: ScomoJobs | undefined;
  let api: Route | undefined;
  let campaignApi: Route | undefined;
  let webhookApi: Route | undefined;
  const notReady = (res: ServerResponse): void => {
    res.writeHead(503, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: 'server is starting' }));
  };
  const metrics = createServerMetrics();
  metrics.instrument(store, 'jobs', JOB_STORE_OPS);
  const lastSession = new Map<string, number>();
  let consoleTags: ((deviceId: string) => Promise<string[]>) | undefined;
  const routes: Route[] = [
    metrics.route(() => apiToken),
    createConsoleRoute(() => (jobs ? { token: apiToken, jobs, storage: srv.storage, lastSession: (d) => lastSession.get(d), ...(consoleTags ? { tags: consoleTags } : {}) } : undefined)),
    async (req: IncomingMessage, res: ServerResponse, url: URL) => {
      const m = /^\/dl\/(pkg-[0-9a-f]{16})$/.exec(url.pathname);
      if (m && req.method === 'GET' && jobs) {
        const meta = await packages.get(m[1]);
        const range = req.headers.range;
        if (meta) jobs.trackDownload(m[1], res, typeof range === 'string' ? range : undefined, meta.size);
      }
      return dl(req, res);
    },
    (req: IncomingMessage, res: ServerResponse) => pkgApi(req, res),
    async (req, res, url) => (webhookApi ? webhookApi(req, res, url) : false),
    async (req, res, url) => (campaignApi ? campaignApi(req, res, url) : false),
    async (req, res, url) => {
      if (api) return api(req, res, url);
      if (url.pathname.startsWith('/api/')) { req.resume(); notReady(res); return true; }
      return false;
    },
    ...(opts.routes ?? []),
  ];
  let srv: RunningServer;
  try {
    const { apiToken: _t, publicUrl: _p, maxUploadBytes: _m, maxRefreshWaitMs: _w, routes: _r, db: _d, dbPoolMax: _dp, jobTimeoutS: _jt, jobSweepMs: _js, webhookPollMs: _wp, webhookBackoffMs: _wb, webhookMaxBackoffMs: _wm, ...base } = opts;
    srv = await startServer({ ...base, log: metrics.tapLog(log), dataDir, routes, ...(pgStorage ? { storage: pgStorage } : {}) });
  } catch (e) {
    await store.close();
    if (pgStorage) await pgStorage.close();
    throw e;
  }
  const publicUrl = publicBase ?? srv.url;
  metrics.instrument(srv.storage, 'dm', STORAGE_OPS);
  srv.dm.on('session-start', (e) => lastSession.set(e.deviceId, Date.now()));
  jobs = new ScomoJobs({
    dm: srv.dm, storage: srv.storage, jobs: store, packages, log,
    notify: (deviceId) => srv.notify(deviceId),
    packageUrl: (pkgId) => publicUrl + DOWNLOAD_PREFIX + pkgId,
    ...(opts.jobTimeoutS !== undefined ? { defaultJobTimeoutS: opts.jobTimeoutS } : {}),
    ...(opts.jobSweepMs !== undefined ? { sweepMs: opts.jobSweepMs } : {}),
  });
  // Webhooks: an outbox in the same backend; on PostgreSQL every process sends, one per delivery (leases).
  // Subscribed before the engine starts: the outcomes it settles at start (deadlines passed while stopped) are events too.
  const webhookStore: WebhookStore = pgStorage ? await PgWebhookStore.open(pgStorage) : new SqliteWebhookStore(dataDir);
  const dispatcher = new WebhookDispatcher({
    store: webhookStore, jobs, log, onAttempt: (outcome) => metrics.webhookAttempts.inc({ outcome }),
    recentJobs: async (since) => store.jobsUpdatedSince(since, CATCH_UP_JOBS),
    ...(opts.webhookPollMs !== undefined ? { pollMs: opts.webhookPollMs } : {}),
    ...(opts.webhookBackoffMs !== undefined ? { backoffMs: opts.webhookBackoffMs } : {}),
    ...(opts.webhookMaxBackoffMs !== undefined ? { maxBackoffMs: opts.webhookMaxBackoffMs } : {}),
  });
  dispatcher.start();
  try {
    await jobs.start();
  } catch (e) {
    await dispatcher.close();
    await webhookStore.close();
    await jobs.close();
    await srv.close();
    if (pgStorage) await pgStorage.close();
    throw e;
  }
  metrics.attach({ dm: srv.dm, downloads: dl.stats, jobCounts: () => jobStateCounts(store, JOB_STATES) });
  // On PostgreSQL every process shares the campaigns; the engine's leases pick one driver per campaign.
  const campaignStore: CampaignStore = pgStorage ? await PgCampaignStore.open(pgStorage) : new SqliteCampaignStore(dataDir);
  api = createApiRoutes({ token: apiToken, jobs, storage: srv.storage, dm: srv.dm, campaigns: campaignStore, log, ...(opts.maxRefreshWaitMs ? { maxRefreshWaitMs: opts.maxRefreshWaitMs } : {}) });
  const campaigns = new CampaignEngine({ jobs, store: campaignStore, storage: srv.storage, log });
  await campaigns.start();
  campaignApi = createCampaignRoutes({ token: apiToken, storage: srv.storage, campaigns, store: campaignStore, jobs, log });
  consoleTags = (d) => campaignStore.getTags(d);
  packageInUse = async (pkgId) => {
    const job = (await store.activeJobs()).find((j) => j.pkgId === pkgId);
    if (job) return `job ${job.jobId} (${job.state}) uses it`;
    const c = (await campaignStore.listCampaigns({ activeOnly: true })).find((x) => x.pkgId === pkgId);
    return c ? `campaign ${c.campaignId} (${c.state}) uses it` : undefined;
  };
  // Files a crash left without a record (a delete or an upload cut short): best effort, in the background.
  void packages.sweepOrphans().then((n) => { if (n) log(`removed ${n} orphaned package file(s)`); }, () => undefined);
  webhookApi = createWebhookRoutes({ token: apiToken, store: webhookStore, log });
  const j = jobs;
  return {
    ...srv,
    apiToken, publicUrl, packages, jobs: j, downloads: dl.stats, metrics, campaigns,
    webhooks: { store: webhookStore, dispatcher },
    async close(): Promise<void> {
      await dispatcher.close();
      await webhookStore.close();
      campaigns.close();
      await campaignStore.close();
      await j.close();
      await srv.close();
      if (pgStorage) await pgStorage.close();
    },
  };
}
