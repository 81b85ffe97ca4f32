// HTTP(S) transport of the DM server: POST to the DM path carries one DM message each way
// (facts §2.10). Bodies are bounded; anything malformed gets a 4xx, never a crash. Other routes
// (the SCOMO REST API, package downloads) plug in through `routes`.
import http from 'node:http';
import https from 'node:https';
import type { DmRequest, DmResponse } from './dm/server.js';

/** A route handler: returns true when it answered the request. */
export type Route = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<boolean>;

export interface HttpOptions {
  dmPath: string;
  maxBodyBytes: number;
  handleDm: (req: DmRequest) => Promise<DmResponse>;
  routes?: Route[];
  tls?: { cert: string | Buffer; key: string | Buffer };
  log?: (line: string) => void;
}

export class BodyTooLarge extends Error {}

/** Reads the request body, refusing more than `limit` bytes. */
export function readBody(req: http.IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) { reject(new BodyTooLarge()); return; }
    const parts: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) { failed = true; reject(new BodyTooLarge()); return; }
      parts.push(c);
    });
    req.on('end', () => { if (!failed) resolve(new Uint8Array(Buffer.concat(parts))); });
    req.on('error', (e) => { if (!failed) { failed = true; reject(e); } });
  });
}

function send(res: http.ServerResponse, status: number, contentType: string, body: Uint8Array | string, headers: Record<string, string> = {}): void {
  if (res.headersSent) { res.end(); return; }
  const b = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': String(b.length), 'Cache-Control': 'no-store', ...headers });
  res.end(b);
}

export function createHttpServer(opts: HttpOptions): http.Server {
  const log = opts.log ?? (() => {});
  const dmPath = opts.dmPath.replace(/\/+$/, '') || '/';
  const secure = !!opts.tls;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void (async () => {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        send(res, 400, 'text/plain', 'bad request URL\n');
        return;
      }
      const path = url.pathname.replace(/\/+$/, '') || '/';
      if (path === dmPath) {
        if (req.method !== 'POST') { send(res, 405, 'text/plain', 'DM endpoint accepts POST only\n', { Allow: 'POST' }); req.resume(); return; }
        let body: Uint8Array;
        try {
          body = await readBody(req, opts.maxBodyBytes);
        } catch (e) {
          // Answer, then drop the connection rather than read an oversized body to its end.
          res.on('finish', () => req.destroy());
          if (e instanceof BodyTooLarge) send(res, 413, 'text/plain', `DM message larger than ${opts.maxBodyBytes} bytes\n`, { Connection: 'close' });
          else send(res, 400, 'text/plain', 'could not read request body\n');
          return;
        }
        const host = req.headers.host ?? `${req.socket.localAddress}:${req.socket.localPort}`;
        const hmac = req.headers['x-syncml-hmac'];
        const dmReq: DmRequest = {
          body,
          contentType: req.headers['content-type'] ?? '',
          endpointUrl: `${secure ? 'https' : 'http'}://${host}${opts.dmPath}`,
          ...(typeof hmac === 'string' ? { hmacHeader: hmac } : {}),
          ...(url.searchParams.get('s') ? { sessionKey: url.searchParams.get('s')! } : {}),
          ...(req.socket.remoteAddress ? { remoteAddress: req.socket.remoteAddress } : {}),
        };
        const r = await opts.handleDm(dmReq);
        send(res, r.status, r.contentType, r.body, r.headers);
        return;
      }
      for (const route of opts.routes ?? []) {
        if (await route(req, res, url)) return;
      }
      send(res, 404, 'text/plain', 'not found\n');
      req.resume();
    })().catch((err: unknown) => {
      log('http handler error: ' + (err instanceof Error ? err.stack ?? err.message : String(err)));
      try { send(res, 500, 'text/plain', 'internal server error\n'); } catch { /* connection gone */ }
    });
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : http.createServer(handler);
  server.on('clientError', (_err, socket) => { if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'); else socket.destroy(); });
  return server;
}
