// `scomo simulate`: the fleet simulator as a command (src/server/fleet). Provisions N accounts
// tagged `sim` through the REST API, runs N emulated devices in this process, answers package 0,
// and keeps running until SIGINT/SIGTERM.
import { parseArgs, optInt, optString, UsageError } from './args.js';
import { startFleet } from '../fleet/simulator.js';
import { fleetSpecs, provisionFleet } from '../fleet/provision.js';

const HELP = `usage: scomo simulate --server <url> --devices N [--prefix sim-] [--data DIR] [--token T]
                      [--dm-path /dm] [--auth basic|md5|hmac] [--encoding xml|wbxml]
                      [--notify-host 127.0.0.1] [--max-sockets 64] [--boot-concurrency 64] [--verbose]
Provisions N device accounts <prefix>0..N-1 tagged "sim" over the REST API (POST /api/devices,
replacing accounts of the same id), then runs N emulated devices in this process: the real agent
(DM client, tree, SCOMO engine) with in-memory flash and package storage and an installer that
reads each package's manifest.json. Each device listens for package 0 on its own UDP port of
--notify-host (which the server must be able to reach). Runs until interrupted.
--token: the API token (default: SCOMO_API_TOKEN). --data: keeps the fleet's secrets in
DIR/fleet.json so a re-run reuses them (device state itself lives in memory).`;

export async function run(args: string[]): Promise<number> {
  let p;
  let n = 0;
  try {
    p = parseArgs(args, {
      server: 'value', devices: 'value', prefix: 'value', data: 'value', token: 'value', 'dm-path': 'value', auth: 'value',
      encoding: 'value', 'notify-host': 'value', 'max-sockets': 'value', 'boot-concurrency': 'value', verbose: 'flag', help: 'flag',
    }, { h: 'help', n: 'devices' });
    if (p.opts.help) { process.stdout.write(HELP + '\n'); return 0; }
    if (!optString(p, 'server')) throw new UsageError('missing --server');
    try { new URL(optString(p, 'server')!); } catch { throw new UsageError(`--server is not a URL: ${optString(p, 'server')}`); }
    n = optInt(p, 'devices', 0);
    if (n < 1 || n > 100_000) throw new UsageError('--devices must be 1..100000');
    const auth = optString(p, 'auth') ?? 'md5';
    if (!['basic', 'md5', 'hmac'].includes(auth)) throw new UsageError('--auth must be basic, md5 or hmac');
    const enc = optString(p, 'encoding') ?? 'xml';
    if (!['xml', 'wbxml'].includes(enc)) throw new UsageError('--encoding must be xml or wbxml');
    if (!(optString(p, 'token') ?? process.env.SCOMO_API_TOKEN)) throw new UsageError('missing --token (or SCOMO_API_TOKEN)');
    const prefix = optString(p, 'prefix') ?? 'sim-';
    if (!/^[A-Za-z0-9._:-]{0,64}$/.test(prefix)) throw new UsageError('--prefix: up to 64 characters of A-Z a-z 0-9 . _ : -');
    const dmPath = optString(p, 'dm-path') ?? '/dm';
    if (!dmPath.startsWith('/')) throw new UsageError('--dm-path must start with /');
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`scomo simulate: ${e.message}\n${HELP}\n`); return 1; }
    throw e;
  }
  const base = optString(p, 'server')!.replace(/\/+$/, '');
  const token = (optString(p, 'token') ?? process.env.SCOMO_API_TOKEN)!;
  const verbose = !!p.opts.verbose;
  const notifyHost = optString(p, 'notify-host') ?? '127.0.0.1';
  const specs = fleetSpecs(n, optString(p, 'prefix') ?? 'sim-', (optString(p, 'auth') ?? 'md5') as 'md5', optString(p, 'data'));
  const fleet = await startFleet({
    dmUrl: base + (optString(p, 'dm-path') ?? '/dm'), devices: specs, notifyHost,
    encoding: (optString(p, 'encoding') ?? 'xml') as 'xml',
    maxSockets: optInt(p, 'max-sockets', 64), bootConcurrency: optInt(p, 'boot-concurrency', 64),
    ...(verbose ? { log: (d: string, l: string, m: string) => process.stdout.write(`${d} ${l} ${m}\n`) } : {}),
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('stopping the fleet\n');
    void fleet.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await provisionFleet(base, token, specs, { host: notifyHost, ports: fleet.devices.map((d) => d.notifyPort) });
  } catch (e) {
    await fleet.close();
    process.stderr.write(`scomo simulate: ${(e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`provisioned ${n} devices (${specs[0].deviceId} .. ${specs[n - 1].deviceId}, tag "sim"); booting\n`);
  const t0 = Date.now();
  const ok = await fleet.boot();
  const s0 = fleet.stats();
  process.stdout.write(`fleet up: ${n} devices booted in ${((Date.now() - t0) / 1000).toFixed(1)} s${ok ? '' : ' (some first sessions failed; they retry on their own)'}\n`);
  let last = s0.sessions;
  const timer = setInterval(() => {
    const s = fleet.stats();
    let jobs = 0;
    for (const d of fleet.devices) jobs += d.agent.status().jobs.length;
    process.stdout.write(`${new Date().toISOString()} sessions ${s.sessions} (+${s.sessions - last}), package 0 ${s.package0}, HTTP errors ${s.httpErrors}, device jobs running ${jobs}, p99 ${fleet.percentile(99).toFixed(0)} ms\n`);
    last = s.sessions;
  }, 10_000);
  await new Promise<void>(() => { /* until a signal */ });
  clearInterval(timer);
  return 0;
}
