// `scomo campaign create|show|list|pause|resume|cancel|wait`: campaigns over the REST API
// (docs/api.md "Campaigns").
import { parseArgs, optString, UsageError, ParsedArgs } from './args.js';
import { ApiError, clientFrom } from '../api/client.js';

const USAGE = `usage: scomo campaign create --operation OP (--pkg ID | --component ID) [--devices a,b] [--tags t1,t2]
                             [--waves 10,10%] [--success 0.9] [--errors 0.2] [--max-in-flight 200]
                             [--window HH:MM-HH:MM[@TZ]] [--job-timeout S] [--shuffle]
       scomo campaign show <campaignId>
       scomo campaign list
       scomo campaign pause|resume|cancel <campaignId>
       scomo campaign wait <campaignId> [--timeout S]
common options: [--server URL] [--token T]   (defaults http://127.0.0.1:8080, $SCOMO_API_TOKEN)
create prints the campaign id; wait exits 0 when the campaign completed without failures,
1 when it completed with failures, paused, was cancelled, or did not end within --timeout (default 3600).`;

interface View { campaignId: string; state: string; reason?: string; devices: number; currentWave: number; waves: number[]; counts: Record<string, number> }

function line(c: View): string {
  const k = Object.entries(c.counts).filter(([, v]) => v > 0).map(([s, v]) => `${s} ${v}`).join(', ');
  return `${c.campaignId} ${c.state}${c.reason ? ' (' + c.reason + ')' : ''}: wave ${c.currentWave}/${c.waves.length}, ${c.devices} devices: ${k}`;
}

export async function run(args: string[]): Promise<number> {
  let p: ParsedArgs;
  try {
    p = parseArgs(args, {
      operation: 'value', pkg: 'value', component: 'value', devices: 'value', tags: 'value', waves: 'value', success: 'value',
      errors: 'value', 'max-in-flight': 'value', window: 'value', 'job-timeout': 'value', shuffle: 'flag', timeout: 'value', server: 'value', token: 'value', help: 'flag',
    }, { h: 'help', o: 'operation' });
    if (p.opts.help) { process.stdout.write(USAGE + '\n'); return 0; }
    const [sub, ...rest] = p.positional;
    if (sub === 'create') {
      if (!optString(p, 'operation')) throw new UsageError('missing --operation');
      if (!optString(p, 'devices') && !optString(p, 'tags')) throw new UsageError('create needs --devices or --tags');
      const w = optString(p, 'window');
      if (w !== undefined && !/^\d\d:\d\d-\d\d:\d\d(@\S+)?$/.test(w)) throw new UsageError('--window must be HH:MM-HH:MM or HH:MM-HH:MM@TZ');
      const jt = optString(p, 'job-timeout');
      if (jt !== undefined && !/^[1-9][0-9]{0,7}$/.test(jt)) throw new UsageError('--job-timeout needs a whole number of seconds');
    } else if (['show', 'pause', 'resume', 'cancel', 'wait'].includes(sub ?? '')) {
      if (rest.length !== 1) throw new UsageError(`${sub} needs exactly one campaign id`);
    } else if (sub !== 'list') {
      throw new UsageError(sub ? `unknown subcommand '${sub}'` : 'missing subcommand (create, show, list, pause, resume, cancel or wait)');
    }
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`scomo campaign: ${e.message}\n${USAGE}\n`); return 1; }
    throw e;
  }
  try {
    const api = clientFrom({ server: optString(p, 'server'), token: optString(p, 'token') });
    const [sub, id] = p.positional;
    const list = (s: string | undefined): string[] | undefined => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);
    const num = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s));
    if (sub === 'create') {
      const w = optString(p, 'window');
      const wm = w ? /^(\d\d:\d\d)-(\d\d:\d\d)(?:@(\S+))?$/.exec(w) : null;
      const body = {
        operation: optString(p, 'operation'), pkgId: optString(p, 'pkg'), componentId: optString(p, 'component'),
        target: { devices: list(optString(p, 'devices')), tags: list(optString(p, 'tags')) },
        waves: list(optString(p, 'waves'))?.map((x) => (/%$/.test(x) ? x : Number(x))),
        successThreshold: num(optString(p, 'success')), errorThreshold: num(optString(p, 'errors')), maxInFlight: num(optString(p, 'max-in-flight')),
        window: wm ? { start: wm[1], end: wm[2], ...(wm[3] ? { tz: wm[3] } : {}) } : undefined,
        jobTimeoutS: num(optString(p, 'job-timeout')),
        ...(p.opts.shuffle ? { shuffle: true } : {}),
      };
      const r = await api.request<{ campaignId: string }>('POST', '/api/campaigns', body);
      process.stdout.write(r.campaignId + '\n');
      return 0;
    }
    if (sub === 'list') {
      const r = await api.request<{ campaigns: View[] }>('GET', '/api/campaigns');
      for (const c of r.campaigns) process.stdout.write(line(c) + '\n');
      return 0;
    }
    const path = '/api/campaigns/' + encodeURIComponent(id);
    if (sub === 'show') { process.stdout.write(JSON.stringify(await api.request('GET', path), null, 2) + '\n'); return 0; }
    if (sub === 'pause' || sub === 'resume' || sub === 'cancel') {
      const r = await api.request<{ state: string }>('POST', `${path}/${sub}`);
      process.stdout.write(`${id} ${r.state}\n`);
      return 0;
    }
    const t = optString(p, 'timeout');
    const limit = (t && /^[0-9]+$/.test(t) ? Number(t) : 3600) * 1000;
    const t0 = Date.now();
    let last = '';
    for (;;) {
      const c = await api.request<View>('GET', path);
      const l = line(c);
      if (l !== last) { process.stdout.write(l + '\n'); last = l; }
      if (c.state !== 'running') return c.state === 'completed' && !c.counts.failed ? 0 : 1;
      if (Date.now() - t0 > limit) { process.stderr.write(`scomo campaign: still running after ${limit / 1000} s\n`); return 1; }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } catch (e) {
    if (e instanceof ApiError) { process.stderr.write(`scomo campaign: ${e.message}\n`); return 1; }
    throw e;
  }
}
