// `scomo account add|list`: provisions device accounts straight into the data directory
// (SQLite in WAL mode, so this works while a server process runs on it).
import { parseArgs, optString, UsageError, ParsedArgs } from './args.js';
import { openSqliteStorage } from '../storage/sqlite.js';
import { makeAccount, CLIENT_AUTH_TYPES, SERVER_AUTH_TYPES } from '../accounts.js';
import type { ClientAuthType, ServerAuthType } from '../storage/types.js';

const USAGE = 'usage: scomo account add <deviceId> --client-user U --client-secret S --server-id ID --server-secret S2\n' +
  '                         [--auth basic|md5|hmac] [--server-auth basic|md5|hmac|none] [--client-nonce B64]\n' +
  '                         [--notify-host H] [--notify-port N] [--data DIR]\n' +
  '       scomo account list [--data DIR]\n';

function need(p: ParsedArgs, name: string): string {
  const v = optString(p, name);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

export async function run(args: string[]): Promise<number> {
  try {
    const [sub, ...rest] = args;
    if (sub === 'add') return await add(rest);
    if (sub === 'list') return await list(rest);
    if (sub === undefined || sub === '--help' || sub === '-h') { process.stdout.write(USAGE); return sub ? 0 : 2; }
    throw new UsageError(`unknown subcommand '${sub}'`);
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`scomo account: ${e.message}\n${USAGE}`); return 1; }
    process.stderr.write(`scomo account: ${(e as Error).message}\n`);
    return 1;
  }
}

async function add(args: string[]): Promise<number> {
  const p = parseArgs(args, {
    'client-user': 'value', 'client-secret': 'value', 'server-id': 'value', 'server-secret': 'value', auth: 'value',
    'server-auth': 'value', 'client-nonce': 'value', 'notify-host': 'value', 'notify-port': 'value', data: 'value',
  });
  if (p.positional.length !== 1) throw new UsageError('account add takes exactly one device id');
  const auth = optString(p, 'auth') ?? 'md5';
  if (!(CLIENT_AUTH_TYPES as readonly string[]).includes(auth)) throw new UsageError(`--auth must be one of ${CLIENT_AUTH_TYPES.join(', ')}`);
  const serverAuth = optString(p, 'server-auth');
  if (serverAuth !== undefined && !(SERVER_AUTH_TYPES as readonly string[]).includes(serverAuth)) throw new UsageError(`--server-auth must be one of ${SERVER_AUTH_TYPES.join(', ')}`);
  const np = optString(p, 'notify-port');
  if (np !== undefined && !/^[0-9]+$/.test(np)) throw new UsageError('--notify-port needs a port number');
  const a = makeAccount({
    deviceId: p.positional[0], clientUser: need(p, 'client-user'), clientSecret: need(p, 'client-secret'),
    serverId: need(p, 'server-id'), serverSecret: need(p, 'server-secret'), authType: auth as ClientAuthType,
    ...(serverAuth ? { serverAuthType: serverAuth as ServerAuthType } : {}),
    ...(optString(p, 'client-nonce') !== undefined ? { clientNonce: optString(p, 'client-nonce')! } : {}),
    ...(optString(p, 'notify-host') !== undefined ? { notifyHost: optString(p, 'notify-host')! } : {}),
    ...(np !== undefined ? { notifyPort: Number(np) } : {}),
  });
  if (typeof a === 'string') throw new UsageError(a);
  const dir = optString(p, 'data') ?? '.scomo-data';
  const storage = openSqliteStorage(dir);
  try {
    const old = await storage.getAccount(a.deviceId);
    if (old) a.createdAt = old.createdAt;
    await storage.putAccount(a);
    process.stdout.write(`account ${a.deviceId} ${old ? 'updated' : 'added'} (auth ${a.authType}, server auth ${a.serverAuthType}) in ${dir}\n`);
  } finally {
    await storage.close();
  }
  return 0;
}

async function list(args: string[]): Promise<number> {
  const p = parseArgs(args, { data: 'value' });
  const dir = optString(p, 'data') ?? '.scomo-data';
  const storage = openSqliteStorage(dir);
  try {
    for (const a of await storage.listAccounts()) {
      process.stdout.write(`${a.deviceId}\tuser=${a.clientUser}\tauth=${a.authType}\tserver-id=${a.serverId}\tserver-auth=${a.serverAuthType}` +
        (a.notifyHost ? `\tnotify=${a.notifyHost}:${a.notifyPort ?? ''}` : '') + '\n');
    }
  } finally {
    await storage.close();
  }
  return 0;
}
