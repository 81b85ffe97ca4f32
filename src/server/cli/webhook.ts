// `scomo webhook add|list|show|remove`: job-outcome webhooks over the REST API
// (docs/api.md "Webhooks").
import { readFileSync } from 'node:fs';
import { parseArgs, optString, UsageError, ParsedArgs } from './args.js';
import { ApiError, clientFrom } from '../api/client.js';

const USAGE = `usage: scomo webhook add <url> [--events succeeded,failed | --events accepted,succeeded,failed | --events '*']
                         [--secret-file F | --secret S]
       scomo webhook list
       scomo webhook show <webhookId>      (with its last 50 deliveries)
       scomo webhook remove <webhookId>
common options: [--server URL] [--token T]   (defaults http://127.0.0.1:8080, $SCOMO_API_TOKEN)
add prints the webhook id. With a secret, each POST carries X-Scomo-Signature-256: sha256=<hex HMAC of the body>;
--secret-file keeps the secret out of the process list (its first line is used).`;

export async function run(args: string[]): Promise<number> {
  let p: ParsedArgs;
  let secret: string | undefined;
  try {
    p = parseArgs(args, { events: 'value', secret: 'value', 'secret-file': 'value', server: 'value', token: 'value', help: 'flag' }, { h: 'help' });
    if (p.opts.help) { process.stdout.write(USAGE + '\n'); return 0; }
    const [sub, ...rest] = p.positional;
    if (sub === 'add') {
      if (rest.length !== 1) throw new UsageError('add needs exactly one URL');
      const file = optString(p, 'secret-file');
      if (file !== undefined && optString(p, 'secret') !== undefined) throw new UsageError('give either --secret or --secret-file, not both');
      if (file !== undefined) {
        try {
          secret = readFileSync(file, 'utf8').split(/\r?\n/)[0];
        } catch (e) {
          throw new UsageError(`cannot read --secret-file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        if (!secret) throw new UsageError(`--secret-file ${file} is empty`);
      } else secret = optString(p, 'secret');
    } else if (sub === 'show' || sub === 'remove') {
      if (rest.length !== 1) throw new UsageError(`${sub} needs exactly one webhook id`);
    } else if (sub === 'list') {
      if (rest.length) throw new UsageError('unexpected argument ' + rest[0]);
    } else {
      throw new UsageError(sub ? `unknown subcommand '${sub}'` : 'missing subcommand (add, list, show or remove)');
    }
    if (sub !== 'add' && ['events', 'secret', 'secret-file'].some((o) => p.opts[o] !== undefined)) throw new UsageError('--events and the secret options only go with add');
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`scomo webhook: ${e.message}\n${USAGE}\n`); return 1; }
    throw e;
  }
  try {
    const api = clientFrom({ server: optString(p, 'server'), token: optString(p, 'token') });
    const [sub, arg] = p.positional;
    if (sub === 'add') {
      const events = optString(p, 'events')?.split(',').map((x) => x.trim()).filter(Boolean);
      const r = await api.request<{ webhookId: string }>('POST', '/api/webhooks', { url: arg, ...(events ? { events } : {}), ...(secret !== undefined ? { secret } : {}) });
      process.stdout.write(r.webhookId + '\n');
    } else if (sub === 'list') {
      const r = await api.request<{ webhooks: unknown[] }>('GET', '/api/webhooks');
      process.stdout.write(JSON.stringify(r.webhooks, null, 2) + '\n');
    } else if (sub === 'show') {
      process.stdout.write(JSON.stringify(await api.request('GET', '/api/webhooks/' + encodeURIComponent(arg)), null, 2) + '\n');
    } else {
      await api.request('DELETE', '/api/webhooks/' + encodeURIComponent(arg));
      process.stdout.write(`removed ${arg}\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof ApiError) { process.stderr.write(`scomo webhook: ${e.message}\n`); return 1; }
    throw e;
  }
}
