// `scomo package upload|list|delete`: the package repository over the REST API.
import { basename } from 'node:path';
import { parseArgs, optString, UsageError, ParsedArgs } from './args.js';
import { ApiError, clientFrom } from '../api/client.js';
import { SignError, signFile, signatureFromFile } from './package-sign.js';
import type { PackageSignature } from '../../scomo/signature.js';

const USAGE = `usage: scomo package upload <file> --name N --version V [--type MIME] [--server URL] [--token T]
                            [--signature FILE.sig --sig-alg ALG | --sign-key KEY.pem [--sig-alg ALG]]
       scomo package list [--server URL] [--token T]
       scomo package delete <pkgId> [--server URL] [--token T]
Uploads a package to the server's repository and prints { pkgId, url, sha256, size, signed } as JSON.
delete removes a package from the repository (refused while an unfinished job or an active
campaign uses it).
Signing (devices check it with \`scomo device --trust-key pub.pem\`):
  --signature FILE.sig  detached binary signature of the file, as made by
                        \`openssl dgst -sha256 -sign key.pem -out FILE.sig <file>\`; needs --sig-alg
  --sig-alg ALG         ecdsa-p256-sha256 | rsa-pkcs1-sha256 | rsa-pss-sha256 (PSS salt 32)
  --sign-key KEY.pem    sign here with this private key: EC P-256 -> ecdsa-p256-sha256,
                        RSA -> rsa-pkcs1-sha256 (or --sig-alg rsa-pss-sha256)
--server defaults to http://127.0.0.1:8080, --token to $SCOMO_API_TOKEN.`;

const BIG = 1024 * 1024;

function mb(n: number): string {
  return (n / 1048576).toFixed(1) + ' MB';
}

export async function run(args: string[]): Promise<number> {
  let p: ParsedArgs;
  try {
    p = parseArgs(args, {
      name: 'value', version: 'value', type: 'value', server: 'value', token: 'value', help: 'flag',
      signature: 'value', 'sig-alg': 'value', 'sign-key': 'value',
    }, { h: 'help' });
    if (p.opts.help) { process.stdout.write(USAGE + '\n'); return 0; }
    const sub = p.positional[0];
    if (sub === 'list' || sub === 'delete') {
      const n = sub === 'list' ? 1 : 2;
      if (sub === 'delete' && p.positional.length < 2) throw new UsageError('delete needs a pkgId');
      if (p.positional.length > n) throw new UsageError('unexpected argument ' + p.positional[n]);
      if (['signature', 'sig-alg', 'sign-key', 'name', 'version', 'type'].some((o) => p.opts[o] !== undefined)) throw new UsageError(`--name, --version, --type and signing options only go with upload`);
    } else if (sub === 'upload') {
      if (p.positional.length !== 2) throw new UsageError('upload needs exactly one file');
      if (!optString(p, 'name')) throw new UsageError('missing --name');
      if (!optString(p, 'version')) throw new UsageError('missing --version');
      const sigFile = optString(p, 'signature'), key = optString(p, 'sign-key'), alg = optString(p, 'sig-alg');
      if (sigFile !== undefined && key !== undefined) throw new UsageError('give either --signature or --sign-key, not both');
      if (sigFile !== undefined && alg === undefined) throw new UsageError('--signature needs --sig-alg (ecdsa-p256-sha256, rsa-pkcs1-sha256 or rsa-pss-sha256)');
      if (alg !== undefined && sigFile === undefined && key === undefined) throw new UsageError('--sig-alg needs --signature or --sign-key');
    } else {
      throw new UsageError(sub ? `unknown subcommand '${sub}'` : 'missing subcommand (upload, list or delete)');
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
    if (p.positional[0] === 'delete') {
      const id = p.positional[1];
      await api.request('DELETE', '/api/packages/' + encodeURIComponent(id));
      process.stdout.write(`deleted ${id}\n`);
      return 0;
    }
    const file = p.positional[1];
    const q = new URLSearchParams({ name: optString(p, 'name')!, version: optString(p, 'version')!, type: optString(p, 'type') ?? 'application/x-tar' });
    // Made (or read) before the upload starts: a bad key or signature file costs no transfer.
    let sig: PackageSignature | undefined;
    const sigFile = optString(p, 'signature'), key = optString(p, 'sign-key');
    if (sigFile !== undefined) sig = await signatureFromFile(sigFile, optString(p, 'sig-alg')!);
    else if (key !== undefined) sig = await signFile(file, key, optString(p, 'sig-alg'));
    if (sig) { q.set('signature', sig.value); q.set('sigalg', sig.alg); }
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
    if (e instanceof ApiError || e instanceof SignError) { process.stderr.write(`scomo package: ${e.message}\n`); return 1; }
    throw e;
  }
}
