// The alternate download server: `GET/HEAD /dl/<pkgId>` serves package bytes (RFC 9110
// single byte ranges, strong ETag = SHA-256, If-Range) and `GET/HEAD /dl/<pkgId>.dd` an OMA
// download descriptor pointing at them. Files are streamed, never read whole into memory.
import { createReadStream, promises as fsp } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { DD_MIME, writeDownloadDescriptor } from '../../scomo/download/dd.js';
import { PackageMeta } from './meta-store.js';
import { PackageStore } from './package-store.js';

export interface DownloadStats {
  /** Body bytes written to clients (counted as they are handed to the socket). */
  bytesServed: number;
  requests: number;
}

export interface DownloadHandlerOptions {
  store: PackageStore;
  /** e.g. `http://192.0.2.1:8080`; DD objectURIs are built from it. Default: from the Host header. */
  publicBase?: string;
  /** DD <vendor>. */
  vendor?: string;
  /** When set, DDs carry `<installNotifyURI>` = this + pkgId. */
  installNotifyBase?: string;
}

export type RepoHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export interface DownloadHandler extends RepoHandler {
  stats: DownloadStats;
}

export const DOWNLOAD_PREFIX = '/dl/';

/** `"<hex>"`: strong validator, the content hash, so it never changes for a pkgId. */
export function etagOf(meta: PackageMeta): string {
  return '"' + meta.sha256 + '"';
}

export function baseUrl(req: IncomingMessage, publicBase?: string): string {
  if (publicBase) return publicBase.replace(/\/+$/, '');
  return 'http://' + (req.headers.host ?? 'localhost');
}

type RangeSpec = { kind: 'none' } | { kind: 'range'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * One `bytes=` range. Several ranges (multipart/byteranges) and syntax we do not understand
 * are ignored, which RFC 9110 §14.2 allows: the client then gets the whole file with 200.
 */
export function parseRange(header: string | undefined, size: number): RangeSpec {
  if (!header) return { kind: 'none' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'none' };
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  let end = m[2] === '' ? size - 1 : Number(m[2]);
  if (m[2] !== '' && end < start) return { kind: 'none' };
  if (start >= size) return { kind: 'unsatisfiable' };
  if (end >= size) end = size - 1;
  return { kind: 'range', start, end };
}

/** decodeURIComponent that answers '' for malformed escapes (which then match no package). */
export function safeDecode(s: string): string {
  try { return decodeURIComponent(s); } catch { return ''; }
}

function sendError(res: ServerResponse, status: number, message: string, extra?: Record<string, string>): void {
  const body = JSON.stringify({ error: message });
  res.writeHead(status, { ...extra, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export function createDownloadHandler(opts: DownloadHandlerOptions): DownloadHandler {
  const stats: DownloadStats = { bytesServed: 0, requests: 0 };

  const handler = (async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const p = q >= 0 ? url.slice(0, q) : url;
    if (!p.startsWith(DOWNLOAD_PREFIX)) return false;
    stats.requests++;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendError(res, 405, 'method not allowed');
      return true;
    }
    let id = safeDecode(p.slice(DOWNLOAD_PREFIX.length));
    const wantDd = id.endsWith('.dd');
    if (wantDd) id = id.slice(0, -3);
    const meta = await opts.store.get(id);
    const file = opts.store.filePath(id);
    if (!meta || !file) {
      sendError(res, 404, 'no such package');
      return true;
    }
    if (wantDd) serveDd(req, res, meta);
    else await serveBytes(req, res, meta, file);
    return true;
  }) as DownloadHandler;
  handler.stats = stats;

  function serveDd(req: IncomingMessage, res: ServerResponse, meta: PackageMeta): void {
    const base = baseUrl(req, opts.publicBase);
    const doc = writeDownloadDescriptor({
      objectURI: base + DOWNLOAD_PREFIX + meta.pkgId,
      type: meta.type,
      size: meta.size,
      name: meta.name,
      vendor: opts.vendor,
      description: `${meta.name} ${meta.version}`,
      installNotifyURI: opts.installNotifyBase ? opts.installNotifyBase + meta.pkgId : undefined,
      sha256: meta.sha256,
      ...(meta.signature !== undefined ? { signature: meta.signature } : {}),
    });
    res.writeHead(200, { 'Content-Type': DD_MIME, 'Content-Length': Buffer.byteLength(doc), 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : doc);
  }

  async function serveBytes(req: IncomingMessage, res: ServerResponse, meta: PackageMeta, file: string): Promise<void> {
    const etag = etagOf(meta);
    const size = meta.size;
    try {
      const st = await fsp.stat(file);
      if (st.size !== size) throw new Error(`size ${st.size} differs from metadata ${size}`);
    } catch (e) {
      // Metadata without its file (or with another file): never serve something we cannot vouch for.
      // The error code only: the message names the server's file path.
      const code = (e as NodeJS.ErrnoException).code;
      sendError(res, 500, `package ${meta.pkgId} is unavailable: ${code ? 'cannot read its file (' + code + ')' : String((e as Error).message ?? e)}`);
      return;
    }
    let range = parseRange(req.headers.range, size);
    // If-Range (RFC 9110 §13.1.5): the range only applies when the client's copy is ours.
    const ifRange = req.headers['if-range'];
    if (range.kind !== 'none' && ifRange !== undefined && ifRange !== etag) range = { kind: 'none' };
    const headers: Record<string, string | number> = {
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'X-Checksum-Sha256': meta.sha256,
      Digest: 'sha-256=' + Buffer.from(meta.sha256, 'hex').toString('base64'),
      'Content-Type': meta.type || 'application/octet-stream',
    };
    if (range.kind === 'unsatisfiable') {
      sendError(res, 416, 'range not satisfiable', { 'Content-Range': `bytes */${size}`, ETag: etag, 'Accept-Ranges': 'bytes' });
      return;
    }
    const inm = req.headers['if-none-match'];
    if (range.kind === 'none' && inm !== undefined && (inm === etag || inm === '*')) {
      res.writeHead(304, { ETag: etag });
      res.end();
      return;
    }
    let start = 0;
    let end = size - 1;
    let status = 200;
    if (range.kind === 'range') {
      start = range.start;
      end = range.end;
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['Content-Length'] = end - start + 1;
    if (size === 0) headers['Content-Length'] = 0;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    const src = createReadStream(file, { start, end, highWaterMark: 64 * 1024 });
    src.on('data', (c) => { stats.bytesServed += (c as Buffer).length; });
    try {
      await pipeline(src, res);
    } catch {
      // Client went away mid-body: nothing to answer; the socket is already closed.
      src.destroy();
    }
  }

  return handler;
}
