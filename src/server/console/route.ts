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

/** Most devices the fleet summary returns at once (`?limit=`, `?offset=`). */
export const FLEET_PAGE_MAX = 1000;

export interface ConsoleDeps {
  token: string;
  jobs: ScomoJobs;
  storage: Storage;
  /** Last session start per device (ms), when the server tracks it. */
  lastSession?: (deviceId: string) => number | undefined;
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
  const limit = Math.min(FLEET_PAGE_MAX, Math.max(1, Number(url.searchParams.get('limit')) || FLEET_PAGE_MAX));
  const offset = Math.max(0, Number(url.searchParams.get('offset')) || 0);
  const accounts = (await d.storage.listAccounts()).sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  const totals: Record<string, number> = {};
  for (const s of JOB_STATES) totals[s] = 0;
  const devices = accounts.slice(offset, offset + limit).map((a) => {
    const jobs: Record<string, number> = {};
    for (const j of d.jobs.listJobs(a.deviceId, 10_000)) {
      jobs[j.state] = (jobs[j.state] ?? 0) + 1;
      totals[j.state] = (totals[j.state] ?? 0) + 1;
    }
    const inv = d.jobs.store.getInventory(a.deviceId);
    const session = d.lastSession?.(a.deviceId);
    const tags = (a as unknown as { tags?: unknown }).tags;
    return {
      deviceId: a.deviceId,
      ...(Array.isArray(tags) ? { tags } : {}),
      lastSeen: new Date(Math.max(session ?? 0, a.updatedAt)).toISOString(),
      ...(session ? { lastSession: new Date(session).toISOString() } : {}),
      deployed: inv ? inv.deployed.length : null,
      inventoryAt: inv ? new Date(inv.updatedAt).toISOString() : null,
      jobs,
    };
  });
  return { total: accounts.length, offset, limit, devices, jobTotals: totals };
}
