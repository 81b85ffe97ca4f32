// The campaign engine: rolls one operation out over a resolved target set, wave by wave, through
// the SCOMO job engine (ScomoJobs.createJob), and follows the jobs through its 'job' events plus
// a slow poll of the job store (which also catches jobs moved on by another server process, and
// opens maintenance windows).
//
// Rules (docs/api.md "Campaigns"):
//  - a wave's jobs are created when the wave starts; the next wave starts when the share of the
//    current wave that succeeded reaches successThreshold;
//  - the campaign pauses when failed / finished (jobs finished since the last resume) reaches
//    errorThreshold, or when a wave finished below successThreshold; paused = no new jobs;
//  - with a maintenance window the operation is split: a Download job when the wave starts, the
//    Install (InstallInactive) job of that device once its download succeeded and the window is open;
//  - cancel: no new jobs; accepted alternate downloads of the campaign are cancelled
//    (ScomoJobs.cancel), and downloads still on their way are cancelled once accepted.
// Durability: the campaign record is written before a wave's jobs are created; each job carries
// the campaign id (so a job created just before a crash is adopted, not duplicated); target
// states are flushed in batches and re-read from the job store on start.
import { randomBytes, randomInt } from 'node:crypto';
import type { ScomoJobs } from '../scomo/engine.js';
import type { Job, JobOperation } from '../scomo/types.js';
import { OPERATIONS, isTerminal, parseTimeoutS } from '../scomo/types.js';
import type { Storage } from '../storage/types.js';
import type { Campaign, CampaignState, CampaignStore, CampaignTarget, TargetState } from './types.js';
import { inWindow, parseWindow } from './window.js';

export const MAX_TARGETS = 100_000;
export const MAX_TAGS = 100;
const MAX_ID = 256;
export const DEFAULT_MAX_IN_FLIGHT = 200;
const IN_FLIGHT: ReadonlySet<TargetState> = new Set<TargetState>(['queued', 'notified', 'in-session', 'accepted']);
export const TARGET_STATES: readonly TargetState[] = ['pending', 'queued', 'notified', 'in-session', 'accepted', 'downloaded', 'succeeded', 'failed', 'cancelled'];

export interface CampaignEngineOptions {
  jobs: ScomoJobs;
  store: CampaignStore;
  storage: Storage;
  log?: (line: string) => void;
  /** Clock of the maintenance windows (tests move it). */
  now?: () => number;
  /** Poll of job states and windows, ms (default 2000; 0 = none, call tick()). */
  pollMs?: number;
  /** How long a process's claim on a campaign lasts without renewal, ms (default 10 s). */
  leaseMs?: number;
}

export type CampaignResult<T> = { ok: true; value: T } | { ok: false; status: number; error: string };

interface Live {
  c: Campaign;
  targets: Map<string, CampaignTarget>;
  dirty: Set<string>;
  chain: Promise<void>;
  evalScheduled: boolean;
  /** Another process took the campaign over: this one stops driving it. */
  lost?: boolean;
}

type Counts = Record<TargetState, number>;

function emptyCounts(): Counts {
  const c = {} as Counts;
  for (const s of TARGET_STATES) c[s] = 0;
  return c;
}

function newCampaignId(): string {
  return 'cmp-' + randomBytes(6).toString('hex');
}

function done(s: TargetState): boolean {
  return s === 'succeeded' || s === 'failed' || s === 'cancelled';
}

/** Wave sizes for n targets: integers and "P%" strings in order; the rest forms a last wave. Default 1%, 10%, rest. */
export function splitWaves(n: number, spec: unknown): number[] | string {
  const raw: unknown[] = spec === undefined ? ['1%', '10%'] : (spec as unknown[]);
  if (!Array.isArray(raw) || raw.length > 100) return '"waves" must be a list of at most 100 sizes (integers >= 1, or "P%" strings)';
  const out: number[] = [];
  let left = n;
  for (const w of raw) {
    let size: number;
    if (typeof w === 'number' && Number.isInteger(w) && w >= 1) size = w;
    else if (typeof w === 'string' && /^[0-9]{1,3}(\.[0-9]+)?%$/.test(w) && Number(w.slice(0, -1)) > 0 && Number(w.slice(0, -1)) <= 100) {
      size = Math.max(1, Math.ceil((Number(w.slice(0, -1)) / 100) * n));
    } else return `"waves": ${JSON.stringify(w)} is not a size (integer >= 1 or "P%" with 0 < P <= 100)`;
    size = Math.min(size, left);
    if (size > 0) out.push(size);
    left -= size;
  }
  if (left > 0) out.push(left);
  return out;
}

function threshold(v: unknown, name: string, dflt: number): number | string {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) return `"${name}" must be a number in (0, 1]`;
  return v;
}

function strList(v: unknown, name: string, max: number): string[] | string {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > max || !v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= MAX_ID)) {
    return `"${name}" must be a list of at most ${max} non-empty strings`;
  }
  return v as string[];
}

/** A tag list as stored: 0..100 distinct tags of 1..64 characters [A-Za-z0-9._:-]. */
export function validTags(v: unknown): string[] | string {
  if (!Array.isArray(v) || v.length > MAX_TAGS) return `"tags" must be a list of at most ${MAX_TAGS} tags`;
  for (const t of v) if (typeof t !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(t)) return `tag ${JSON.stringify(t)} must be 1..64 characters of A-Z a-z 0-9 . _ : -`;
  return [...new Set(v as string[])].sort();
}

export class CampaignEngine {
  now: () => number;
  private readonly o: CampaignEngineOptions;
  private readonly log: (line: string) => void;
  private readonly live = new Map<string, Live>();
  /** jobId -> campaignId of the jobs the live campaigns follow. */
  private readonly jobIndex = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly refreshing = new Set<string>();
  private readonly refreshTries = new Map<string, number>();
  private closed = false;
  /** This engine's identity in campaign leases. */
  readonly owner = randomBytes(6).toString('hex');
  private readonly leaseMs: number;
  private readonly onJobEvent = (j: Job): void => { this.onJob(j); };

  constructor(o: CampaignEngineOptions) {
    this.o = o;
    this.log = o.log ?? (() => {});
    this.now = o.now ?? Date.now;
    this.leaseMs = o.leaseMs ?? 10_000;
  }

  /** Loads running and paused campaigns, re-reads their jobs, and carries on. */
  async start(): Promise<void> {
    this.o.jobs.on('job', this.onJobEvent);
    await this.takeOrphans();
    const every = this.o.pollMs ?? 2000;
    if (every > 0) {
      this.timer = setInterval(() => { void this.tick(); }, every);
      this.timer.unref();
    }
  }

  /** Stops; `handOver` (default) releases the leases so another process takes over at once. */
  close(handOver = true): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.o.jobs.off('job', this.onJobEvent);
    // A clean stop hands the campaigns over at once (a crash: when the lease runs out).
    if (handOver) for (const l of this.live.values()) {
      if (l.lost) continue;
      const { lease: _l, ...c } = l.c;
      this.o.store.putCampaign(c).catch(() => { /* store already closed: the lease runs out */ });
    }
  }

  /** Running and paused campaigns nobody drives (no lease, or it ran out): load, re-read, carry on. */
  private async takeOrphans(): Promise<void> {
    const now = Date.now();
    for (const c of await this.o.store.listCampaigns({ activeOnly: true, limit: 100_000 })) {
      if (this.live.has(c.campaignId) || this.closed) continue;
      if (c.lease && c.lease.owner !== this.owner && c.lease.until > now) continue;
      const l = await this.load(c);
      this.log(`campaign ${c.campaignId}: driven by this process from now on`);
      await this.recover(l);
      await this.enqueue(l, () => this.saveCampaign(l));
      this.schedule(l);
    }
  }

  /** Waits until every campaign's pending work (evaluation, flush) is done. */
  async settle(): Promise<void> {
    for (const l of this.live.values()) await l.chain;
  }

  private async load(c: Campaign): Promise<Live> {
    const l: Live = { c, targets: new Map(), dirty: new Set(), chain: Promise.resolve(), evalScheduled: false };
    for (const t of await this.o.store.listTargets(c.campaignId)) {
      l.targets.set(t.deviceId, t);
      if (t.jobId) this.jobIndex.set(t.jobId, c.campaignId);
    }
    this.live.set(c.campaignId, l);
    return l;
  }

  /** After a restart: adopt jobs created just before the crash, then re-read every job's state. */
  private async recover(l: Live): Promise<void> {
    for (const t of l.targets.values()) {
      if (t.wave > l.c.currentWave || done(t.state)) continue;
      const want = this.jobOperation(l.c, t);
      if (!t.jobId || (want !== l.c.operation && t.jobId === t.downloadJobId && t.state === 'downloaded')) {
        const recent = await this.o.jobs.listJobs(t.deviceId, 20);
        const mine = recent.find((j) => j.campaignId === l.c.campaignId && j.operation === want && j.jobId !== t.downloadJobId);
        if (mine) this.follow(l, t, mine);
      }
      if (t.jobId) {
        const j = await this.o.jobs.getJob(t.jobId);
        if (j) this.apply(l, t, j);
      }
    }
  }

  // ---- API ----

  async create(body: Record<string, unknown>): Promise<CampaignResult<Campaign>> {
    const bad = (error: string): CampaignResult<Campaign> => ({ ok: false, status: 400, error });
    const op = body.operation;
    if (typeof op !== 'string' || !(OPERATIONS as readonly string[]).includes(op)) return bad(`"operation" must be one of ${OPERATIONS.join(', ')}`);
    const target = body.target;
    if (target === null || typeof target !== 'object' || Array.isArray(target)) return bad('"target" must be an object { "devices"?: [...], "tags"?: [...] }');
    const tg = target as Record<string, unknown>;
    for (const k of Object.keys(tg)) if (k !== 'devices' && k !== 'tags') return bad(`"target.${k}" is not known (use devices, tags)`);
    const devs = strList(tg.devices, 'target.devices', MAX_TARGETS);
    if (typeof devs === 'string') return bad(devs);
    const tags = strList(tg.tags, 'target.tags', MAX_TAGS);
    if (typeof tags === 'string') return bad(tags);
    if (!devs.length && !tags.length) return bad('"target" needs "devices" or "tags"');
    const succ = threshold(body.successThreshold, 'successThreshold', 0.9);
    if (typeof succ === 'string') return bad(succ);
    const err = threshold(body.errorThreshold, 'errorThreshold', 0.2);
    if (typeof err === 'string') return bad(err);
    const mif = body.maxInFlight;
    if (mif !== undefined && !(typeof mif === 'number' && Number.isInteger(mif) && mif >= 1 && mif <= MAX_TARGETS)) return bad(`"maxInFlight" must be an integer 1..${MAX_TARGETS}`);
    const jobTimeoutS = parseTimeoutS(body.jobTimeoutS, 'jobTimeoutS');
    if (typeof jobTimeoutS === 'object') return bad(jobTimeoutS.error);
    if (body.shuffle !== undefined && typeof body.shuffle !== 'boolean') return bad('"shuffle" must be true or false');
    let window: Campaign['window'];
    if (body.window !== undefined && body.window !== null) {
      const w = parseWindow(body.window);
      if (typeof w === 'string') return bad(w);
      if (op !== 'DownloadInstall' && op !== 'DownloadInstallInactive') return bad('a "window" needs operation DownloadInstall or DownloadInstallInactive (download now, install inside the window)');
      if (body.delivery !== undefined && body.delivery !== 'alternate') return bad('a "window" needs "delivery": "alternate"');
      window = w;
    }
    // Resolve the target set now: later tag changes do not move a running campaign.
    const seen = new Set<string>();
    const ids: string[] = [];
    for (const d of devs) if (!seen.has(d)) { seen.add(d); ids.push(d); }
    for (const d of await this.o.store.devicesWithAnyTag(tags)) if (!seen.has(d)) { seen.add(d); ids.push(d); }
    if (!ids.length) return bad('the target resolves to no device');
    if (ids.length > MAX_TARGETS) return bad(`the target resolves to ${ids.length} devices; at most ${MAX_TARGETS}`);
    const input = { operation: op, pkgId: body.pkgId, componentId: body.componentId, delivery: body.delivery };
    const v = await this.o.jobs.validate(ids[0], input);
    if (!v.ok) return bad(v.error);
    const unknown: string[] = [];
    for (const d of ids) if (!(await this.o.storage.getAccount(d))) unknown.push(d);
    if (unknown.length) return bad(`unknown device${unknown.length > 1 ? 's' : ''} ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ` (and ${unknown.length - 10} more)` : ''}`);
    const waves = splitWaves(ids.length, body.waves);
    if (typeof waves === 'string') return bad(waves);
    if (body.shuffle === true) shuffleInPlace(ids);
    const now = Date.now();
    const c: Campaign = {
      campaignId: newCampaignId(), operation: v.operation, delivery: v.delivery,
      target: { ...(devs.length ? { devices: devs } : {}), ...(tags.length ? { tags } : {}) },
      waves, successThreshold: succ, errorThreshold: err, state: 'running', currentWave: -1,
      errorBaseline: { failed: 0, finished: 0 }, createdAt: now, updatedAt: now, history: [{ state: 'running', at: now }],
    };
    if (v.pkgId) c.pkgId = v.pkgId;
    if (v.componentId) c.componentId = v.componentId;
    if (window) c.window = window;
    if (typeof mif === 'number') c.maxInFlight = mif;
    if (jobTimeoutS !== undefined) c.jobTimeoutS = jobTimeoutS;
    if (body.shuffle === true) c.shuffle = true;
    const targets: CampaignTarget[] = [];
    let w = 0, inWave = 0;
    for (const d of ids) {
      if (inWave === waves[w]) { w++; inWave = 0; }
      targets.push({ deviceId: d, wave: w, state: 'pending', updatedAt: now });
      inWave++;
    }
    c.lease = { owner: this.owner, until: now + this.leaseMs };
    await this.o.store.putTargets(c.campaignId, targets);
    await this.o.store.putCampaign(c);
    const l: Live = { c, targets: new Map(targets.map((t) => [t.deviceId, t])), dirty: new Set(), chain: Promise.resolve(), evalScheduled: false };
    this.live.set(c.campaignId, l);
    this.log(`campaign ${c.campaignId}: ${c.operation} ${c.pkgId ?? c.componentId ?? ''} to ${ids.length} devices in ${waves.length} waves (${waves.join(', ')})`);
    this.run(l, () => this.startWave(l, 0));
    return { ok: true, value: c };
  }

  async get(campaignId: string, withTargets = false): Promise<Record<string, unknown> | undefined> {
    if (typeof campaignId !== 'string' || campaignId.length > MAX_ID) return undefined;
    const l = this.live.get(campaignId);
    if (l) return this.view(l.c, [...l.targets.values()], withTargets);
    const c = await this.o.store.getCampaign(campaignId);
    if (!c) return undefined;
    const targets = await this.o.store.listTargets(campaignId);
    // Finished campaigns may still have jobs in flight (a cancel does not recall them): show their state.
    for (const t of targets) {
      if (t.jobId && !done(t.state) && t.state !== 'downloaded') {
        const j = await this.o.jobs.getJob(t.jobId);
        if (j) t.state = j.state;
      }
    }
    return this.view(c, targets, withTargets);
  }

  async list(limit = 100): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (const c of await this.o.store.listCampaigns({ limit })) {
      const l = this.live.get(c.campaignId);
      const v = l ? this.view(l.c, [...l.targets.values()], false) : this.view(c, await this.o.store.listTargets(c.campaignId), false);
      delete v.waveStats;
      delete v.history;
      out.push(v);
    }
    return out;
  }

  pause(campaignId: string): Promise<CampaignResult<Campaign>> {
    return this.control(campaignId, (l) => {
      if (l.c.state !== 'running') return `campaign is ${l.c.state}`;
      this.setState(l, 'paused', 'paused by the operator');
      return undefined;
    });
  }

  resume(campaignId: string): Promise<CampaignResult<Campaign>> {
    return this.control(campaignId, (l) => {
      if (l.c.state !== 'paused') return `campaign is ${l.c.state}`;
      const k = this.counts(l, undefined);
      // Failures the operator has seen do not count again; a finished wave the operator accepted proceeds.
      l.c.errorBaseline = { failed: k.failed, finished: k.failed + k.succeeded };
      const wave = [...l.targets.values()].filter((t) => t.wave === l.c.currentWave);
      if (wave.every((t) => done(t.state))) l.c.approvedWave = l.c.currentWave;
      this.setState(l, 'running');
      return undefined;
    });
  }

  cancel(campaignId: string): Promise<CampaignResult<Campaign>> {
    return this.control(campaignId, (l) => {
      if (l.c.state !== 'running' && l.c.state !== 'paused') return `campaign is ${l.c.state}`;
      this.setState(l, 'cancelled', 'cancelled by the operator');
      this.cancelTargets(l);
      return undefined;
    }, async (l) => {
      for (const t of l.targets.values()) if (t.state === 'accepted') await this.cancelDownload(l, t);
    });
  }

  /** Re-reads job states, opens windows, and re-evaluates every live campaign. */
  async tick(): Promise<void> {
    if (this.closed) return;
    await this.takeOrphans().catch((e: unknown) => this.log('campaign take-over failed: ' + String(e)));
    for (const l of [...this.live.values()]) {
      await this.enqueue(l, async () => {
        await this.adoptExternal(l);
        if (l.lost) return;
        if (!l.c.lease || l.c.lease.until - Date.now() < this.leaseMs / 2) await this.saveCampaign(l);
        for (const t of l.targets.values()) {
          if (!t.jobId || done(t.state) || t.state === 'downloaded') continue;
          const j = await this.o.jobs.getJob(t.jobId);
          if (j && j.state !== t.state) this.apply(l, t, j);
        }
        await this.evaluate(l);
      });
    }
  }

  // ---- internals ----

  private async control(campaignId: string, change: (l: Live) => string | undefined, after?: (l: Live) => Promise<void>): Promise<CampaignResult<Campaign>> {
    if (typeof campaignId !== 'string' || campaignId.length > MAX_ID) return { ok: false, status: 404, error: `no campaign ${campaignId}` };
    const l = this.live.get(campaignId);
    if (!l) {
      const c = await this.o.store.getCampaign(campaignId);
      if (!c) return { ok: false, status: 404, error: `no campaign ${campaignId}` };
      if (c.state !== 'running' && c.state !== 'paused') return { ok: false, status: 409, error: `campaign is ${c.state}` };
      // Driven by another server process on the same store: change the record; its owner adopts
      // the change at its next poll (adoptExternal).
      const remote: Live = { c, targets: new Map(), dirty: new Set(), chain: Promise.resolve(), evalScheduled: false };
      for (const t of await this.o.store.listTargets(campaignId)) {
        if (t.jobId && !done(t.state) && t.state !== 'downloaded') {
          const j = await this.o.jobs.getJob(t.jobId);
          if (j && !(c.window && j.jobId === t.downloadJobId && j.state === 'succeeded')) t.state = j.state;
        }
        remote.targets.set(t.deviceId, t);
      }
      const refused = change(remote);
      if (refused) return { ok: false, status: 409, error: refused };
      await this.flush(remote);
      await this.o.store.putCampaign(c);
      if (after) await after(remote);
      return { ok: true, value: c };
    }
    // The state changes at once (a wave being created checks it before every job); the rest queues.
    const refused = change(l);
    if (refused) return { ok: false, status: 409, error: refused };
    await this.enqueue(l, async () => {
      await this.flush(l);
      if (after) await after(l);
      await this.evaluate(l);
    });
    return { ok: true, value: l.c };
  }

  private setState(l: Live, state: CampaignState, reason?: string): void {
    const now = Date.now();
    l.c.state = state;
    if (reason) l.c.reason = reason; else delete l.c.reason;
    l.c.updatedAt = now;
    if (state === 'completed' || state === 'cancelled') l.c.finishedAt = now;
    l.c.history.push({ state, at: now, ...(reason ? { reason } : {}) });
    this.log(`campaign ${l.c.campaignId}: ${state}${reason ? ' (' + reason + ')' : ''}`);
  }

  private enqueue(l: Live, fn: () => Promise<void>): Promise<void> {
    const p = l.chain.then(fn).catch((e: unknown) => this.log(`campaign ${l.c.campaignId}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`));
    l.chain = p;
    return p;
  }

  private run(l: Live, fn: () => Promise<void>): void {
    void this.enqueue(l, fn);
  }

  /** Evaluation at most every 100 ms, however many job events arrive (it walks every target). */
  private schedule(l: Live): void {
    if (l.evalScheduled || this.closed) return;
    l.evalScheduled = true;
    setTimeout(() => {
      l.evalScheduled = false;
      this.run(l, () => this.evaluate(l));
    }, 100);
  }

  private jobOperation(c: Campaign, t: CampaignTarget): JobOperation {
    if (!c.window) return c.operation;
    // Download first; the install of a delivered package is its own job, inside the window.
    if (t.state === 'downloaded' || (t.downloadJobId && t.jobId !== t.downloadJobId)) return c.operation === 'DownloadInstall' ? 'Install' : 'InstallInactive';
    return 'Download';
  }

  private follow(l: Live, t: CampaignTarget, j: Job): void {
    t.jobId = j.jobId;
    if (l.c.window && j.operation === 'Download') t.downloadJobId = j.jobId;
    this.jobIndex.set(j.jobId, l.c.campaignId);
    this.apply(l, t, j);
  }

  /** A job of a target moved: the target follows it (a window campaign's download ends in 'downloaded'). */
  private apply(l: Live, t: CampaignTarget, j: Job): void {
    if (t.jobId !== j.jobId) return;
    let s: TargetState = j.state;
    if (l.c.window && j.jobId === t.downloadJobId && j.state === 'succeeded') s = l.c.state === 'cancelled' ? 'cancelled' : 'downloaded';
    if (t.state === s) return;
    t.state = s;
    t.updatedAt = Date.now();
    if (j.error !== undefined) t.error = j.error; else delete t.error;
    if (j.resultCode !== undefined) t.resultCode = j.resultCode;
    l.dirty.add(t.deviceId);
    if (l.c.state === 'cancelled' && s === 'accepted') this.run(l, () => this.cancelDownload(l, t));
    this.schedule(l);
  }

  private onJob(j: Job): void {
    const cid = this.jobIndex.get(j.jobId);
    if (!cid) return;
    const l = this.live.get(cid);
    const t = l?.targets.get(j.deviceId);
    if (l && t) this.apply(l, t, j);
  }

  private async cancelDownload(l: Live, t: CampaignTarget): Promise<void> {
    if (!t.jobId || t.state !== 'accepted') return;
    const j = await this.o.jobs.getJob(t.jobId);
    if (!j || !j.operation.startsWith('Download') || j.delivery !== 'alternate') return;
    const r = await this.o.jobs.cancel(t.jobId);
    if (!r.ok) this.log(`campaign ${l.c.campaignId}: cancel of ${t.jobId} refused: ${r.error}`);
  }

  private async flush(l: Live): Promise<void> {
    // After close() the store may be gone; what is not flushed is re-read from the jobs at the next start.
    if (!l.dirty.size || this.closed) return;
    const rows: CampaignTarget[] = [];
    for (const d of l.dirty) { const t = l.targets.get(d); if (t) rows.push({ ...t }); }
    l.dirty.clear();
    await this.o.store.putTargets(l.c.campaignId, rows);
  }

  private async saveCampaign(l: Live): Promise<void> {
    if (this.closed || l.lost) return;
    await this.adoptExternal(l);
    if (l.lost) return;
    l.c.updatedAt = Date.now();
    l.c.lease = { owner: this.owner, until: l.c.updatedAt + this.leaseMs };
    await this.o.store.putCampaign(l.c);
  }

  private cancelTargets(l: Live): void {
    for (const t of l.targets.values()) {
      if (t.state === 'pending' || t.state === 'downloaded') { t.state = 'cancelled'; t.updatedAt = Date.now(); l.dirty.add(t.deviceId); }
    }
  }

  /**
   * Pause / resume / cancel sent to another server process sharing the store: that process wrote
   * the record (newer updatedAt, another state); this one, which drives the campaign, takes it over.
   */
  private async adoptExternal(l: Live): Promise<void> {
    const s = await this.o.store.getCampaign(l.c.campaignId);
    if (!s || s.updatedAt <= l.c.updatedAt) return;
    if (s.lease && s.lease.owner !== this.owner && s.lease.until > Date.now()) {
      // Our lease ran out (this process stalled) and another one took over: stop driving.
      l.lost = true;
      this.log(`campaign ${s.campaignId}: taken over by another process`);
      this.forget(l);
      return;
    }
    if (s.state === l.c.state) return;
    const c = l.c;
    c.state = s.state;
    if (s.reason) c.reason = s.reason; else delete c.reason;
    c.errorBaseline = s.errorBaseline;
    if (s.approvedWave !== undefined) c.approvedWave = s.approvedWave;
    if (s.finishedAt !== undefined) c.finishedAt = s.finishedAt;
    c.history = s.history;
    c.updatedAt = s.updatedAt;
    this.log(`campaign ${c.campaignId}: ${c.state} (changed through another server process)`);
    if (c.state === 'cancelled') {
      this.cancelTargets(l);
      for (const t of l.targets.values()) if (t.state === 'accepted') await this.cancelDownload(l, t);
    }
  }

  private counts(l: Live, wave: number | undefined): Counts {
    const k = emptyCounts();
    for (const t of l.targets.values()) if (wave === undefined || t.wave === wave) k[t.state]++;
    return k;
  }

  private async startWave(l: Live, wave: number): Promise<void> {
    if (l.c.state !== 'running' || wave >= l.c.waves.length) return;
    l.c.currentWave = wave;
    l.c.history.push({ state: 'wave', at: Date.now(), wave: wave + 1 });
    await this.saveCampaign(l);
    this.log(`campaign ${l.c.campaignId}: wave ${wave + 1} of ${l.c.waves.length} (${l.c.waves[wave]} devices)`);
    await this.fill(l);
  }

  /**
   * Creates the jobs not yet created for targets of started waves (while running), keeping at
   * most `maxInFlight` of the campaign's jobs unfinished: a rollout should not wake a whole wave
   * of a big fleet at the same instant, and the server's per-device work grows with open jobs.
   */
  private async fill(l: Live): Promise<void> {
    let inFlight = 0;
    for (const t of l.targets.values()) if (t.jobId && IN_FLIGHT.has(t.state)) inFlight++;
    const cap = l.c.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    for (const t of l.targets.values()) {
      if (l.c.state !== 'running' || this.closed || l.lost || inFlight >= cap) return;
      if (t.wave > l.c.currentWave) continue;
      if (t.state === 'pending') { await this.createJob(l, t, this.jobOperation(l.c, t)); inFlight++; }
      else if (t.state === 'downloaded' && l.c.window && inWindow(l.c.window, this.now())) { if (await this.createInstall(l, t)) inFlight++; }
    }
  }

  private async createJob(l: Live, t: CampaignTarget, operation: JobOperation): Promise<void> {
    const input = { operation, pkgId: l.c.pkgId, componentId: l.c.componentId, delivery: l.c.delivery, timeoutS: l.c.jobTimeoutS };
    const r = await this.o.jobs.createJob(t.deviceId, input, 'api', { campaignId: l.c.campaignId });
    if (!r.ok) {
      // E.g. the package was deleted or the account removed since the campaign was created.
      t.state = 'failed';
      t.error = r.error;
      t.updatedAt = Date.now();
      l.dirty.add(t.deviceId);
      this.schedule(l);
      return;
    }
    this.follow(l, t, r.job);
    l.dirty.add(t.deviceId);
  }

  private async createInstall(l: Live, t: CampaignTarget): Promise<boolean> {
    // The Install job runs on the delivered package, which the job engine finds in its inventory
    // snapshot; the refresh taken after the download may still be on its way: ask for it (in
    // parallel, coalesced by the job engine) and come back when it arrived.
    const inv = await this.o.jobs.store.getInventory(t.deviceId);
    const tries = this.refreshTries.get(t.deviceId) ?? 0;
    // After a few refreshes without it the job engine decides (it delivers over DM when the package is gone).
    if (tries < 3 && (!inv || !inv.delivered.some((d) => d.pkgId === l.c.pkgId && d.state === 'delivered'))) {
      if (this.refreshing.has(t.deviceId)) return false;
      this.refreshing.add(t.deviceId);
      this.refreshTries.set(t.deviceId, tries + 1);
      this.o.jobs.refreshInventory(t.deviceId)
        .catch((e: unknown) => this.log(`[${t.deviceId}] inventory refresh failed: ${String(e)}`))
        .finally(() => { this.refreshing.delete(t.deviceId); this.schedule(l); });
      return false;
    }
    this.refreshTries.delete(t.deviceId);
    await this.createJob(l, t, l.c.operation === 'DownloadInstall' ? 'Install' : 'InstallInactive');
    return true;
  }

  private async evaluate(l: Live): Promise<void> {
    if (l.lost) return;
    await this.flush(l);
    const c = l.c;
    if (c.state !== 'running') {
      if (c.state === 'paused') await this.saveCampaign(l);
      if (c.state === 'cancelled' || c.state === 'completed') {
        await this.saveCampaign(l);
        // Nothing left to follow: the record in the store is the campaign from now on.
        if ([...l.targets.values()].every((t) => done(t.state))) this.forget(l);
      }
      return;
    }
    const all = this.counts(l, undefined);
    const failed = all.failed - c.errorBaseline.failed;
    const finished = all.failed + all.succeeded - c.errorBaseline.finished;
    if (finished > 0 && failed / finished >= c.errorThreshold) {
      this.setState(l, 'paused', `error threshold reached: ${failed} of ${finished} finished jobs failed (errorThreshold ${c.errorThreshold})`);
      await this.saveCampaign(l);
      return;
    }
    await this.fill(l);
    if (c.state !== 'running') { await this.saveCampaign(l); return; }
    await this.flush(l);
    const w = c.currentWave;
    const k = this.counts(l, w);
    const size = c.waves[w];
    const waveDone = k.succeeded + k.failed + k.cancelled >= size;
    const approved = c.approvedWave === w;
    if (w < c.waves.length - 1) {
      if (k.succeeded / size >= c.successThreshold || (approved && waveDone)) await this.startWave(l, w + 1);
      else if (waveDone) {
        this.setState(l, 'paused', `wave ${w + 1} finished with ${k.succeeded} of ${size} succeeded, below successThreshold ${c.successThreshold}`);
        await this.saveCampaign(l);
      }
      return;
    }
    if ([...l.targets.values()].every((t) => done(t.state))) {
      this.setState(l, 'completed', `${all.succeeded} succeeded, ${all.failed} failed`);
      await this.saveCampaign(l);
      this.forget(l);
    }
  }

  private forget(l: Live): void {
    this.live.delete(l.c.campaignId);
    for (const t of l.targets.values()) {
      if (t.jobId) this.jobIndex.delete(t.jobId);
      if (t.downloadJobId) this.jobIndex.delete(t.downloadJobId);
    }
  }

  private view(c: Campaign, targets: CampaignTarget[], withTargets: boolean): Record<string, unknown> {
    const counts = emptyCounts();
    const per = c.waves.map(() => emptyCounts());
    for (const t of targets) { counts[t.state]++; if (per[t.wave]) per[t.wave][t.state]++; }
    const v: Record<string, unknown> = {
      campaignId: c.campaignId, state: c.state, ...(c.reason ? { reason: c.reason } : {}),
      operation: c.operation, ...(c.pkgId ? { pkgId: c.pkgId } : {}), ...(c.componentId ? { componentId: c.componentId } : {}),
      delivery: c.delivery, target: c.target, devices: targets.length,
      waves: c.waves, currentWave: c.currentWave + 1,
      successThreshold: c.successThreshold, errorThreshold: c.errorThreshold, maxInFlight: c.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
      ...(c.window ? { window: c.window } : {}),
      ...(c.jobTimeoutS !== undefined ? { jobTimeoutS: c.jobTimeoutS } : {}),
      ...(c.shuffle ? { shuffle: true } : {}),
      counts,
      waveStats: c.waves.map((size, i) => ({ wave: i + 1, size, started: i <= c.currentWave, counts: per[i] })),
      createdAt: new Date(c.createdAt).toISOString(), updatedAt: new Date(c.updatedAt).toISOString(),
      ...(c.finishedAt ? { finishedAt: new Date(c.finishedAt).toISOString() } : {}),
      history: c.history.map((h) => ({ ...h, at: new Date(h.at).toISOString() })),
    };
    if (withTargets) {
      v.targets = targets.map((t) => ({
        deviceId: t.deviceId, wave: t.wave + 1, state: t.state, ...(t.jobId ? { jobId: t.jobId } : {}),
        ...(t.downloadJobId && t.downloadJobId !== t.jobId ? { downloadJobId: t.downloadJobId } : {}),
        ...(t.error ? { error: t.error } : {}), ...(t.resultCode !== undefined ? { resultCode: t.resultCode } : {}),
      }));
    }
    return v;
  }
}

/** Fisher-Yates with a CSPRNG: every order equally likely, so no device is always in the first wave. */
function shuffleInPlace<T>(a: T[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    const x = a[i];
    a[i] = a[j];
    a[j] = x;
  }
}
