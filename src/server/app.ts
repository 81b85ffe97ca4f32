// The server process in one object: storage + DM server + HTTP(S) endpoint + package 0 sender.
// `startServer` is what the CLI runs and what tests start on an ephemeral port.
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DmServer } from './dm/server.js';
import { createHttpServer, Route } from './http.js';
import { openSqliteStorage } from './storage/sqlite.js';
import { PgStorage } from './storage/postgres.js';
import type { Storage, Account } from './storage/types.js';
import { makeAccount, AccountInput } from './accounts.js';
import { notifyDevice, NotifyOptions, NotifyResult } from './notify.js';
import { SERVER_LIMITS } from '../codec/errors.js';

export interface ServerOptions {
  /** 0 = any free port. Default 8080. */
  port?: number;
  /** Default '0.0.0.0'. */
  host?: string;
  /** Default '/dm'. */
  dmPath?: string;
  /** SQLite data directory (default ./.scomo-data); ignored when `storage` or `db` is given. */
  dataDir?: string;
  /** PostgreSQL URL (postgres://...): storage shared with other server processes instead of SQLite. */
  db?: string;
  /** Most PostgreSQL connections this process's pool opens (default 20); with `db` only. */
  dbPoolMax?: number;
  storage?: Storage;
  tls?: { cert: string | Buffer; key: string | Buffer };
  maxBodyBytes?: number;
  /** MaxMsgSize advertised to devices (default 4 MB). */
  maxMsgSize?: number;
  sessionTtlMs?: number;
  routes?: Route[];
  log?: (line: string) => void;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** DM endpoint URL devices use. */
  dmUrl: string;
  dm: DmServer;
  storage: Storage;
  http: http.Server;
  addAccount(input: AccountInput): Promise<Account>;
  notify(deviceId: string, opts?: NotifyOptions): Promise<NotifyResult>;
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const storage = opts.storage ?? (opts.db ? await PgStorage.open(opts.db, opts.dbPoolMax ? { max: opts.dbPoolMax } : {}) : openSqliteStorage(opts.dataDir ?? '.scomo-data'));
  const log = opts.log ?? (() => {});
  const dmPath = opts.dmPath ?? '/dm';
  if (!dmPath.startsWith('/')) throw new Error('DM path must start with /');
  const dm = new DmServer({
    storage, log,
    ...(opts.sessionTtlMs !== undefined ? { sessionTtlMs: opts.sessionTtlMs } : {}),
    ...(opts.maxMsgSize !== undefined ? { maxMsgSize: opts.maxMsgSize } : {}),
  });
  await dm.expireSessions();
  await dm.recoverEntries();
  const server = createHttpServer({
    dmPath, maxBodyBytes: opts.maxBodyBytes ?? SERVER_LIMITS.maxBytes, handleDm: (r) => dm.handle(r),
    log, ...(opts.routes ? { routes: opts.routes } : {}), ...(opts.tls ? { tls: opts.tls } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, opts.host ?? '0.0.0.0', () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  const url = `${opts.tls ? 'https' : 'http'}://${shownHost}:${addr.port}`;
  const sweep = setInterval(() => { dm.expireSessions().catch((e: unknown) => log('session sweep failed: ' + String(e))); }, 60_000);
  sweep.unref();
  let closed = false;
  return {
    url,
    dmUrl: url + dmPath,
    dm,
    storage,
    http: server,
    async addAccount(input: AccountInput): Promise<Account> {
      const a = makeAccount(input);
      if (typeof a === 'string') throw new Error(a);
      await storage.putAccount(a);
      return a;
    },
    async notify(deviceId: string, nopts?: NotifyOptions): Promise<NotifyResult> {
      const a = await storage.getAccount(deviceId);
      if (!a) throw new Error('unknown device ' + deviceId);
      return notifyDevice(a, nopts);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(sweep);
      dm.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
      if (!opts.storage) await storage.close();
    },
  };
}
