// `scomo job create|show|wait|list`: SCOMO jobs over the REST API.
import { parseArgs, optString, UsageError, ParsedArgs } from './args.js';
import { ApiError, clientFrom, ApiClient } from '../api/client.js';

const OPS = ['Download', 'DownloadInstall', 'DownloadInstallInactive', 'Install', 'InstallInactive', 'Activate', 'Deactivate', 'Remove'];

const USAGE = `usage: scomo job create <deviceId>... --operation OP [--pkg ID] [--component ID] [--delivery alternate|dm] [--timeout S]
       scomo job show <jobId>
       scomo job wait <jobId> [--timeout S]
       scomo job list [<deviceId>] [--state failed[,succeeded...]] [--limit N] [--json]
       scomo job cancel <jobId>            (a running alternate download)
common options: [--server URL] [--token T]   (defaults http://127.0.0.1:8080, $SCOMO_API_TOKEN)
OP is one of ${OPS.join(', ')}.
create prints the job id (one per device); with --timeout the job fails ("timed out after S s") when
it has no outcome S seconds after its creation (default: the server's --job-timeout, else never).
wait exits 0 when the job succeeded, 1 when it failed
or did not finish within --timeout seconds (default 300).`;

interface JobView {
  jobId: string;
  deviceId: string;
  operation: string;
  state: string;
  resultCode?: number | null;
  error?: string;
  progress?: { done: number; total: number };
}

export async function run(args: string[]): Promise<number> {
  let p: ParsedArgs;
  try {
    p = parseArgs(args, {
      operation: 'value', pkg: 'value', component: 'value', delivery: 'value', timeout: 'value', json: 'flag', state: 'value', limit: 'value',
      server: 'value', token: 'value', help: 'flag',
    }, { h: 'help', o: 'operation' });
    if (p.opts.help) { process.stdout.write(USAGE + '\n'); return 0; }
    const [sub, ...rest] = p.positional;
    if (sub === 'create') {
      if (rest.length === 0) throw new UsageError('create needs a device id');
      const op = optString(p, 'operation');
      if (!op) throw new UsageError('missing --operation');
      if (!OPS.includes(op)) throw new UsageError(`--operation must be one of ${OPS.join(', ')}`);
      const d = optString(p, 'delivery');
      if (d !== undefined && d !== 'alternate' && d !== 'dm') throw new UsageError('--delivery must be alternate or dm');
      const t = optString(p, 'timeout');
      if (t !== undefined && !/^[1-9][0-9]{0,7}$/.test(t)) throw new UsageError('--timeout needs a whole number of seconds (the job\'s deadline)');
    } else if (sub === 'show' || sub === 'wait' || sub === 'cancel') {
      if (rest.length !== 1) throw new UsageError(`${sub} needs exactly one job id`);
      const t = optString(p, 'timeout');
      if (t !== undefined && !/^[0-9]+(\.[0-9]+)?$/.test(t)) throw new UsageError('--timeout needs a number of seconds');
    } else if (sub === 'list') {
      if (rest.length > 1) throw new UsageError('list takes at most one device id');
      const l = optString(p, 'limit');
      if (l !== undefined && !/^[1-9][0-9]{0,3}$/.test(l)) throw new UsageError('--limit needs a number 1..9999');
    } else {
      throw new UsageError(sub ? `unknown subcommand '${sub}'` : 'missing subcommand (create, show, wait, list or cancel)');
    }
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`scomo job: ${e.message}\n${USAGE}\n`); return 1; }
    throw e;
  }
  try {
    const api = clientFrom({ server: optString(p, 'server'), token: optString(p, 'token') });
    const [sub, ...rest] = p.positional;
    if (sub === 'create') return await create(api, p, rest);
    if (sub === 'show') {
      const j = await api.request('GET', `/api/jobs/${encodeURIComponent(rest[0])}`);
      process.stdout.write(JSON.stringify(j, null, 2) + '\n');
      return 0;
    }
    if (sub === 'cancel') {
      await api.request('POST', `/api/jobs/${encodeURIComponent(rest[0])}/cancel`);
      process.stdout.write(`job ${rest[0]}: cancel requested (see job wait/show for the outcome)\n`);
      return 0;
    }
    if (sub === 'list') {
      const q = new URLSearchParams();
      if (optString(p, 'state')) q.set('state', optString(p, 'state')!);
      if (optString(p, 'limit')) q.set('limit', optString(p, 'limit')!);
      const path = (rest.length ? `/api/devices/${encodeURIComponent(rest[0])}/jobs` : '/api/jobs') + (q.size ? '?' + q.toString() : '');
      const r = await api.request<{ jobs: JobView[] }>('GET', path);
      if (p.opts.json) { process.stdout.write(JSON.stringify(r.jobs, null, 2) + '\n'); return 0; }
      for (const j of r.jobs) {
        process.stdout.write(`${j.jobId}  ${j.deviceId}  ${j.operation}  ${j.state}${j.resultCode ? '  ' + j.resultCode : ''}\n`);
      }
      return 0;
    }
    return await wait(api, rest[0], Number(optString(p, 'timeout') ?? '300'));
  } catch (e) {
    if (e instanceof ApiError) { process.stderr.write(`scomo job: ${e.message}\n`); return 1; }
    throw e;
  }
}

async function create(api: ApiClient, p: ParsedArgs, devices: string[]): Promise<number> {
  const body: Record<string, unknown> = { operation: optString(p, 'operation') };
  if (optString(p, 'pkg')) body.pkgId = optString(p, 'pkg');
  if (optString(p, 'component')) body.componentId = optString(p, 'component');
  body.delivery = optString(p, 'delivery') ?? 'alternate';
  // The server checks the range (at most 30 days) and answers a clear error.
  if (optString(p, 'timeout')) body.timeoutS = Number(optString(p, 'timeout'));
  if (devices.length === 1) {
    const r = await api.request<{ jobId: string }>('POST', `/api/devices/${encodeURIComponent(devices[0])}/jobs`, body);
    process.stdout.write(r.jobId + '\n');
    return 0;
  }
  const r = await api.request<{ jobIds: string[] }>('POST', '/api/jobs', { ...body, deviceIds: devices });
  process.stdout.write(r.jobIds.join('\n') + '\n');
  return 0;
}

function mb(n: number): string {
  return (n / 1048576).toFixed(1) + ' MB';
}

async function wait(api: ApiClient, jobId: string, timeoutS: number): Promise<number> {
  const t0 = Date.now();
  let last = '';
  let lastPct = -1;
  const tty = !!process.stderr.isTTY;
  for (;;) {
    const j = await api.request<JobView>('GET', `/api/jobs/${encodeURIComponent(jobId)}`);
    if (j.state !== last) {
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      process.stderr.write(`[${secs.padStart(5)} s] job ${jobId} (${j.operation} on ${j.deviceId}): ${j.state}\n`);
      last = j.state;
    }
    if (j.progress && j.progress.total > 0) {
      const pct = Math.floor((j.progress.done * 100) / j.progress.total);
      const step = tty ? pct : pct - (pct % 10);
      if (step !== lastPct) {
        lastPct = step;
        const line = `downloading: ${pct}% (${mb(j.progress.done)} of ${mb(j.progress.total)})`;
        process.stderr.write(tty ? `\r${line}${pct === 100 ? '\n' : ''}` : line + '\n');
      }
    }
    if (j.state === 'succeeded') {
      process.stdout.write(`job ${jobId} succeeded${j.resultCode ? ` (result ${j.resultCode})` : ''}\n`);
      return 0;
    }
    if (j.state === 'failed') {
      process.stderr.write(`job ${jobId} failed: ${j.error ?? 'no reason given'}${j.resultCode ? ` (result ${j.resultCode})` : ''}\n`);
      return 1;
    }
    if (Date.now() - t0 > timeoutS * 1000) {
      process.stderr.write(`job ${jobId} still ${j.state} after ${timeoutS} s\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
