// REST endpoints of campaigns, device tags and account provisioning (issue 9 §3, §6; docs/api.md
// "Campaigns"). Same bearer token as the rest of /api. Tried before the SCOMO API's route: the
// paths it does not own fall through (returns false).
//   POST /api/devices                    provision one account or { "devices": [...] } (≤ 1000)
//   GET  /api/devices/{id}               account summary with tags
//   PUT  /api/devices/{id}               { "tags": [...] }
//   POST /api/campaigns                  create; GET /api/campaigns; GET /api/campaigns/{id}[?targets=1]
//   POST /api/campaigns/{id}/pause|resume|cancel
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '../http.js';
import { HttpError, readJson as readJsonBody, decodeSeg } from './json-request.js';
import { sendJson } from '../repo/api-packages.js';
import { answerApi } from './answer.js';
import type { Storage } from '../storage/types.js';
import { makeAccount, AccountInput } from '../accounts.js';
import type { CampaignEngine } from '../campaigns/engine.js';
import { validTags } from '../campaigns/engine.js';
import type { CampaignStore } from '../campaigns/types.js';
import type { ScomoJobs } from '../scomo/engine.js';

export interface CampaignApiOptions {
  token: string;
  storage: Storage;
  campaigns: CampaignEngine;
  store: CampaignStore;
  jobs: ScomoJobs;
  log?: (line: string) => void;
}

/** A campaign over 100,000 device ids is a few MiB of JSON. */
const MAX_JSON = 8 << 20;
const readJson = (req: IncomingMessage): Promise<Record<string, unknown>> => readJsonBody(req, MAX_JSON);
export const MAX_PROVISION = 1000;


const ACCOUNT_KEYS = ['deviceId', 'clientUser', 'clientSecret', 'serverId', 'serverSecret', 'authType', 'serverAuthType', 'clientNonce', 'serverNonce', 'notifyHost', 'notifyPort', 'tags'];

export function createCampaignRoutes(o: CampaignApiOptions): Route {
  const log = o.log ?? (() => {});

  const deviceView = async (deviceId: string): Promise<Record<string, unknown> | undefined> => {
    const a = await o.storage.getAccount(deviceId);
    if (!a) return undefined;
    const root = await o.jobs.store.getRoot(deviceId);
    return {
      deviceId: a.deviceId, authType: a.authType, tags: await o.store.getTags(deviceId),
      ...(a.notifyHost ? { notifyHost: a.notifyHost } : {}), ...(a.notifyPort ? { notifyPort: a.notifyPort } : {}),
      ...(root ? { scomoRoot: root } : {}), ...(a.devInfo ? { devInfo: a.devInfo } : {}),
      createdAt: new Date(a.createdAt).toISOString(), updatedAt: new Date(a.updatedAt).toISOString(),
    };
  };

  const provision = async (body: Record<string, unknown>): Promise<string[]> => {
    const list = body.devices === undefined ? [body] : body.devices;
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_PROVISION) throw new HttpError(400, `"devices" must be a list of 1..${MAX_PROVISION} accounts`);
    const replace = body.replace === true;
    const made: { account: Exclude<ReturnType<typeof makeAccount>, string>; tags: string[] }[] = [];
    const seen = new Set<string>();
    for (const [i, x] of list.entries()) {
      const where = body.devices === undefined ? '' : `devices[${i}]: `;
      if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new HttpError(400, `${where}an account must be an object`);
      const r = x as Record<string, unknown>;
      for (const k of Object.keys(r)) if (!ACCOUNT_KEYS.includes(k)) throw new HttpError(400, `${where}"${k}" is not an account field (${ACCOUNT_KEYS.join(', ')})`);
      if (typeof r.deviceId !== 'string' || !r.deviceId || r.deviceId.length > 256) throw new HttpError(400, `${where}"deviceId" must be a string of 1..256 characters`);
      const tags = r.tags === undefined ? [] : validTags(r.tags);
      if (typeof tags === 'string') throw new HttpError(400, where + tags);
      for (const k of ['clientUser', 'clientSecret', 'serverId', 'serverSecret', 'authType', 'serverAuthType', 'clientNonce', 'serverNonce', 'notifyHost'] as const) {
        if (r[k] !== undefined && typeof r[k] !== 'string') throw new HttpError(400, `${where}"${k}" must be a string`);
      }
      if (r.notifyPort !== undefined && typeof r.notifyPort !== 'number') throw new HttpError(400, `${where}"notifyPort" must be a number`);
      const { tags: _t, ...input } = r;
      // makeAccount checks the rest (types included): a wrong type is a missing or bad value.
      const a = makeAccount(input as unknown as AccountInput);
      if (typeof a === 'string') throw new HttpError(400, `${where}${a}`);
      if (seen.has(a.deviceId)) throw new HttpError(400, `${where}device ${a.deviceId} listed twice`);
      seen.add(a.deviceId);
      if (!replace && (await o.storage.getAccount(a.deviceId))) throw new HttpError(409, `device ${a.deviceId} already exists (send "replace": true to replace it)`);
      made.push({ account: a, tags });
    }
    for (const m of made) {
      await o.storage.putAccount(m.account);
      await o.store.setTags(m.account.deviceId, m.tags);
    }
    log(`provisioned ${made.length} device account(s) over the API`);
    return made.map((m) => m.account.deviceId);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL, segs: string[]): Promise<void> => {
    const m = req.method ?? 'GET';
    if (segs[0] === 'devices') {
      if (segs.length === 1) {
        // POST only (GET /api/devices is the SCOMO API's list).
        const body = await readJson(req);
        const ids = await provision(body);
        sendJson(res, 201, { deviceIds: ids });
        return;
      }
      const deviceId = decodeSeg(segs[1]);
      if (m === 'GET') {
        const v = await deviceView(deviceId);
        if (!v) throw new HttpError(404, `unknown device ${deviceId}`);
        sendJson(res, 200, v);
        return;
      }
      if (m !== 'PUT') throw new HttpError(405, 'method not allowed (use GET, PUT)');
      const body = await readJson(req);
      for (const k of Object.keys(body)) if (k !== 'tags') throw new HttpError(400, `"${k}" cannot be changed here (only "tags")`);
      const tags = validTags(body.tags);
      if (typeof tags === 'string') throw new HttpError(400, tags);
      if (!(await o.storage.getAccount(deviceId))) throw new HttpError(404, `unknown device ${deviceId}`);
      await o.store.setTags(deviceId, tags);
      sendJson(res, 200, await deviceView(deviceId));
      return;
    }
    // /api/campaigns...
    if (segs.length === 1) {
      if (m === 'GET') {
        const l = url.searchParams.get('limit');
        if (l !== null && (!/^[0-9]{1,4}$/.test(l) || Number(l) < 1)) throw new HttpError(400, '"limit" must be 1..9999');
        sendJson(res, 200, { campaigns: await o.campaigns.list(l === null ? 100 : Number(l)) });
        return;
      }
      if (m !== 'POST') throw new HttpError(405, 'method not allowed (use GET, POST)');
      const r = await o.campaigns.create(await readJson(req));
      if (!r.ok) throw new HttpError(r.status, r.error);
      sendJson(res, 201, { campaignId: r.value.campaignId });
      return;
    }
    const id = decodeSeg(segs[1]);
    if (segs.length === 2) {
      if (m !== 'GET') throw new HttpError(405, 'method not allowed (use GET)');
      const v = await o.campaigns.get(id, /^(1|true|yes)$/i.test(url.searchParams.get('targets') ?? ''));
      if (!v) throw new HttpError(404, `no campaign ${id}`);
      sendJson(res, 200, v);
      return;
    }
    if (segs.length === 3 && (segs[2] === 'pause' || segs[2] === 'resume' || segs[2] === 'cancel')) {
      if (m !== 'POST') throw new HttpError(405, 'method not allowed (use POST)');
      req.resume();
      const r = await o.campaigns[segs[2]](id);
      if (!r.ok) throw new HttpError(r.status, r.error);
      sendJson(res, 200, { campaignId: id, state: r.value.state });
      return;
    }
    throw new HttpError(404, `no API endpoint ${m} ${url.pathname}`);
  };

  return async (req, res, url) => {
    const segs = url.pathname.replace(/\/+$/, '').split('/').slice(2); // after "/api"
    if (!url.pathname.startsWith('/api/')) return false;
    const m = req.method ?? 'GET';
    const mine = segs[0] === 'campaigns'
      || (segs[0] === 'devices' && segs.length === 1 && m === 'POST')
      || (segs[0] === 'devices' && segs.length === 2 && m !== 'DELETE'); // DELETE: the SCOMO API's (routes.ts)
    if (!mine) return false;
    return answerApi(req, res, o.token, log, 'campaign api', () => handle(req, res, url, segs));
  };
}
