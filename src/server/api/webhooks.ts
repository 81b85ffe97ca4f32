// REST endpoints of webhooks (docs/api.md "Webhooks"). Same bearer token as the rest of /api;
// tried before the SCOMO API's route, paths it does not own fall through (returns false).
//   POST   /api/webhooks          { url, events?, secret? } → 201 (the secret is never shown again)
//   GET    /api/webhooks          list
//   GET    /api/webhooks/{id}     one, with its last 50 deliveries
//   DELETE /api/webhooks/{id}     204; its pending deliveries are dropped
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '../http.js';
import { HttpError, readJson as readJsonBody, decodeSeg } from './json-request.js';
import { sendJson } from '../repo/api-packages.js';
import { answerApi } from './answer.js';
import {
  DEFAULT_WEBHOOK_EVENTS, MAX_WEBHOOK_SECRET, MAX_WEBHOOK_URL, RECENT_DELIVERIES, WEBHOOK_EVENTS,
  type Delivery, type Webhook, type WebhookStore,
} from '../webhooks/types.js';

export interface WebhookApiOptions {
  token: string;
  store: WebhookStore;
  log?: (line: string) => void;
}

const MAX_JSON = 16 * 1024;
/** Every job change is matched against every webhook: a bound keeps that work small. */
export const MAX_WEBHOOKS = 100;
const BODY_KEYS = ['url', 'events', 'secret'];

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

export function webhookView(w: Webhook): Record<string, unknown> {
  return { webhookId: w.webhookId, url: w.url, events: w.events, signed: w.secret !== undefined, createdAt: new Date(w.createdAt).toISOString() };
}

export function deliveryView(d: Delivery): Record<string, unknown> {
  return {
    deliveryId: d.deliveryId, event: d.event, jobId: d.jobId, state: d.status, attempts: d.attempts, lastStatus: d.lastStatus,
    lastError: d.lastError, nextAt: iso(d.nextAt), deliveredAt: iso(d.deliveredAt), createdAt: iso(d.createdAt),
  };
}

/** The checked webhook fields of a create request, or a one-line error. */
export function parseWebhookInput(body: Record<string, unknown>): { url: string; events: string[]; secret?: string } | string {
  for (const k of Object.keys(body)) if (!BODY_KEYS.includes(k)) return `"${k}" is not a webhook field (${BODY_KEYS.join(', ')})`;
  const u = body.url;
  if (typeof u !== 'string' || !u || u.length > MAX_WEBHOOK_URL) return `"url" must be an http:// or https:// URL of at most ${MAX_WEBHOOK_URL} characters`;
  if (/[\u0000-\u0020\u007f]/.test(u)) return '"url" must not contain spaces or control characters';
  let url: URL;
  try { url = new URL(u); } catch { return '"url" is not a valid URL'; }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return '"url" must be an http:// or https:// URL';
  if (url.username || url.password) return '"url" must not carry credentials (use "secret" to authenticate deliveries)';
  let events = DEFAULT_WEBHOOK_EVENTS;
  if (body.events !== undefined) {
    const allowed: string[] = [...WEBHOOK_EVENTS, '*'];
    const e = body.events;
    if (!Array.isArray(e) || e.length === 0 || e.length > allowed.length || !e.every((x) => typeof x === 'string' && allowed.includes(x))) {
      return `"events" must be a non-empty list of ${allowed.map((x) => `"${x}"`).join(', ')}`;
    }
    const set = new Set(e as string[]);
    events = set.has('*') ? ['*'] : WEBHOOK_EVENTS.filter((x) => set.has(x));
  }
  const s = body.secret;
  if (s !== undefined && (typeof s !== 'string' || s.length < 1 || s.length > MAX_WEBHOOK_SECRET)) return `"secret" must be a string of 1..${MAX_WEBHOOK_SECRET} characters`;
  return { url: u, events, ...(typeof s === 'string' ? { secret: s } : {}) };
}

export function createWebhookRoutes(o: WebhookApiOptions): Route {
  const log = o.log ?? (() => {});

  const handle = async (req: IncomingMessage, res: ServerResponse, segs: string[]): Promise<void> => {
    const m = req.method ?? 'GET';
    if (segs.length === 1) {
      if (m === 'GET') {
        req.resume();
        sendJson(res, 200, { webhooks: (await o.store.listWebhooks()).map(webhookView) });
        return;
      }
      if (m !== 'POST') throw new HttpError(405, 'method not allowed (use GET, POST)');
      const input = parseWebhookInput(await readJsonBody(req, MAX_JSON));
      if (typeof input === 'string') throw new HttpError(400, input);
      if ((await o.store.listWebhooks()).length >= MAX_WEBHOOKS) throw new HttpError(409, `at most ${MAX_WEBHOOKS} webhooks (delete one first)`);
      const w: Webhook = { webhookId: 'whk-' + randomBytes(8).toString('hex'), ...input, createdAt: Date.now() };
      await o.store.putWebhook(w);
      log(`webhook ${w.webhookId} created for ${w.events.join(',')}`);
      const { signed: _s, ...v } = webhookView(w);
      sendJson(res, 201, v);
      return;
    }
    if (segs.length === 2) {
      const id = decodeSeg(segs[1]);
      req.resume();
      if (m === 'GET') {
        const w = id.length <= 64 ? await o.store.getWebhook(id) : undefined;
        if (!w) throw new HttpError(404, `no webhook ${id.slice(0, 64)}`);
        sendJson(res, 200, { ...webhookView(w), deliveries: (await o.store.listDeliveries(w.webhookId, RECENT_DELIVERIES)).map(deliveryView) });
        return;
      }
      if (m !== 'DELETE') throw new HttpError(405, 'method not allowed (use GET, DELETE)');
      if (id.length > 64 || !(await o.store.deleteWebhook(id))) throw new HttpError(404, `no webhook ${id.slice(0, 64)}`);
      log(`webhook ${id} deleted`);
      res.writeHead(204).end();
      return;
    }
    throw new HttpError(404, `no API endpoint ${m} /api/${segs.join('/')}`);
  };

  return async (req, res, url) => {
    const segs = url.pathname.replace(/\/+$/, '').split('/').slice(2); // after "/api"
    if (!url.pathname.startsWith('/api/') || segs[0] !== 'webhooks') return false;
    return answerApi(req, res, o.token, log, 'webhook api', () => handle(req, res, segs));
  };
}
