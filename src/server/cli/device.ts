// `scomo device`: the desktop emulated device (targets/node) as a command.
import { parseArgs, optInt, optString, UsageError } from './args.js';
import { startDevice } from '../../../targets/node/device.js';
import { loadTrustKeys } from '../../../targets/node/package-verifier.js';

const HELP = `usage: scomo device --server <url> --id <deviceId> --client-user U --client-secret S
                    --server-id ID --server-secret S2 [--auth basic|md5|hmac] [--encoding xml|wbxml]
                    [--data DIR] [--notify-port N] [--poll-interval S] [--ca F] [--once] [--quiet]
                    [--request-component NAME[@VERSION]] [--trust-key FILE]... [--require-signature]
                    [--download-retries N] [--download-backoff-ms MS] [--max-package-bytes N]
                    [--http-timeout S]
Runs the emulated device: file-backed flash in DIR, a client-initiated session at boot,
package 0 on its UDP notification port, SCOMO jobs with the directory and A/B firmware installers.
--request-component: ask the server for a component at start (SCOMO flow alternative 1).
--trust-key FILE: a PEM file of public keys and/or X.509 certificates (EC P-256 or RSA) that
        signed packages must verify against; repeatable. A signed package that no trusted key
        verifies is refused with 1407 (so is every signed package when no key is given).
--require-signature: refuse (1407) packages that carry no signature too; needs --trust-key.
--download-retries N: alternate-download retries without progress before the job fails (default 5);
--download-backoff-ms MS: the first wait between them (default 1000, doubling up to 60 s).
--max-package-bytes N: package storage size; a bigger package fails with 1404 (default: no limit).
--http-timeout S: a server or download that sends nothing for S seconds fails (default 30).
--once: run until the first session (and the jobs it starts) are done; exit 0 if it succeeded,
        1 with a one-line reason if it did not.`;

/** Takes every `--trust-key F` / `--trust-key=F` out of `args` (the shared parser keeps only the last of a repeated option). */
function takeTrustKeys(args: string[]): { files: string[]; rest: string[] } {
  const files: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--trust-key') {
      const v = args[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError('option --trust-key needs a file');
      files.push(v);
    } else if (a.startsWith('--trust-key=')) {
      const v = a.slice('--trust-key='.length);
      if (!v) throw new UsageError('option --trust-key needs a file');
      files.push(v);
    } else rest.push(a);
  }
  return { files, rest };
}

export async function run(args: string[]): Promise<number> {
  let p;
  let trustKeys: string[];
  let nums: { notifyPort?: number; pollIntervalS?: number; downloadRetries?: number; downloadBackoffMs?: number; maxPackageBytes?: number; httpTimeoutS?: number };
  try {
    const tk = takeTrustKeys(args);
    trustKeys = tk.files;
    args = tk.rest;
    p = parseArgs(args, {
      server: 'value', id: 'value', 'client-user': 'value', 'client-secret': 'value', 'server-id': 'value',
      'server-secret': 'value', auth: 'value', encoding: 'value', data: 'value', 'notify-port': 'value',
      'poll-interval': 'value', ca: 'value', 'request-component': 'value', 'require-signature': 'flag', once: 'flag', quiet: 'flag', help: 'flag',
      'download-retries': 'value', 'download-backoff-ms': 'value', 'max-package-bytes': 'value', 'http-timeout': 'value',
    }, { h: 'help' });
    if (p.opts.help) { process.stdout.write(HELP + '\n'); return 0; }
    for (const k of ['server', 'id', 'client-user', 'client-secret', 'server-id', 'server-secret']) {
      if (!optString(p, k)) throw new UsageError(`missing --${k}`);
    }
    const auth = optString(p, 'auth') ?? 'md5';
    if (!['basic', 'md5', 'hmac'].includes(auth)) throw new UsageError(`--auth must be basic, md5 or hmac`);
    const enc = optString(p, 'encoding') ?? 'xml';
    if (!['xml', 'wbxml'].includes(enc)) throw new UsageError(`--encoding must be xml or wbxml`);
    try { new URL(optString(p, 'server')!); } catch { throw new UsageError(`--server is not a URL: ${optString(p, 'server')}`); }
    if (p.opts['require-signature'] && !trustKeys.length) throw new UsageError('--require-signature needs at least one --trust-key');
    // Numbers are checked here, so a bad one is a usage error before anything starts.
    nums = {};
    for (const [opt, key] of [['notify-port', 'notifyPort'], ['poll-interval', 'pollIntervalS'], ['download-retries', 'downloadRetries'],
      ['download-backoff-ms', 'downloadBackoffMs'], ['max-package-bytes', 'maxPackageBytes'], ['http-timeout', 'httpTimeoutS']] as const) {
      if (optString(p, opt) !== undefined) nums[key] = optInt(p, opt, 0);
    }
    if (nums.httpTimeoutS === 0) throw new UsageError('--http-timeout must be at least 1 second');
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`scomo device: ${e.message}\n${HELP}\n`); return 1; }
    throw e;
  }
  // Bad key files are a configuration error: one line before anything starts.
  try { loadTrustKeys(trustKeys); } catch (e) {
    process.stderr.write(`scomo device: ${(e as Error).message}\n`);
    return 1;
  }
  const quiet = !!p.opts.quiet;
  const once = !!p.opts.once;
  const { httpTimeoutS, ...devNums } = nums;
  let dev;
  try {
    dev = await startDevice({
      server: optString(p, 'server')!,
      id: optString(p, 'id')!,
      clientUser: optString(p, 'client-user')!,
      clientSecret: optString(p, 'client-secret')!,
      serverId: optString(p, 'server-id')!,
      serverSecret: optString(p, 'server-secret')!,
      auth: (optString(p, 'auth') ?? 'md5') as 'basic' | 'md5' | 'hmac',
      encoding: (optString(p, 'encoding') ?? 'xml') as 'xml' | 'wbxml',
      dataDir: optString(p, 'data') ?? '.scomo-device',
      ...devNums,
      ...(httpTimeoutS ? { httpTimeoutMs: httpTimeoutS * 1000 } : {}),
      ...(optString(p, 'ca') ? { caFile: optString(p, 'ca')! } : {}),
      ...(trustKeys.length ? { trustKeys } : {}),
      ...(p.opts['require-signature'] ? { requireSignature: true } : {}),
      log: (level, msg) => {
        if (quiet && level === 'debug') return;
        if (level === 'debug') return;
        process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${level.padEnd(5)} ${msg}\n`);
      },
    });
  } catch (e) {
    // The environment is wrong (CA file, port, data directory, flash image): one line, nothing left running.
    process.stderr.write(`scomo device: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const req = optString(p, 'request-component');
  if (req) {
    const at = req.lastIndexOf('@');
    if (at > 0) dev.agent.requestComponent(req.slice(0, at), req.slice(at + 1));
    else dev.agent.requestComponent(req);
  }
  if (dev.notifyPort) process.stdout.write(`listening for package 0 on udp 127.0.0.1:${dev.notifyPort}\n`);
  if (once) {
    // The first session decides: a failure (no server, refused credentials) ends the run at once
    // rather than after the retry back-off; a success waits for the jobs it started.
    const t0 = Date.now();
    for (;;) {
      const st = dev.agent.status();
      if (st.sessions >= 1 && !st.inSession && st.lastSessionOk !== null) break;
      if (Date.now() - t0 > 120_000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const first = dev.agent.status();
    if (first.lastSessionOk === false) {
      await dev.close();
      process.stderr.write(`scomo device: session failed: ${first.lastError ?? 'unknown reason'}\n`);
      return 1;
    }
    try {
      await dev.waitIdle(120_000);
    } catch (e) {
      await dev.close();
      process.stderr.write(`scomo device: ${(e as Error).message}\n`);
      return 1;
    }
    const st = dev.agent.status();
    await dev.close();
    if (!st.lastSessionOk) {
      process.stderr.write(`scomo device: session failed: ${st.lastError ?? 'unknown reason'}\n`);
      return 1;
    }
    return 0;
  }
  await new Promise<void>((resolve) => {
    // Signal listeners do not keep Node running: without a poll interval or a notify port the
    // event loop would empty after the first session and the device would just exit.
    const alive = setInterval(() => {}, 1 << 30);
    const stop = (): void => { clearInterval(alive); resolve(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await dev.close();
  return 0;
}
