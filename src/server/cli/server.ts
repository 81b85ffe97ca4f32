// `scomo server`: runs the SCOMO server (DM server, package repository, jobs, REST API) until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import { parseArgs, optInt, optString, UsageError } from './args.js';
import { startScomoServer } from '../scomo-server.js';
import { MAX_JOB_TIMEOUT_S, parseTimeoutS } from '../scomo/types.js';

const USAGE = 'usage: scomo server [--port 8080] [--host 0.0.0.0] [--dm-path /dm] [--data DIR] [--db postgres://...] [--tls-cert F --tls-key F]\n' +
  '                    [--api-token T] [--public-url URL] [--max-msg-size BYTES] [--job-timeout S] [--db-pool N] [--quiet]\n' +
  '  --data DIR        package files, and the SQLite databases unless --db is given (default ./.scomo-data)\n' +
  '  --db URL          PostgreSQL instead of SQLite (postgres://user@host:port/db); several server\n' +
  '                    processes may share it (give them one --data directory for the package files)\n' +
  '  --db-pool N       most PostgreSQL connections this process opens (default 20)\n' +
  '  --api-token T     bearer token of the REST API (default: $SCOMO_API_TOKEN, else a random one, printed)\n' +
  '  --public-url URL  base URL devices use to download packages (default: the server\'s own URL)\n' +
  '  --job-timeout S   jobs created without "timeoutS" fail after S seconds without an outcome\n' +
  '                    (default: none, a job waits for its device forever; at most 2592000 = 30 days)\n';

export async function run(args: string[]): Promise<number> {
  let p;
  try {
    p = parseArgs(args, { port: 'value', host: 'value', 'dm-path': 'value', data: 'value', 'tls-cert': 'value', 'tls-key': 'value', 'max-msg-size': 'value', 'api-token': 'value', 'public-url': 'value', db: 'value', 'db-pool': 'value', 'job-timeout': 'value', quiet: 'flag', help: 'flag' }, { h: 'help' });
    if (p.opts.help) { process.stdout.write(USAGE); return 0; }
    if (p.positional.length) throw new UsageError('unexpected argument ' + p.positional[0]);
    const port = optInt(p, 'port', 8080);
    if (port > 65535) throw new UsageError('--port must be 0..65535');
    const certFile = optString(p, 'tls-cert');
    const keyFile = optString(p, 'tls-key');
    if (!!certFile !== !!keyFile) throw new UsageError('--tls-cert and --tls-key go together');
    const dmPath = optString(p, 'dm-path') ?? '/dm';
    if (!dmPath.startsWith('/')) throw new UsageError('--dm-path must start with /');
    let tls: { cert: Buffer; key: Buffer } | undefined;
    if (certFile && keyFile) {
      try {
        tls = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
      } catch (e) {
        process.stderr.write(`scomo server: cannot read TLS files: ${(e as Error).message}\n`);
        return 1;
      }
    }
    const maxMsgSize = optInt(p, 'max-msg-size', 4 * 1024 * 1024);
    if (maxMsgSize < 1024 || maxMsgSize > 16 * 1024 * 1024) throw new UsageError('--max-msg-size must be 1024..16777216');
    const dataDir = optString(p, 'data') ?? '.scomo-data';
    const db = optString(p, 'db');
    if (db !== undefined && !/^postgres(ql)?:\/\//i.test(db)) throw new UsageError('--db must be a postgres:// URL');
    const pool = optString(p, 'db-pool');
    if (pool !== undefined && (!/^[0-9]{1,4}$/.test(pool) || Number(pool) < 2 || Number(pool) > 1000)) throw new UsageError('--db-pool must be a whole number of connections, 2..1000');
    if (pool !== undefined && db === undefined) throw new UsageError('--db-pool goes with --db');
    const jt = optString(p, 'job-timeout');
    let jobTimeoutS: number | undefined;
    if (jt !== undefined) {
      const t = /^[0-9]{1,8}$/.test(jt) ? parseTimeoutS(Number(jt), 'job-timeout') : { error: '' };
      if (typeof t !== 'number') throw new UsageError(`--job-timeout must be a whole number of seconds, 1..${MAX_JOB_TIMEOUT_S} (30 days)`);
      jobTimeoutS = t;
    }
    const quiet = !!p.opts.quiet;
    const log = (line: string): void => { if (!quiet) process.stdout.write(`${new Date().toISOString()} ${line}\n`); };
    let srv;
    try {
      const apiToken = optString(p, 'api-token');
      const publicUrl = optString(p, 'public-url');
      if (publicUrl) { try { new URL(publicUrl); } catch { throw new UsageError('--public-url is not a URL: ' + publicUrl); } }
      srv = await startScomoServer({
        port, host: optString(p, 'host') ?? '0.0.0.0', dmPath, dataDir, log, maxMsgSize, ...(tls ? { tls } : {}),
        ...(apiToken ? { apiToken } : {}), ...(publicUrl ? { publicUrl } : {}), ...(db ? { db } : {}), ...(pool ? { dbPoolMax: Number(pool) } : {}),
        ...(jobTimeoutS !== undefined ? { jobTimeoutS } : {}),
      });
    } catch (e) {
      if (e instanceof UsageError) throw e;
      process.stderr.write(`scomo server: cannot start: ${(e as Error).message}\n`);
      return 1;
    }
    srv.dm.on('alert', (a) => log(`[${a.deviceId}] alert ${a.code}${a.correlator ? ' correlator ' + a.correlator : ''}`));
    srv.dm.on('session-start', (s) => log(`[${s.deviceId}] session started`));
    process.stdout.write(`scomo server listening on ${srv.dmUrl} (data: ${dataDir}${db ? '; database: ' + db.replace(/\/\/[^@/]*@/, '//') : ''}; REST API and downloads on ${srv.url})\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        void srv.close().then(resolve, resolve);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    process.stdout.write('scomo server stopped\n');
    return 0;
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`scomo server: ${e.message}\n${USAGE}`); return 1; }
    throw e;
  }
}
