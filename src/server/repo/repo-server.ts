// A stand-alone HTTP server with only the repository's handlers mounted: the download path and
// POST/GET /api/packages. Used by tests and benchmarks; the main server mounts the same handlers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiPackagesHandler } from './api-packages.js';
import { DownloadStats, RepoHandler, createDownloadHandler } from './download-handler.js';
import { JsonFileMetaStore, MemoryMetaStore, PackageMetaStore } from './meta-store.js';
import { PackageStore } from './package-store.js';
import path from 'node:path';

export interface RepoServerOptions {
  dataDir: string;
  token: string;
  /** Default: in-memory metadata; 'json' keeps it in `<dataDir>/packages.json`. */
  meta?: PackageMetaStore | 'memory' | 'json';
  maxUploadBytes?: number;
  port?: number;
  host?: string;
  /** Runs before the repository handlers; return true when it answered (tests inject faults here). */
  intercept?: RepoHandler;
}

export interface RepoServer {
  server: http.Server;
  store: PackageStore;
  stats: DownloadStats;
  /** `http://host:port` once listening. */
  base: string;
  close(): Promise<void>;
}

export async function createRepoServer(opts: RepoServerOptions): Promise<RepoServer> {
  const meta = typeof opts.meta === 'object' ? opts.meta
    : opts.meta === 'json' ? new JsonFileMetaStore(path.join(opts.dataDir, 'packages.json'))
    : new MemoryMetaStore();
  const store = new PackageStore({ dataDir: opts.dataDir, meta, maxUploadBytes: opts.maxUploadBytes });
  const dl = createDownloadHandler({ store });
  const api = createApiPackagesHandler({ token: opts.token, store });
  const handlers: RepoHandler[] = [];
  if (opts.intercept) handlers.push(opts.intercept);
  handlers.push(dl, api);
  const server = http.createServer((req, res) => {
    void (async () => {
      try {
        for (const h of handlers) if (await h(req, res)) return;
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: 'not found' }));
      } catch (e) {
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: 'internal error: ' + String((e as Error).message ?? e) }));
        } else res.destroy();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const a = server.address() as AddressInfo;
  return {
    server,
    store,
    stats: dl.stats,
    base: `http://${opts.host ?? '127.0.0.1'}:${a.port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
