// `scomo inventory <deviceId>`: the device's deployed components and delivered packages.
import { parseArgs, optString, UsageError, ParsedArgs } from './args.js';
import { ApiError, clientFrom } from '../api/client.js';

const USAGE = `usage: scomo inventory <deviceId> [--refresh] [--timeout S] [--json] [--server URL] [--token T]
Shows the last inventory the device reported. --refresh asks the device for a fresh one and
waits for it (at most --timeout seconds, default 30; on timeout the last one is shown, marked stale).`;

interface Inv {
  deviceId: string;
  deployed: { id: string; name: string; version: string; state: string }[];
  delivered: { pkgId: string; name: string; state: string }[];
  updatedAt: string | null;
  stale: boolean;
}

function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd()).join('\n') + '\n';
}

export async function run(args: string[]): Promise<number> {
  let p: ParsedArgs;
  try {
    p = parseArgs(args, { refresh: 'flag', timeout: 'value', json: 'flag', server: 'value', token: 'value', help: 'flag' }, { h: 'help' });
    if (p.opts.help) { process.stdout.write(USAGE + '\n'); return 0; }
    if (p.positional.length !== 1) throw new UsageError('give exactly one device id');
    const t = optString(p, 'timeout');
    if (t !== undefined && !/^[0-9]+(\.[0-9]+)?$/.test(t)) throw new UsageError('--timeout needs a number of seconds');
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`scomo inventory: ${e.message}\n${USAGE}\n`); return 1; }
    throw e;
  }
  try {
    const api = clientFrom({ server: optString(p, 'server'), token: optString(p, 'token') });
    const dev = p.positional[0];
    const timeoutS = Number(optString(p, 'timeout') ?? '30');
    const q = p.opts.refresh ? `?refresh=1&timeout=${timeoutS}` : '';
    if (p.opts.refresh && !p.opts.json) process.stderr.write(`asking ${dev} for its inventory...\n`);
    const inv = await api.request<Inv>('GET', `/api/devices/${encodeURIComponent(dev)}/inventory${q}`, undefined, { timeoutMs: (timeoutS + 30) * 1000 });
    if (p.opts.json) { process.stdout.write(JSON.stringify(inv, null, 2) + '\n'); return 0; }
    let out = `device ${inv.deviceId}: inventory of ${inv.updatedAt ?? 'never (no report yet)'}${inv.stale ? ' (stale: the device did not answer)' : ''}\n`;
    out += inv.deployed.length
      ? '\ndeployed components:\n' + table([['ID', 'NAME', 'VERSION', 'STATE'], ...inv.deployed.map((d) => [d.id, d.name, d.version, d.state])])
      : '\nno deployed components\n';
    if (inv.delivered.length) out += '\ndelivered packages:\n' + table([['PKGID', 'NAME', 'STATE'], ...inv.delivered.map((d) => [d.pkgId, d.name, d.state])]);
    process.stdout.write(out);
    return 0;
  } catch (e) {
    if (e instanceof ApiError) { process.stderr.write(`scomo inventory: ${e.message}\n`); return 1; }
    throw e;
  }
}
