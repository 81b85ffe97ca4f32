// The SCOMO REST API (issue 6 §7; docs/api.md). JSON over HTTP on the server's port; every
// request needs `Authorization: Bearer <token>`. Errors are `{ "error": "..." }` with a 4xx/5xx
// status and never carry a stack trace. /api/packages is the repository's own handler.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '../http.js';
import { HttpError, readJson as readJsonBody, decodeSeg } from './json-request.js';
import { sendJson } from '../repo/api-packages.js';
import { answerApi } from './answer.js';
import type { ScomoJobs, JobInput } from '../scomo/engine.js';
import { JOB_STATES, inventoryView, jobView, parseTimeoutS } from '../scomo/types.js';
import type { Job } from '../scomo/types.js';
import type { Storage } from '../storage/types.js';
import type { DmServer } from '../dm/server.js';
import type { CampaignStore } from '../campaigns/types.js';

export interface ApiOptions {
  token: string;
  jobs: ScomoJobs;
  storage: Storage;
  /** For DELETE /api/devices/{id}: withdraws the device's queued commands (their waiters resolve). */
  dm: DmServer;
  /** For DELETE /api/devices/{id}: campaign targets that block it, and the device's tags. */
  campaigns: CampaignStore;
  /** Longest `?refresh=1` wait for an inventory (ms). Default 30 s. */
  maxRefreshWaitMs?: number;
  log?: (line: string) => void;
}

const MAX_JSON = 64 * 1024;
const readJson = (req: IncomingMessage): Promise<Record<string, unknown>> => readJsonBody(req, MAX_JSON, true);
const MAX_DEVICES_PER_REQUEST = 1000;
/** The `error` of a job failed by DELETE /api/devices/{id}?force=1. */
export const DECOMMISSIONED = 'device decommissioned';
const UNFINISHED = JOB_STATES.filter((s) => s !== 'succeeded' && s !== 'failed');
/** More unfinished jobs than one device ever has; a decommission looks at all of them. */
const ALL_JOBS = 9999;


function methodNotAllowed(allow: string): never {
  throw new HttpError(405, `method not allowed (use ${allow})`);
}

export function createApiRoutes(o: ApiOptions): Route {
  const maxWait = o.maxRefreshWaitMs ?? 30_000;
  const log = o.log ?? (() => {});

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const segs = url.pathname.replace(/\/+$/, '').split('/').slice(2); // after "/api"
    const m = req.method ?? 'GET';
    // /api/jobs, /api/jobs/{id}
    if (segs[0] === 'jobs') {
      if (segs.length === 1) {
        if (m === 'GET') {
          const dev = url.searchParams.get('deviceId') ?? undefined;
          sendJson(res, 200, { jobs: (await o.jobs.listJobs(dev, limitOf(url), statesOf(url))).map(jobView) });
          return;
        }
        if (m !== 'POST') methodNotAllowed('GET, POST');
        const body = await readJson(req);
        const ids = body.deviceIds;
        if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_DEVICES_PER_REQUEST || !ids.every((x) => typeof x === 'string')) {
          throw new HttpError(400, `"deviceIds" must be a list of 1..${MAX_DEVICES_PER_REQUEST} device ids`);
        }
        const input = body as JobInput;
        // Same for every device: one clear error rather than one per device.
        const to = parseTimeoutS(body.timeoutS, 'timeoutS');
        if (typeof to === 'object') throw new HttpError(400, to.error);
        const errors: { deviceId: string; error: string }[] = [];
        for (const d of new Set(ids as string[])) {
          const v = await o.jobs.validate(d, input);
          if (!v.ok) errors.push({ deviceId: d, error: v.error });
        }
        if (errors.length) { sendJson(res, 400, { error: errors.map((e) => `${e.deviceId}: ${e.error}`).join('; '), errors }); return; }
        const jobIds: string[] = [];
        for (const d of new Set(ids as string[])) {
          const r = await o.jobs.createJob(d, input);
          if (!r.ok) throw new HttpError(400, `${d}: ${r.error}`);
          jobIds.push(r.job.jobId);
        }
        sendJson(res, 201, { jobIds });
        return;
      }
      if (segs.length === 3 && segs[2] === 'cancel') {
        if (m !== 'POST') methodNotAllowed('POST');
        req.resume();
        const r = await o.jobs.cancel(decodeSeg(segs[1]));
        if (!r.ok) throw new HttpError(r.status, r.error);
        sendJson(res, 202, { jobId: r.job.jobId, cancelling: true });
        return;
      }
      if (segs.length === 2) {
        if (m !== 'GET') methodNotAllowed('GET');
        const j = await o.jobs.getJob(decodeSeg(segs[1]));
        if (!j) throw new HttpError(404, `no job ${decodeSeg(segs[1])}`);
        const progress = j.state === 'accepted' ? o.jobs.progress(j.jobId) : undefined;
        sendJson(res, 200, { ...jobView(j), ...(progress ? { progress } : {}) });
        return;
      }
    }
    if (segs[0] === 'devices') {
      if (segs.length === 1) {
        if (m !== 'GET') methodNotAllowed('GET');
        const accs = await o.storage.listAccounts();
        const roots = await Promise.all(accs.map((a) => o.jobs.store.getRoot(a.deviceId)));
        sendJson(res, 200, {
          devices: accs.map((a, i) => ({
            deviceId: a.deviceId, ...(a.notifyHost ? { notifyHost: a.notifyHost } : {}), ...(a.notifyPort ? { notifyPort: a.notifyPort } : {}),
            ...(roots[i] ? { scomoRoot: roots[i] } : {}),
            updatedAt: new Date(a.updatedAt).toISOString(),
          })),
        });
        return;
      }
      const deviceId = decodeSeg(segs[1]);
      if (segs.length === 2) {
        // GET/PUT /api/devices/{id} are the campaign API's (tags); DELETE reaches this route.
        if (m !== 'DELETE') methodNotAllowed('GET, PUT, DELETE');
        req.resume();
        await removeDevice(deviceId, /^(1|true|yes)$/i.test(url.searchParams.get('force') ?? ''));
        res.writeHead(204);
        res.end();
        return;
      }
      const known = async (): Promise<void> => {
        if (!(await o.storage.getAccount(deviceId))) throw new HttpError(404, `unknown device ${deviceId}`);
      };
      if (segs.length === 3 && segs[2] === 'jobs') {
        if (m === 'GET') {
          await known();
          sendJson(res, 200, { jobs: (await o.jobs.listJobs(deviceId, limitOf(url), statesOf(url))).map(jobView) });
          return;
        }
        if (m !== 'POST') methodNotAllowed('GET, POST');
        const body = await readJson(req);
        const r = await o.jobs.createJob(deviceId, body as JobInput);
        if (!r.ok) throw new HttpError(400, r.error);
        sendJson(res, 201, { jobId: r.job.jobId });
        return;
      }
      if (segs.length === 3 && segs[2] === 'inventory') {
        if (m !== 'GET') methodNotAllowed('GET');
        await known();
        const refresh = /^(1|true|yes)$/i.test(url.searchParams.get('refresh') ?? '');
        const t = url.searchParams.get('timeout');
        let waitMs = maxWait;
        if (t !== null) {
          if (!/^[0-9]+(\.[0-9]+)?$/.test(t)) throw new HttpError(400, '"timeout" must be a number of seconds');
          waitMs = Math.min(maxWait, Number(t) * 1000);
        }
        const r = await o.jobs.inventory(deviceId, refresh, waitMs);
        sendJson(res, 200, { deviceId, ...inventoryView(r.inventory, r.stale) });
        return;
      }
      if (segs.length === 3 && segs[2] === 'notify') {
        if (m !== 'POST') methodNotAllowed('POST');
        await known();
        req.resume();
        const r = await o.jobs.kick(deviceId);
        if (!r.sent) { sendJson(res, 409, { deviceId, sent: false, error: r.error ?? 'notification failed' }); return; }
        const n = r.result as { host?: string; port?: number; sessionIdHex?: string } | undefined;
        sendJson(res, 200, { deviceId, sent: true, host: n?.host, port: n?.port, sessionId: n?.sessionIdHex });
        return;
      }
    }
    throw new HttpError(404, `no API endpoint ${m} ${url.pathname}`);
  };

  /**
   * Decommissions a device (docs/api.md "DELETE /api/devices/{deviceId}"): refused (409) while a
   * job or a campaign still has work for it, unless `force`, which fails its unfinished jobs first
   * through the job engine (queued commands withdrawn, then the flip). Then the account and its
   * sessions go (a later DM session is refused as from an unknown device), its queued commands
   * are withdrawn, and its tags and cached SCOMO root/inventory are forgotten. Its jobs stay.
   */
  const removeDevice = async (deviceId: string, force: boolean): Promise<void> => {
    if (!(await o.storage.getAccount(deviceId))) throw new HttpError(404, `unknown device ${deviceId}`);
    const unfinished = async (): Promise<Job[]> => (await o.jobs.listJobs(deviceId, ALL_JOBS, UNFINISHED)).reverse();
    const targets = await o.campaigns.unfinishedTargetsOf(deviceId);
    let jobs = await unfinished();
    if (!force) {
      const j = jobs[0];
      if (j) throw new HttpError(409, `device ${deviceId} has an unfinished job ${j.jobId} (${j.operation}, ${j.state})${jobs.length > 1 ? ` and ${jobs.length - 1} more` : ''}; wait for it, or add ?force=1 to fail it`);
      const t = targets[0];
      if (t) throw new HttpError(409, `device ${deviceId} is a target of campaign ${t.campaignId} (${t.campaignState}), not finished for it (${t.target.state}); cancel the campaign, wait, or add ?force=1`);
    } else {
      // A window campaign waiting to install on it would keep refreshing the inventory of a
      // device that never comes back; a pending target just fails when its wave starts.
      const t = targets.find((x) => x.target.state === 'downloaded');
      if (t) throw new HttpError(409, `device ${deviceId} waits in campaign ${t.campaignId} (${t.campaignState}) for its maintenance window to install; cancel the campaign first`);
      for (let round = 0; jobs.length && round < 3; round++) {
        if (round) await new Promise((r) => setTimeout(r, 50)); // a runner was queueing its commands
        for (const j of jobs) await o.jobs.failJob(j.jobId, DECOMMISSIONED);
        jobs = await unfinished();
      }
      const j = jobs[0];
      if (j) throw new HttpError(409, `job ${j.jobId} of device ${deviceId} could not be failed (${j.state}); try again`);
    }
    if (!(await o.storage.deleteAccount(deviceId))) throw new HttpError(404, `unknown device ${deviceId}`);
    // A job created between the checks and the deletion has no device any more.
    for (const j of await unfinished()) await o.jobs.failJob(j.jobId, DECOMMISSIONED);
    // Discovery, inventory and cancel commands nobody will take now; withdrawing resolves their waiters.
    for (let round = 0; round < 100; round++) {
      const queued = await o.storage.queuedEntries(deviceId, 1000);
      for (const e of queued) await o.dm.cancelEntry(e.id);
      if (queued.length < 1000) break;
    }
    await o.campaigns.setTags(deviceId, []);
    await o.jobs.store.forgetDevice(deviceId);
    log(`[${deviceId}] device removed over the API${force ? ' (forced)' : ''}`);
  };

  return async (req, res, url) => {
    const p = url.pathname;
    if (p !== '/api' && !p.startsWith('/api/')) return false;
    if (p === '/api/packages' || p.startsWith('/api/packages/')) return false; // the repository's handler
    return answerApi(req, res, o.token, log, 'api', () => handle(req, res, url));
  };
}

/** `?state=failed` or `?state=queued,notified`: only jobs in those states. */
function statesOf(url: URL): string[] | undefined {
  const v = url.searchParams.getAll('state');
  if (!v.length) return undefined;
  const states = v.join(',').split(',');
  for (const s of states) if (!(JOB_STATES as readonly string[]).includes(s)) throw new HttpError(400, `"state" must be one or more of ${JOB_STATES.join(', ')} (comma-separated)`);
  return [...new Set(states)];
}

function limitOf(url: URL): number {
  const l = url.searchParams.get('limit');
  if (l === null) return 100;
  if (!/^[0-9]{1,4}$/.test(l) || Number(l) < 1) throw new HttpError(400, '"limit" must be 1..9999');
  return Number(l);
}
