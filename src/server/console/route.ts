// The operator web console at /console/: static files (plain HTML, CSS and one ES module, no
// build step, nothing from a CDN) that call the REST API with the bearer token the operator
// types in, plus one summary endpoint the fleet page needs (`GET /console/api/fleet`, same
// token) so that it does not make three API calls per device.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '../http.js';
import { requireBearer, sendJson } from '../repo/api-packages.js';
import type { Storage } from '../storage/types.js';
import type { ScomoJobs } from '../scomo/engine.js';
import { JOB_STATES } from '../scomo/types.js';
import { jobStateCounts } from '../metrics.js';

export const CONSOLE_PREFIX = '/console/';

const FILES: Record<string, { file: string; type: string }> = {
  '': { file: 'index.html', type: 'text/html; charset=utf-8' },
  'index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  'app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  'style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  'favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

// Everything the page loads comes from this server; the token never leaves it.
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Devices the fleet summary returns at once (`?limit=`, `?offset=`, `?q=` filters by id or tag). */
export const FLEET_PAGE_DEFAULT = 200;
export const FLEET_PAGE_MAX = 1000;

export interface ConsoleDeps {
  token: string;
  jobs: ScomoJobs;
  storage: Storage;
  /** Last session start per device (ms), when the server tracks it. */
  lastSession?: (deviceId: string) => number | undefined;
  /** Device tags (the campaign store), when campaigns are on. */
  tags?: (deviceId: string) => Promise<string[]>;
}

function staticDir(): URL {
  return new URL('./static/', import.meta.url);
}

export function createConsoleRoute(deps: () => ConsoleDeps | undefined): Route {
  const cache = new Map<string, Buffer>();
  const load = (file: string): Buffer => {
    let b = cache.get(file);
    if (!b) { b = readFileSync(new URL(file, staticDir())); cache.set(file, b); }
    return b;
  };

  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const p = url.pathname;
    if (p === '/console') {
      req.resume();
      res.writeHead(308, { Location: CONSOLE_PREFIX });
      res.end();
      return true;
    }
    if (!p.startsWith(CONSOLE_PREFIX)) return false;
    const rest = p.slice(CONSOLE_PREFIX.length);
    if (rest === 'api/fleet') {
      const d = deps();
      req.resume();
      if (!d) { sendJson(res, 503, { error: 'server is starting' }); return true; }
      if (!requireBearer(req, res, d.token)) return true;
      if (req.method !== 'GET') { sendJson(res, 405, { error: 'method not allowed' }, { Allow: 'GET' }); return true; }
      sendJson(res, 200, await fleetSummary(d, url));
      return true;
    }
    req.resume();
    const f = Object.prototype.hasOwnProperty.call(FILES, rest) ? FILES[rest] : undefined;
    if (!f) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' });
      res.end('method not allowed\n');
      return true;
    }
    const body = load(f.file);
    res.writeHead(200, {
      'Content-Type': f.type, 'Content-Length': body.length, 'Cache-Control': 'no-cache',
      'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}

async function fleetSummary(d: ConsoleDeps, url: URL): Promise<Record<string, unknown>> {
  const limit = Math.min(FLEET_PAGE_MAX, Math.max(1, Math.floor(Number(url.searchParams.get('limit'))) || FLEET_PAGE_DEFAULT));
  const offset = Math.max(0, Math.floor(Number(url.searchParams.get('offset'))) || 0);
  const q = (url.searchParams.get('q') ?? '').trim().toLowerCase();
  let accounts = (await d.storage.listAccounts()).sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  const tagCache = new Map<string, string[]>();
  const tagsOf = async (id: string): Promise<string[] | undefined> => {
    if (!d.tags) return undefined;
    let t = tagCache.get(id);
    if (!t) { t = await d.tags(id); tagCache.set(id, t); }
    return t;
  };
  if (q) {
    const keep = [];
    for (const a of accounts) {
      if (a.deviceId.toLowerCase().includes(q) || ((await tagsOf(a.deviceId)) ?? []).some((t) => t.toLowerCase().includes(q))) keep.push(a);
    }
    accounts = keep;
  }
  const devices = [];
  for (const a of accounts.slice(offset, offset + limit)) {
    const jobs: Record<string, number> = {};
    for (const j of await d.jobs.listJobs(a.deviceId, 10_000)) jobs[j.state] = (jobs[j.state] ?? 0) + 1;
    const inv = await d.jobs.store.getInventory(a.deviceId);
    const session = d.lastSession?.(a.deviceId);
    const tags = await tagsOf(a.deviceId);
    devices.push({
      deviceId: a.deviceId,
      ...(tags ? { tags } : {}),
      lastSeen: new Date(Math.max(session ?? 0, a.updatedAt)).toISOString(),
      deployed: inv ? inv.deployed.length : null,
      inventoryAt: inv ? new Date(inv.updatedAt).toISOString() : null,
      jobs,
    });
  }
  return { total: accounts.length, offset, limit, devices, jobTotals: await jobStateCounts(d.jobs.store, JOB_STATES) };
}
