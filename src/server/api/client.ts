// HTTP client of the REST API for the CLI (`scomo package|job|inventory`). Every failure is an
// ApiError with a one-line message fit for a terminal: server unreachable, token refused, or
// the server's own `{ "error" }` text.
import http from 'node:http';
import https from 'node:https';
import { createReadStream, promises as fsp } from 'node:fs';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

export class ApiError extends Error {
  constructor(message: string, readonly status = 0) { super(message); }
}

export interface ApiClientOptions {
  server: string;
  token: string;
  /** Per-request timeout (ms); default 60 s. */
  timeoutMs?: number;
}

export class ApiClient {
  readonly base: URL;
  private readonly token: string;
  private readonly timeoutMs: number;

  constructor(o: ApiClientOptions) {
    let u: URL;
    try { u = new URL(o.server); } catch { throw new ApiError(`--server is not a URL: ${o.server}`); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ApiError(`--server must be an http(s) URL: ${o.server}`);
    this.base = u;
    this.token = o.token;
    this.timeoutMs = o.timeoutMs ?? 60_000;
  }

  private serverName(): string {
    return this.base.origin;
  }

  /** One request; resolves with the parsed JSON of a 2xx answer, rejects with ApiError otherwise. */
  request<T = Record<string, unknown>>(method: string, path: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return this.send<T>(method, path, payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}, (req) => req.end(payload), opts.timeoutMs);
  }

  /** Streams a file as the body of POST `path`; `progress(sent, total)` as it goes. */
  async uploadFile<T = Record<string, unknown>>(path: string, file: string, progress?: (sent: number, total: number) => void): Promise<T> {
    let size: number;
    try {
      const st = await fsp.stat(file);
      if (!st.isFile()) throw new ApiError(`${file} is not a file`);
      size = st.size;
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return this.send<T>('POST', path, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) }, (req) => {
      const rs = createReadStream(file, { highWaterMark: 256 * 1024 });
      let sent = 0;
      rs.on('data', (c) => { sent += c.length; progress?.(sent, size); });
      rs.on('error', (e) => req.destroy(e));
      rs.pipe(req);
    }, 0);
  }

  private send<T>(method: string, path: string, headers: Record<string, string>, write: (req: http.ClientRequest) => void, timeoutMs?: number): Promise<T> {
    const url = new URL(path, this.base);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = mod.request(url, { method, headers: { ...headers, Authorization: `Bearer ${this.token}`, Accept: 'application/json' } }, (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => { size += c.length; if (size <= 16 * 1024 * 1024) parts.push(c); });
        res.on('error', (e) => reject(new ApiError(`connection to ${this.serverName()} failed: ${e.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          let json: unknown;
          try { json = text ? JSON.parse(text) : {}; } catch { json = undefined; }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300 && json !== undefined) { resolve(json as T); return; }
          const msg = json && typeof json === 'object' && typeof (json as { error?: unknown }).error === 'string'
            ? (json as { error: string }).error
            : `HTTP ${status}${text ? ': ' + text.trim().split('\n')[0].slice(0, 200) : ''}`;
          if (status === 401) reject(new ApiError(`the server refused the API token (${msg}); pass --token or set SCOMO_API_TOKEN`, 401));
          else reject(new ApiError(msg, status));
        });
      });
      const t = timeoutMs ?? this.timeoutMs;
      if (t > 0) req.setTimeout(t, () => req.destroy(new Error(`no answer within ${Math.round(t / 1000)} s`)));
      req.on('error', (e: NodeJS.ErrnoException) => {
        const why = e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'EHOSTUNREACH' || e.code === 'ECONNRESET' ? e.code : e.message;
        reject(new ApiError(`cannot reach server at ${this.serverName()} (${why})`));
      });
      write(req);
    });
  }
}

/** --server / --token with their defaults; a missing token is an error. */
export function clientFrom(opts: { server?: string; token?: string }): ApiClient {
  const token = opts.token ?? process.env.SCOMO_API_TOKEN;
  if (!token) throw new ApiError('no API token: pass --token T or set SCOMO_API_TOKEN');
  return new ApiClient({ server: opts.server ?? process.env.SCOMO_SERVER ?? DEFAULT_SERVER, token });
}
