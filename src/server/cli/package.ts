// `scomo package upload|list`: the package repository over the REST API.
import { basename } from 'node:path';
import { parseArgs, optString, UsageError, ParsedArgs } from './args.js';
import { ApiError, clientFrom } from '../api/client.js';

const USAGE = `usage: scomo package upload <file> --name N --version V [--type MIME] [--server URL] [--token T]
       scomo package list [--server URL] [--token T]
Uploads a package to the server's repository and prints { pkgId, url, sha256, size } as JSON.
--server defaults to http://127.0.0.1:8080, --token to $SCOMO_API_TOKEN.`;

const BIG = 1024 * 1024;

function mb(n: number): string {
  return (n / 1048576).toFixed(1) + ' MB';
}

export async function run(args: string[]): Promise<number> {
  let p: ParsedArgs;
  try {
    p = parseArgs(args, { name: 'value', version: 'value', type: 'value', server: 'value', token: 'value', help: 'flag' }, { h: 'help' });
    if (p.opts.help) { process.stdout.write(USAGE + '\n'); return 0; }
    const sub = p.positional[0];
    if (sub === 'list') {
      if (p.positional.length > 1) throw new UsageError('unexpected argument ' + p.positional[1]);
    } else if (sub === 'upload') {
      if (p.positional.length !== 2) throw new UsageError('upload needs exactly one file');
      if (!optString(p, 'name')) throw new UsageError('missing --name');
      if (!optString(p, 'version')) throw new UsageError('missing --version');
    } else {
      throw new UsageError(sub ? `unknown subcommand '${sub}'` : 'missing subcommand (upload or list)');
    }
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`scomo package: ${e.message}\n${USAGE}\n`); return 1; }
    throw e;
  }
  try {
    const api = clientFrom({ server: optString(p, 'server'), token: optString(p, 'token') });
    if (p.positional[0] === 'list') {
      const r = await api.request<{ packages: Record<string, unknown>[] }>('GET', '/api/packages');
      process.stdout.write(JSON.stringify(r.packages, null, 2) + '\n');
      return 0;
    }
    const file = p.positional[1];
    const q = new URLSearchParams({ name: optString(p, 'name')!, version: optString(p, 'version')!, type: optString(p, 'type') ?? 'application/x-tar' });
    let shown = -1;
    const tty = !!process.stderr.isTTY;
    const r = await api.uploadFile('/api/packages?' + q.toString(), file, (sent, total) => {
      if (total < BIG) return;
      const pct = Math.floor((sent * 100) / total);
      // On a terminal one line updated in place; in a log a line per 10 %.
      const step = tty ? pct : pct - (pct % 10);
      if (step === shown) return;
      shown = step;
      const line = `uploading ${basename(file)}: ${pct}% (${mb(sent)} of ${mb(total)})`;
      process.stderr.write(tty ? `\r${line}${pct === 100 ? '\n' : ''}` : line + '\n');
    });
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return 0;
  } catch (e) {
    if (e instanceof ApiError) { process.stderr.write(`scomo package: ${e.message}\n`); return 1; }
    throw e;
  }
}
