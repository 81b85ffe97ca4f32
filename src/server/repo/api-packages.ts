// REST API for the package repository (issue 6 §7):
//   POST /api/packages?name=N&version=V&type=MIME   body = package bytes (streamed to disk)
//        -> 201 { pkgId, url, sha256, size }
//   GET  /api/packages              -> 200 { packages: [meta...] }  (each with its url)
//   GET  /api/packages/{pkgId}      -> 200 meta + url, or 404
// Every request needs `Authorization: Bearer <token>`; errors are JSON `{ "error": "..." }`.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DOWNLOAD_PREFIX, RepoHandler, baseUrl, safeDecode } from './download-handler.js';
import { PackageMeta } from './meta-store.js';
import { PackageStore } from './package-store.js';

export interface ApiPackagesOptions {
  /** The server's API token (`--api-token` / SCOMO_API_TOKEN). */
  token: string;
  /** Base of download URLs handed out, e.g. `http://192.0.2.1:8080`. Default: from the Host header. */
  publicBase?: string;
  store: PackageStore;
}

export const API_PACKAGES_PATH = '/api/packages';

/** Constant-time check of `Authorization: Bearer <token>`; usable by every /api handler. */
export function checkBearer(req: IncomingMessage, token: string): boolean {
  const h = req.headers.authorization;
  if (!h || !token) return false;
  const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(h);
  if (!m) return false;
  const a = Buffer.from(m[1]);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, extra?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...extra, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers 401 (and returns false) unless the request carries the right bearer token. */
export function requireBearer(req: IncomingMessage, res: ServerResponse, token: string): boolean {
  if (checkBearer(req, token)) return true;
  sendJson(res, 401, { error: 'missing or invalid bearer token' }, { 'WWW-Authenticate': 'Bearer' });
  return false;
}

const MIME_RE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+$/;

export function createApiPackagesHandler(opts: ApiPackagesOptions): RepoHandler {
  const withUrl = (req: IncomingMessage, m: PackageMeta) => ({ ...m, url: baseUrl(req, opts.publicBase) + DOWNLOAD_PREFIX + m.pkgId });

  return async (req, res) => {
    let u: URL;
    try { u = new URL(req.url ?? '/', 'http://x'); } catch { return false; }
    const p = u.pathname;
    if (p !== API_PACKAGES_PATH && !p.startsWith(API_PACKAGES_PATH + '/')) return false;
    if (!requireBearer(req, res, opts.token)) {
      req.resume();
      return true;
    }
    if (p === API_PACKAGES_PATH && req.method === 'POST') {
      await upload(req, res, u);
      return true;
    }
    if (req.method !== 'GET') {
      req.resume();
      sendJson(res, 405, { error: 'method not allowed' }, { Allow: p === API_PACKAGES_PATH ? 'GET, POST' : 'GET' });
      return true;
    }
    if (p === API_PACKAGES_PATH) {
      const list = await opts.store.list();
      sendJson(res, 200, { packages: list.map((m) => withUrl(req, m)) });
      return true;
    }
    const id = safeDecode(p.slice(API_PACKAGES_PATH.length + 1));
    const meta = await opts.store.get(id);
    if (!meta) sendJson(res, 404, { error: `no package ${id}` });
    else sendJson(res, 200, withUrl(req, meta));
    return true;
  };

  async function upload(req: IncomingMessage, res: ServerResponse, u: URL): Promise<void> {
    const name = u.searchParams.get('name');
    const version = u.searchParams.get('version');
    const type = u.searchParams.get('type') || 'application/octet-stream';
    const refuse = (status: number, error: string) => {
      // The body is not read: close the connection so the client does not keep sending it.
      sendJson(res, status, { error }, { Connection: 'close' });
      req.resume();
    };
    if (!name) return refuse(400, 'query parameter "name" is required');
    if (!version) return refuse(400, 'query parameter "version" is required');
    if (!MIME_RE.test(type)) return refuse(400, `"type" must be a MIME type, got "${type}"`);
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > opts.store.maxUploadBytes) {
      return refuse(413, `package of ${declared} bytes exceeds the upload limit of ${opts.store.maxUploadBytes} bytes`);
    }
    let r;
    try {
      r = await opts.store.add(req, { name, version, type });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return refuse(code === 'ENOSPC' ? 507 : 500, 'cannot store the package: ' + String((e as Error).message ?? e));
    }
    if (!r.ok) {
      if (r.error === 'too-large') return refuse(413, r.message);
      req.destroy();
      return;
    }
    const m = r.meta;
    sendJson(res, 201, { pkgId: m.pkgId, url: baseUrl(req, opts.publicBase) + DOWNLOAD_PREFIX + m.pkgId, sha256: m.sha256, size: m.size });
  }
}
