// REST API for the package repository (issue 6 §7):
//   POST /api/packages?name=N&version=V&type=MIME   body = package bytes (streamed to disk)
//        -> 201 { pkgId, url, sha256, size, signed }
//        optional signature (src/scomo/signature.ts), checked before the body is read:
//        header `X-Scomo-Signature: <alg>:<base64>` or query `signature=<base64>&sigalg=<alg>`
//   GET  /api/packages              -> 200 { packages: [meta...] }  (each with its url)
//   GET  /api/packages/{pkgId}      -> 200 meta + url, or 404
//   PUT  /api/packages/{pkgId}/signature  body { alg, signature } or { signature: "<alg>:<base64>" }
//        -> 200 meta + url; 404 unknown package; 400 bad signature
//   DELETE /api/packages/{pkgId}/signature -> 200 meta + url (now unsigned); 404
//   DELETE /api/packages/{pkgId}    -> 204; 404 unknown; 409 while an unfinished job or an
//        active campaign uses it (`inUse`)
// Every request needs `Authorization: Bearer <token>`; errors are JSON `{ "error": "..." }`.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DOWNLOAD_PREFIX, RepoHandler, baseUrl, safeDecode } from './download-handler.js';
import { PackageMeta } from './meta-store.js';
import { PackageStore } from './package-store.js';
import { checkSignature, formatSignature, parseSignature } from '../../scomo/signature.js';
import { HttpError, readJson } from '../api/json-request.js';

export interface ApiPackagesOptions {
  /** The server's API token (`--api-token` / SCOMO_API_TOKEN). */
  token: string;
  /** Base of download URLs handed out, e.g. `http://192.0.2.1:8080`. Default: from the Host header. */
  publicBase?: string;
  store: PackageStore;
  /** Why a package cannot be deleted now (an unfinished job, an active campaign), or undefined. */
  inUse?: (pkgId: string) => Promise<string | undefined>;
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
const UPLOAD_PARAMS = ['name', 'version', 'type', 'signature', 'sigalg'];
const MAX_LABEL = 256;
const LABEL_RE = /^[^\u0000-\u001f\u007f]{1,256}$/;

export const SIGNATURE_HEADER = 'x-scomo-signature';
const SIGNATURE_PATH_RE = /^\/api\/packages\/([^/]+)\/signature$/;
const MAX_SIGNATURE_BODY = 8192;

export type SignatureInput = { ok: true; signature?: string } | { ok: false; message: string };

/**
 * The signature an upload carries, from the header or the query (not both), as `<alg>:<base64>`.
 * A `+` of base64 in an unencoded query arrives as a blank; base64 has no blanks, so it is put back.
 */
export function uploadSignature(req: IncomingMessage, u: URL): SignatureInput {
  const h = req.headers[SIGNATURE_HEADER];
  const qv = u.searchParams.get('signature');
  const qa = u.searchParams.get('sigalg');
  if (h !== undefined && (qv !== null || qa !== null)) return { ok: false, message: 'give the signature either as X-Scomo-Signature or as query parameters, not both' };
  if (h !== undefined) {
    const r = parseSignature(Array.isArray(h) ? h.join(',') : h);
    return r.ok ? { ok: true, signature: formatSignature(r.sig) } : { ok: false, message: r.message };
  }
  if (qv === null && qa === null) return { ok: true };
  if (qv === null) return { ok: false, message: 'query parameter "sigalg" needs "signature"' };
  if (qa === null) return { ok: false, message: 'query parameter "signature" needs "sigalg"' };
  const r = checkSignature(qa, qv.replace(/ /g, '+'));
  return r.ok ? { ok: true, signature: formatSignature(r.sig) } : { ok: false, message: r.message };
}

/** A PUT body: `{ alg, signature }` or `{ signature: "<alg>:<base64>" }`. */
export function bodySignature(body: Record<string, unknown>): SignatureInput {
  const v = body.signature;
  const a = body.alg;
  if (typeof v !== 'string') return { ok: false, message: '"signature" must be a string' };
  if (a !== undefined && typeof a !== 'string') return { ok: false, message: '"alg" must be a string' };
  const r = a === undefined ? parseSignature(v) : checkSignature(a, v);
  return r.ok ? { ok: true, signature: formatSignature(r.sig) } : { ok: false, message: r.message };
}

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
    const sm = SIGNATURE_PATH_RE.exec(p);
    if (sm) {
      await signature(req, res, safeDecode(sm[1]));
      return true;
    }
    if (req.method === 'DELETE' && p !== API_PACKAGES_PATH) {
      req.resume();
      await remove(res, safeDecode(p.slice(API_PACKAGES_PATH.length + 1)));
      return true;
    }
    if (req.method !== 'GET') {
      req.resume();
      sendJson(res, 405, { error: 'method not allowed' }, { Allow: p === API_PACKAGES_PATH ? 'GET, POST' : 'GET, DELETE' });
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
    const type = u.searchParams.get('type') ?? 'application/octet-stream';
    const refuse = (status: number, error: string) => {
      // The body is not read: close the connection so the client does not keep sending it.
      sendJson(res, status, { error }, { Connection: 'close' });
      req.resume();
    };
    // A repeated parameter is ambiguous (which one would be stored?): refused, not guessed.
    for (const k of UPLOAD_PARAMS) if (u.searchParams.getAll(k).length > 1) return refuse(400, `query parameter "${k}" is given more than once`);
    if (!name) return refuse(400, 'query parameter "name" is required');
    if (!version) return refuse(400, 'query parameter "version" is required');
    // Both end up in download descriptors (XML) and listings: no control characters, bounded.
    if (!LABEL_RE.test(name)) return refuse(400, `"name" must be 1..${MAX_LABEL} characters without control characters`);
    if (!LABEL_RE.test(version)) return refuse(400, `"version" must be 1..${MAX_LABEL} characters without control characters`);
    if (!MIME_RE.test(type)) return refuse(400, `"type" must be a MIME type, got "${type}"`);
    // Checked here, before a byte of the body is stored: a refused signature leaves nothing behind.
    const sig = uploadSignature(req, u);
    if (!sig.ok) return refuse(400, sig.message);
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > opts.store.maxUploadBytes) {
      return refuse(413, `package of ${declared} bytes exceeds the upload limit of ${opts.store.maxUploadBytes} bytes`);
    }
    let r;
    try {
      r = await opts.store.add(req, { name, version, type, ...(sig.signature !== undefined ? { signature: sig.signature } : {}) });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // The error code only: the message names the server's file path.
      return refuse(code === 'ENOSPC' ? 507 : 500, 'cannot store the package: ' + (code ?? 'I/O error'));
    }
    if (!r.ok) {
      if (r.error === 'too-large') return refuse(413, r.message);
      req.destroy();
      return;
    }
    const m = r.meta;
    sendJson(res, 201, { pkgId: m.pkgId, url: baseUrl(req, opts.publicBase) + DOWNLOAD_PREFIX + m.pkgId, sha256: m.sha256, size: m.size, signed: m.signature !== undefined });
  }

  async function remove(res: ServerResponse, id: string): Promise<void> {
    if (!(await opts.store.get(id))) { sendJson(res, 404, { error: `no package ${id}` }); return; }
    const busy = opts.inUse ? await opts.inUse(id) : undefined;
    if (busy) { sendJson(res, 409, { error: `package ${id} is in use: ${busy}` }); return; }
    if (!(await opts.store.remove(id))) { sendJson(res, 404, { error: `no package ${id}` }); return; }
    res.writeHead(204).end();
  }

  async function signature(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    if (req.method !== 'PUT' && req.method !== 'DELETE') {
      req.resume();
      sendJson(res, 405, { error: 'method not allowed' }, { Allow: 'PUT, DELETE' });
      return;
    }
    let sig: string | undefined;
    if (req.method === 'PUT') {
      let body: Record<string, unknown>;
      try {
        body = await readJson(req, MAX_SIGNATURE_BODY);
      } catch (e) {
        if (e instanceof HttpError) { sendJson(res, e.status, { error: e.message }, { Connection: 'close' }); req.resume(); return; }
        throw e;
      }
      const r = bodySignature(body);
      if (!r.ok) { sendJson(res, 400, { error: r.message }); return; }
      sig = r.signature;
    } else req.resume();
    const meta = await opts.store.setSignature(id, sig);
    if (!meta) sendJson(res, 404, { error: `no package ${id}` });
    else sendJson(res, 200, withUrl(req, meta));
  }
}
