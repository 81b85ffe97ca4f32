// The SCOMO job engine on top of the DM server: turns API jobs into queued DM commands, wakes
// the device with package 0, follows the command outcomes and the final Generic Alerts
// (de-duplicated by correlator) to succeeded/failed, discovers the SCOMO root by its MO type,
// keeps an inventory snapshot per device, and answers device-initiated component requests
// (flow alternative 1) with a DownloadInstall job. Jobs may carry a deadline (timeoutS): a
// periodic sweep fails the unfinished ones past it (docs/api.md "Job deadlines").
//
// Durability: every job change is written to the job store before anything else happens; queue
// entries carry the job id as their tag; alerts are read from the DM storage by id with a
// persisted cursor. After a restart `start()` finds each unfinished job's entry again (or plans
// it), re-awaits it, and consumes the alerts that arrived while the engine was down.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { Command } from '../../codec/model.js';
import type { DmServer } from '../dm/server.js';
import type { CommandOutcome, QueueEntry, ReceivedAlert, Storage } from '../storage/types.js';
import type { PackageStore } from '../repo/package-store.js';
import type { PackageMeta } from '../repo/meta-store.js';
import type { JobStore } from './job-store.js';
import { DISCOVERY_URI, PackageRef, alternateDownload, dmDelivery, execCmd, getCmd, inventoryUri, isOptionalCommand, jobNodeName } from './plan.js';
import { DEFAULT_ROOT, findScomoRoot, isSuccessCode, parseComponentRequest, parseInventory, parseOperationComplete, OperationComplete } from './parse.js';
import { Delivery, Inventory, Job, JobOperation, JobOrigin, JobState, OPERATIONS, isTerminal, parseTimeoutS, stateRank, timeoutError } from './types.js';

export interface ScomoJobsOptions {
  dm: DmServer;
  storage: Storage;
  jobs: JobStore;
  packages: PackageStore;
  /** Sends package 0 to the device (rejects when no address is known). */
  notify(deviceId: string): Promise<unknown>;
  /** The URL a device downloads a package from (alternate download). */
  packageUrl(pkgId: string): string;
  log?: (line: string) => void;
  /** Timeout (s) of jobs created without `timeoutS`; undefined: no deadline. */
  defaultJobTimeoutS?: number;
  /** Period of the sweep (deadlines; on a shared store also orphaned jobs and missed alerts), ms. Default 1000. */
  sweepMs?: number;
}

export interface JobInput {
  operation?: unknown;
  pkgId?: unknown;
  componentId?: unknown;
  delivery?: unknown;
  /** Seconds until the job fails if it has no outcome by then (integer 1..30 days). */
  timeoutS?: unknown;
}

export interface ValidJob {
  ok: true;
  operation: JobOperation;
  delivery: Delivery;
  pkgId?: string;
  componentId?: string;
  timeoutS?: number;
}

export type CreateResult = { ok: true; job: Job } | { ok: false; error: string };

export interface ScomoJobsEvents {
  job: [Job];
  inventory: [string, Inventory];
}

const DISCOVER_TAG = 'scomo-discover:';
const INVENTORY_TAG = 'scomo-inventory:';
const CANCEL_TAG = 'scomo-cancel:';
const ALERT_CURSOR = 'alert-cursor';
/** Longest wait of a plain inventory read for a refresh already in flight. */
const IN_FLIGHT_WAIT_MS = 5000;
const IN_FLIGHT_FRESH_MS = 30_000;
const MAX_ID = 256;
/** How often a process looks for jobs past their deadline (and, on a shared store, jobs of a dead process and missed alerts). */
const SWEEP_MS = 1000;
/** Jobs timed out per sweep at most (the rest in the next ones). */
const EXPIRE_BATCH = 500;

function newJobId(): string {
  return 'job-' + randomBytes(6).toString('hex');
}

function okStatus(cmd: string, status: number): boolean {
  if (status >= 200 && status <= 299) return true;
  // A re-sent Add (entry re-queued after a restart) finds its node already there.
  return cmd === 'Add' && status === 418;
}

export class ScomoJobs extends EventEmitter<ScomoJobsEvents> {
  private readonly o: ScomoJobsOptions;
  private readonly log: (line: string) => void;
  private readonly running = new Set<string>();
  /** Jobs between their last check before queueing and saving the entry id: the sweep waits for them. */
  private readonly queueing = new Set<string>();
  /** Jobs withdrawAndFail is failing: their withdrawn entry (status 514) is not the device's refusal. */
  private readonly failing = new Set<string>();
  private readonly rootWaits = new Map<string, Promise<string>>();
  private readonly invWaits = new Map<string, Promise<Inventory | undefined>>();
  /** When a job outcome last started an inventory refresh, per device. */
  private readonly invStarted = new Map<string, number>();
  private readonly notifying = new Map<string, Promise<NotifyOutcome>>();
  private alertChain: Promise<void> = Promise.resolve();
  private readonly progressOf = new Map<string, { done: number; total: number }>();
  private closed = false;
  private readonly unsubscribers: Array<() => void> = [];
  private sweep: NodeJS.Timeout | undefined;

  constructor(opts: ScomoJobsOptions) {
    super();
    this.o = opts;
    this.log = opts.log ?? (() => {});
  }

  get store(): JobStore {
    return this.o.jobs;
  }

  /** Subscribes to the DM server and resumes what a previous run left unfinished. */
  async start(): Promise<void> {
    const dm = this.o.dm;
    // Alerts are read back from storage in id order (consumeAlerts), so the event is only a nudge.
    const onAlert = (): void => { this.queueAlertWork(); };
    const onDone = (e: QueueEntry): void => { this.onEntryDone(e); };
    const onSession = (s: { deviceId: string }): void => { this.onSessionStart(s.deviceId); };
    dm.on('alert', onAlert);
    dm.on('command-done', onDone);
    dm.on('session-start', onSession);
    this.unsubscribers.push(() => dm.off('alert', onAlert), () => dm.off('command-done', onDone), () => dm.off('session-start', onSession));
    if ((await this.o.jobs.getKv(ALERT_CURSOR)) === undefined) {
      // A fresh job store next to an old DM store: alerts received before it are not ours.
      const all = await this.o.storage.listAlerts();
      await this.o.jobs.setKv(ALERT_CURSOR, String(all.length ? all[all.length - 1].id : 0));
    }
    this.queueAlertWork();
    await this.alertChain;
    await this.resumeOrphans();
    if (this.o.jobs.shared) {
      // Other processes share the store: another's job events, and the jobs of a process that
      // died (its owner lock is gone), and alerts whose nudge was lost.
      const storage = this.o.storage;
      if (storage.subscribe) {
        const off = storage.subscribe((e) => {
          if (e.type !== 'job' || typeof e.id !== 'string' || this.closed) return;
          void Promise.resolve(this.o.jobs.getJob(e.id)).then((j) => { if (j && !this.closed) this.emit('job', j); }, () => {});
        });
        this.unsubscribers.push(off);
      }
    }
    this.sweep = setInterval(() => {
      if (this.closed) return;
      if (this.o.jobs.shared) {
        this.queueAlertWork();
        this.resumeOrphans().catch((e: unknown) => this.log('taking over jobs failed: ' + String(e)));
      }
      this.queueExpiry();
    }, this.o.sweepMs ?? SWEEP_MS);
    this.sweep.unref();
    // Deadlines that passed while no server ran.
    this.queueExpiry();
  }

  /** Runs the unfinished jobs nobody runs (all of them at start; on a shared store, a dead process's). */
  private async resumeOrphans(): Promise<void> {
    for (const j of await this.o.jobs.takeOrphans()) {
      if (this.closed) return;
      if (this.o.jobs.shared) this.log(`[${j.deviceId}] job ${j.jobId} taken over from a stopped server process`);
      if (j.state === 'accepted') continue; // waits for its final alert only
      void this.run(j.jobId);
      // Its process may have died before the device was woken.
      if (this.o.jobs.shared && (j.state === 'queued' || j.state === 'notified')) void this.kick(j.deviceId);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.sweep) clearInterval(this.sweep);
    for (const off of this.unsubscribers.splice(0)) off();
    // A sweep in flight must not query a store that is closing.
    if (this.expiring) await this.expiring;
    await this.o.jobs.close();
  }

  async getJob(jobId: string): Promise<Job | undefined> {
    if (typeof jobId !== 'string' || jobId.length > MAX_ID) return undefined;
    return this.o.jobs.getJob(jobId);
  }

  async listJobs(deviceId?: string, limit?: number, states?: readonly string[]): Promise<Job[]> {
    return this.o.jobs.listJobs(deviceId, limit, states);
  }

  // ---- creating jobs ----

  /** Validates the request; on success stores the job (state queued), starts it and notifies the device. */
  async createJob(deviceId: string, input: JobInput, origin: JobOrigin = 'api', extra: Partial<Job> = {}): Promise<CreateResult> {
    const v = await this.validate(deviceId, input);
    if (!v.ok) return v;
    const now = Date.now();
    const jobId = newJobId();
    const job: Job = {
      jobId, deviceId, operation: v.operation, delivery: v.delivery, origin, state: 'queued', correlator: jobId,
      createdAt: now, updatedAt: now, history: [{ state: 'queued', at: now }], ...extra,
    };
    if (v.pkgId !== undefined) job.pkgId = v.pkgId;
    if (v.componentId !== undefined) job.componentId = v.componentId;
    const timeoutS = v.timeoutS ?? this.o.defaultJobTimeoutS;
    if (timeoutS !== undefined) { job.timeoutS = timeoutS; job.deadline = now + timeoutS * 1000; }
    await this.o.jobs.putJob(job);
    this.log(`[${deviceId}] job ${jobId} ${job.operation} created (${origin})`);
    this.emit('job', job);
    void this.run(jobId);
    return { ok: true, job };
  }

  /** Validation only (no job is stored): used to check a whole list before creating any job. */
  async validate(deviceId: string, input: JobInput): Promise<ValidJob | { ok: false; error: string }> {
    if (typeof deviceId !== 'string' || !deviceId || deviceId.length > MAX_ID) return { ok: false, error: 'bad device id' };
    if (!(await this.o.storage.getAccount(deviceId))) return { ok: false, error: `unknown device ${deviceId}` };
    if (input === null || typeof input !== 'object') return { ok: false, error: 'body must be a JSON object' };
    const op = input.operation;
    if (typeof op !== 'string' || !(OPERATIONS as readonly string[]).includes(op)) {
      return { ok: false, error: `"operation" must be one of ${OPERATIONS.join(', ')}` };
    }
    const operation = op as JobOperation;
    const delivery = input.delivery === undefined ? 'alternate' : input.delivery;
    if (delivery !== 'alternate' && delivery !== 'dm') return { ok: false, error: '"delivery" must be "alternate" or "dm"' };
    const str = (x: unknown, name: string): string | undefined | { error: string } => {
      if (x === undefined || x === null) return undefined;
      if (typeof x !== 'string' || !x || x.length > MAX_ID) return { error: `"${name}" must be a non-empty string of at most ${MAX_ID} characters` };
      return x;
    };
    const pkgId = str(input.pkgId, 'pkgId');
    if (typeof pkgId === 'object') return { ok: false, error: pkgId.error };
    const componentId = str(input.componentId, 'componentId');
    if (typeof componentId === 'object') return { ok: false, error: componentId.error };
    const needsPkg = operation.startsWith('Download') || operation === 'Install' || operation === 'InstallInactive';
    if (needsPkg && !pkgId) return { ok: false, error: `"pkgId" is required for ${operation}` };
    if ((operation === 'Activate' || operation === 'Deactivate') && !componentId) return { ok: false, error: `"componentId" is required for ${operation}` };
    if (operation === 'Remove' && !componentId && !pkgId) return { ok: false, error: '"componentId" (or "pkgId" of a delivered package) is required for Remove' };
    if (pkgId && needsPkg && !(await this.o.packages.get(pkgId))) return { ok: false, error: `unknown package ${pkgId}` };
    const timeoutS = parseTimeoutS(input.timeoutS, 'timeoutS');
    if (typeof timeoutS === 'object') return { ok: false, error: timeoutS.error };
    const out: ValidJob = { ok: true, operation, delivery };
    if (timeoutS !== undefined) out.timeoutS = timeoutS;
    if (pkgId) out.pkgId = pkgId;
    if (componentId) out.componentId = componentId;
    return out;
  }

  /**
   * Cancels a running alternate download: the server deletes the job's Download/<X> node, which
   * makes the device stop the transfer and report 1450 in the final alert (the job then fails
   * with that code). Other jobs cannot be taken back once queued: DM has no way to recall
   * commands, and a deployed component is changed with another job.
   */
  async cancel(jobId: string): Promise<{ ok: true; job: Job } | { ok: false; status: number; error: string }> {
    const j = await this.getJob(jobId);
    if (!j) return { ok: false, status: 404, error: `no job ${jobId}` };
    if (isTerminal(j.state)) return { ok: false, status: 409, error: `job ${jobId} already ${j.state}` };
    if (!j.operation.startsWith('Download') || j.delivery !== 'alternate' || j.state !== 'accepted' || !j.root) {
      return { ok: false, status: 409, error: `only an accepted alternate download can be cancelled (job ${jobId} is a ${j.operation} over ${j.delivery}, ${j.state})` };
    }
    const node = `${j.root}/Download/${jobNodeName(j)}`;
    await this.o.dm.queueCommands(j.deviceId, [{ kind: 'Delete', cmdID: '0', items: [{ target: { locURI: node } }] }], { tag: CANCEL_TAG + jobId });
    this.log(`[${j.deviceId}] job ${jobId}: cancel requested (Delete ${node})`);
    void this.kick(j.deviceId);
    return { ok: true, job: j };
  }

  /**
   * Alternate download progress, as the repository serves the bytes: a GET of /dl/<pkgId>
   * counts toward the accepted alternate-download jobs of that package (in memory only).
   */
  trackDownload(pkgId: string, res: import('node:http').ServerResponse, rangeHeader: string | undefined, total: number): void {
    // The jobs are looked up while the response already counts its bytes (the store may be async).
    let jobs: Job[] = [];
    const m = /^bytes=([0-9]+)-/.exec(rangeHeader ?? '');
    let done = m ? Number(m[1]) : 0;
    const set = (): void => { for (const j of jobs) this.progressOf.set(j.jobId, { done: Math.min(done, total), total }); };
    const found = (all: Job[]): void => {
      jobs = all.filter((j) => j.pkgId === pkgId && j.delivery === 'alternate' && j.state === 'accepted');
      set();
    };
    const all = this.o.jobs.activeJobs();
    if (Array.isArray(all)) found(all); else all.then(found, () => {});
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    const count = (chunk: unknown): void => {
      if (chunk && typeof chunk !== 'function') { done += typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Uint8Array).length; set(); }
    };
    (res as unknown as { write: (...a: unknown[]) => boolean }).write = (...a: unknown[]) => { if (res.statusCode < 300) count(a[0]); return write(...a); };
    const end = res.end.bind(res) as (...a: unknown[]) => unknown;
    (res as unknown as { end: (...a: unknown[]) => unknown }).end = (...a: unknown[]) => { if (res.statusCode < 300) count(a[0]); return end(...a); };
  }

  /** Bytes served so far for a running alternate download. */
  progress(jobId: string): { done: number; total: number } | undefined {
    return this.progressOf.get(jobId);
  }

  // ---- running jobs ----

  /** False when the store refused the write: the job got an outcome meanwhile (e.g. its deadline passed). */
  private async save(j: Job): Promise<boolean> {
    if (this.closed) return true;
    j.updatedAt = Date.now();
    if ((await this.o.jobs.putJob(j)) === false) {
      this.log(`[${j.deviceId}] job ${j.jobId}: not moved to ${j.state}, it already has an outcome`);
      return false;
    }
    this.emit('job', j);
    return true;
  }

  /** Moves a job forward (never back); terminal states are final. */
  private async advance(j: Job, state: JobState, patch: Partial<Job> = {}): Promise<boolean> {
    if (isTerminal(j.state) || stateRank(state) <= stateRank(j.state)) return false;
    Object.assign(j, patch);
    j.state = state;
    const now = Date.now();
    j.history.push({ state, at: now });
    if (isTerminal(state)) { j.finishedAt = now; this.progressOf.delete(j.jobId); }
    if (!(await this.save(j))) return false;
    this.log(`[${j.deviceId}] job ${j.jobId} ${state}${j.resultCode !== undefined && j.resultCode !== null ? ' (' + j.resultCode + ')' : ''}${j.error && state === 'failed' ? ': ' + j.error : ''}`);
    if (isTerminal(state)) this.afterOutcome(j.deviceId);
    return true;
  }

  private async fail(j: Job, error: string, status?: number): Promise<void> {
    await this.advance(j, 'failed', { resultCode: null, error, ...(status !== undefined ? { status } : {}) });
  }

  private async run(jobId: string): Promise<void> {
    if (this.running.has(jobId) || this.closed) return;
    this.running.add(jobId);
    try {
      let j = await this.o.jobs.getJob(jobId);
      if (!j || isTerminal(j.state)) return;
      if (j.entryId === undefined) {
        // A crash between queueing and saving the entry id leaves the entry findable by its tag.
        const prior = await this.o.storage.entriesByTag(jobId);
        if (prior.length) {
          j.entryId = prior[0].id;
          await this.save(j);
        } else {
          const plan = await this.plan(j);
          // From this check to the saved entry id the deadline sweep leaves the job alone, so a
          // job never reads "failed" while commands of it sit queued (a few storage calls).
          this.queueing.add(jobId);
          try {
            j = await this.o.jobs.getJob(jobId);
            if (!j || isTerminal(j.state) || this.closed) return;
            if ('error' in plan) { await this.fail(j, plan.error); return; }
            const h = await this.o.dm.queueCommands(j.deviceId, plan.commands, { tag: jobId });
            j.entryId = h.id;
            j.root = plan.root;
            if (plan.execUri) j.execUri = plan.execUri;
            if (!(await this.save(j))) {
              // Another process's sweep failed it meanwhile: the commands must not go out.
              await this.o.dm.cancelEntry(h.id);
              return;
            }
          } finally {
            this.queueing.delete(jobId);
          }
          void this.kick(j.deviceId);
        }
      }
      const entry = await this.o.dm.waitForEntry(j.entryId!);
      await this.onJobEntry(entry);
    } catch (e) {
      if (this.closed) return; // the store went away under a job in flight; it resumes at the next start
      this.log(`job ${jobId}: ${(e as Error).message}`);
      try {
        const j = await this.o.jobs.getJob(jobId);
        if (j) await this.fail(j, 'server error while preparing the job: ' + (e as Error).message);
      } catch { /* store unusable: the job stays as it was and resumes at the next start */ }
    } finally {
      this.running.delete(jobId);
    }
  }

  private async packageRef(pkgId: string, withBytes: boolean): Promise<PackageRef | { error: string }> {
    const m: PackageMeta | undefined = await this.o.packages.get(pkgId);
    if (!m) return { error: `package ${pkgId} is no longer in the repository` };
    const ref: PackageRef = { pkgId: m.pkgId, name: m.name, version: m.version, type: m.type, url: this.o.packageUrl(m.pkgId) };
    if (m.signature !== undefined) {
      ref.signature = m.signature;
      ref.ddUrl = this.o.packageUrl(m.pkgId) + '.dd';
    }
    if (withBytes) {
      const file = this.o.packages.filePath(pkgId);
      if (!file) return { error: `package ${pkgId} has no file` };
      ref.bytes = new Uint8Array(await fsp.readFile(file));
    }
    return ref;
  }

  /** The job's DM commands; may wait for discovery or an inventory (device sessions). */
  private async plan(j: Job): Promise<{ root: string; commands: Command[]; execUri?: string } | { error: string }> {
    const root = await this.ensureRoot(j.deviceId);
    const node = jobNodeName(j);
    const op = j.operation;
    if (op === 'Download' || op === 'DownloadInstall' || op === 'DownloadInstallInactive') {
      const pkg = await this.packageRef(j.pkgId!, j.delivery === 'dm');
      if ('error' in pkg) return pkg;
      if (j.delivery === 'alternate') return { root, ...alternateDownload(root, node, pkg, op, j.correlator) };
      const install = op === 'Download' ? undefined : op === 'DownloadInstall' ? 'Install' : 'InstallInactive';
      return { root, ...dmDelivery(root, node, pkg, install, j.correlator) };
    }
    if (op === 'Install' || op === 'InstallInactive') {
      // A package already delivered (by an earlier Download) is installed where it is; otherwise
      // it is delivered over DM first.
      const inv = await this.inventoryWith(j.deviceId, (i) => i.delivered.some((d) => d.pkgId === j.pkgId && d.state === 'delivered'), false);
      const dv = inv?.delivered.find((d) => d.pkgId === j.pkgId && d.state === 'delivered');
      if (dv) {
        const execUri = `${root}/Inventory/Delivered/${dv.node}/Operations/${op}`;
        return { root, commands: [execCmd(execUri, j.correlator)], execUri };
      }
      const pkg = await this.packageRef(j.pkgId!, true);
      if ('error' in pkg) return pkg;
      return { root, ...dmDelivery(root, node, pkg, op, j.correlator) };
    }
    // Activate / Deactivate / Remove
    if (j.componentId) {
      const inv = await this.inventoryWith(j.deviceId, (i) => i.deployed.some((d) => d.id === j.componentId), true);
      const dp = inv?.deployed.find((d) => d.id === j.componentId);
      if (!dp) return { error: `component ${j.componentId} is not deployed on device ${j.deviceId}` };
      const execUri = `${root}/Inventory/Deployed/${dp.node}/Operations/${op}`;
      return { root, commands: [execCmd(execUri, j.correlator)], execUri };
    }
    const inv = await this.inventoryWith(j.deviceId, (i) => i.delivered.some((d) => d.pkgId === j.pkgId), true);
    const dv = inv?.delivered.find((d) => d.pkgId === j.pkgId);
    if (!dv) return { error: `package ${j.pkgId} is not delivered on device ${j.deviceId}` };
    const execUri = `${root}/Inventory/Delivered/${dv.node}/Operations/Remove`;
    return { root, commands: [execCmd(execUri, j.correlator)], execUri };
  }

  /** The cached inventory if it satisfies `has`, else a fresh one (when `mustRefresh` or none cached). */
  private async inventoryWith(deviceId: string, has: (i: Inventory) => boolean, mustRefresh: boolean): Promise<Inventory | undefined> {
    const cached = await this.o.jobs.getInventory(deviceId);
    if (cached && (has(cached) || !mustRefresh)) return cached;
    return this.refreshInventory(deviceId);
  }

  /** Outcome of the job's own queue entry: a refused command fails it; the Exec's 202 accepts it. */
  private async onJobEntry(e: QueueEntry): Promise<void> {
    if (!e.tag) return;
    const j = await this.o.jobs.getJob(e.tag);
    if (!j || j.entryId !== e.id || isTerminal(j.state) || e.state !== 'done') return;
    const outs: CommandOutcome[] = e.outcomes ?? [];
    for (let i = 0; i < e.commands.length; i++) {
      const o = outs[i];
      const c = e.commands[i];
      const status = o ? o.status : 0;
      if (okStatus(o?.cmd ?? c.kind, status)) continue;
      // A refused Ext/Signature leaf (a device without our extension) does not fail the job.
      if (isOptionalCommand(c)) continue;
      // Withdrawn by withdrawAndFail (here, or by another process's sweep once the deadline has
      // passed), which fails the job itself with its own error.
      if (status === 514 && (this.failing.has(j.jobId) || (j.deadline !== undefined && j.deadline <= Date.now()))) return;
      const uri = 'items' in c && c.items[0]?.target?.locURI ? c.items[0].target.locURI : '';
      if (status <= 0) {
        // The device may or may not have run it: a final alert can still settle the job.
        await this.fail(j, `the DM session ended before the device answered ${c.kind} ${uri}`, 0);
      } else {
        await this.fail(j, `device refused ${c.kind} ${uri} with status ${status}`, status);
      }
      return;
    }
    if (j.execUri) await this.advance(j, 'accepted');
    else await this.advance(j, 'succeeded'); // DM delivery only: the Data is on the device
  }

  private onEntryDone(e: QueueEntry): void {
    if (this.closed || !e.tag) return;
    const done = e.tag.startsWith(DISCOVER_TAG) ? this.takeDiscovery(e.tag.slice(DISCOVER_TAG.length), e)
      : e.tag.startsWith(INVENTORY_TAG) ? this.takeInventory(e.tag.slice(INVENTORY_TAG.length), e) : undefined;
    // Job entries are handled by run(), which waits for them.
    done?.catch((err: unknown) => this.log('queue outcome handling failed: ' + String(err)));
  }

  private onSessionStart(deviceId: string): void {
    if (this.closed) return;
    void (async () => {
      for (const j of await this.o.jobs.activeJobs()) {
        if (j.deviceId !== deviceId || j.entryId === undefined || stateRank(j.state) >= stateRank('in-session')) continue;
        const e = await this.o.storage.getEntry(j.entryId);
        // Queued entries are offered to the session that just started.
        if (e && e.state !== 'done') await this.advance(j, 'in-session');
      }
    })().catch((err: unknown) => this.log('session-start handling failed: ' + String(err)));
  }

  // ---- waking the device ----

  /** Package 0 now (coalesced per device); jobs still queued become 'notified' when it went out. */
  kick(deviceId: string): Promise<NotifyOutcome> {
    const cur = this.notifying.get(deviceId);
    if (cur) return cur;
    const p = (async (): Promise<NotifyOutcome> => {
      try {
        const r = await this.o.notify(deviceId);
        if (!this.closed) for (const j of await this.o.jobs.activeJobs()) if (j.deviceId === deviceId && j.state === 'queued') await this.advance(j, 'notified');
        return { sent: true, result: r };
      } catch (e) {
        return { sent: false, error: (e as Error).message };
      } finally {
        this.notifying.delete(deviceId);
      }
    })();
    this.notifying.set(deviceId, p);
    return p;
  }

  // ---- deadlines ----

  private expiring: Promise<void> | undefined;

  private queueExpiry(): void {
    if (this.expiring || this.closed) return;
    this.expiring = this.expireJobs().then(() => undefined, (e: unknown) => { if (!this.closed) this.log('job deadline sweep failed: ' + String(e)); })
      .finally(() => { this.expiring = undefined; });
  }

  /**
   * Fails the unfinished jobs whose deadline passed (error "timed out after N s", resultCode null).
   * The flip is a conditional update under the job's row lock, so with several processes on one
   * store exactly one flips each job, and a final alert stored first wins over the deadline.
   */
  async expireJobs(now = Date.now()): Promise<number> {
    let n = 0;
    for (const j of await this.o.jobs.expiredJobs(now, EXPIRE_BATCH)) {
      if (this.closed) break;
      const timedOut = (cur: Job): string | undefined => (cur.deadline === undefined || cur.deadline > now ? undefined
        : timeoutError(cur.timeoutS ?? Math.round((cur.deadline - cur.createdAt) / 1000)));
      if (await this.withdrawAndFail(j, timedOut, true)) n++;
    }
    return n;
  }

  /**
   * Fails an unfinished job now (resultCode null, `error`) by the deadline sweep's path: its
   * queued commands are withdrawn first, then the job flips in one conditional update. Unlike a
   * deadline, nothing more is sent to the device afterwards (no Delete of a running download, no
   * inventory refresh): the caller is done with the device (DELETE /api/devices/{id}).
   * Undefined when the job is finished already, or a runner is queueing its commands right now
   * (try again).
   */
  async failJob(jobId: string, error: string): Promise<Job | undefined> {
    const j = await this.getJob(jobId);
    if (!j || isTerminal(j.state)) return undefined;
    return this.withdrawAndFail(j, () => error, false);
  }

  /**
   * Withdraw-then-flip: commands not yet sent are withdrawn before the job reads "failed", so
   * whoever sees the failure can rely on them never reaching the device. A queued entry means the
   * device has not seen the operation, so no final alert can overtake the flip. The flip is a
   * conditional update under the job's row lock, so with several processes on one store exactly
   * one flips the job, and an outcome stored first wins. `why(cur)`: the error, or undefined when
   * the stored job no longer qualifies. `followUp`: stop a download already sent and refresh the
   * inventory afterwards.
   */
  private async withdrawAndFail(j: Job, why: (cur: Job) => string | undefined, followUp: boolean): Promise<Job | undefined> {
    if (this.queueing.has(j.jobId)) return undefined; // a later call finds its entry id saved
    this.failing.add(j.jobId);
    try {
      return await this.withdrawAndFlip(j, why, followUp);
    } finally {
      this.failing.delete(j.jobId);
    }
  }

  private async withdrawAndFlip(j: Job, why: (cur: Job) => string | undefined, followUp: boolean): Promise<Job | undefined> {
    let withdrawn = false;
    let ids: number[] = [];
    try {
      // Without an entry id yet, the runner may have queued the commands and not saved the id:
      // its entry carries the job id as tag.
      ids = j.entryId !== undefined ? [j.entryId] : (await this.o.storage.entriesByTag(j.jobId)).map((x) => x.id);
      for (const id of ids) if (await this.o.dm.cancelEntry(id)) withdrawn = true;
    } catch (e) {
      if (!this.closed) this.log(`[${j.deviceId}] job ${j.jobId}: withdrawing its queued commands failed: ${(e as Error).message}`);
      return undefined; // the next sweep tries again
    }
    const at = Date.now();
    const done = await this.o.jobs.updateJobIf(j.jobId, (cur) => {
      const error = isTerminal(cur.state) ? undefined : why(cur);
      if (error === undefined) return undefined;
      // Commands queued after the look-up above (a runner got there first): the next call withdraws them.
      if (this.queueing.has(cur.jobId) || (cur.entryId !== undefined && !ids.includes(cur.entryId))) return undefined;
      return { ...cur, state: 'failed', resultCode: null, error, updatedAt: at, finishedAt: at, history: [...cur.history, { state: 'failed', at }] };
    });
    if (!done) return undefined;
    this.progressOf.delete(done.jobId);
    this.log(`[${done.deviceId}] job ${done.jobId} failed: ${done.error} (was ${j.state})`);
    if (withdrawn) this.log(`[${done.deviceId}] job ${done.jobId}: its queued commands were withdrawn`);
    this.emit('job', done);
    if (!followUp) return done;
    if (!withdrawn) {
      try {
        await this.stopDownload(done);
      } catch (e) {
        if (this.closed) return done;
        this.log(`[${done.deviceId}] job ${done.jobId}: stopping it on the device failed: ${(e as Error).message}`);
      }
    }
    this.afterOutcome(done.deviceId);
    return done;
  }

  /**
   * For a job that timed out after its commands went out: an alternate download the device may
   * be running gets its Download/<X> node deleted in the device's next session, so it stops the
   * transfer. Other operations already sent cannot be recalled (DM has no way to); their late
   * final alert is recorded in `lateResult`.
   */
  private async stopDownload(j: Job): Promise<void> {
    if (j.entryId === undefined) return; // not queued yet: run() sees the outcome and queues nothing
    // Withdrawn by an earlier sweep that stopped before its flip: nothing reached the device.
    const e = await this.o.storage.getEntry(j.entryId);
    if (e?.state === 'done' && (e.outcomes ?? []).every((o) => o.status === 514)) return;
    if (j.delivery === 'alternate' && j.operation.startsWith('Download') && j.root) {
      const node = `${j.root}/Download/${jobNodeName(j)}`;
      await this.o.dm.queueCommands(j.deviceId, [{ kind: 'Delete', cmdID: '0', items: [{ target: { locURI: node } }] }], { tag: CANCEL_TAG + j.jobId });
      this.log(`[${j.deviceId}] job ${j.jobId}: timed out while the device may be downloading; Delete ${node} queued`);
      void this.kick(j.deviceId);
    }
  }

  /** A final alert for a job that already timed out: kept in `lateResult`; the outcome stays. */
  private async recordLateResult(j: Job, resultCode: number | null): Promise<void> {
    const at = Date.now();
    const done = await this.o.jobs.updateJobIf(j.jobId, (cur) => (isTimedOut(cur) ? { ...cur, lateResult: { resultCode, at }, updatedAt: at } : undefined));
    if (!done) return;
    this.log(`[${j.deviceId}] job ${j.jobId}: final alert (result ${resultCode ?? '(none)'}) after it timed out; acknowledged, outcome unchanged`);
    this.emit('job', done);
    // The device did something after all: read what it has now.
    this.afterOutcome(j.deviceId);
  }

  // ---- discovery and inventory ----

  /** The device's SCOMO root: cached, or found by a Get ./?list=StructData (which also yields the inventory). */
  ensureRoot(deviceId: string): Promise<string> {
    const cur = this.rootWaits.get(deviceId);
    if (cur) return cur;
    const p = (async (): Promise<string> => {
      try {
        const cached = await this.o.jobs.getRoot(deviceId);
        if (cached) return cached;
        const tag = DISCOVER_TAG + deviceId;
        const pending = (await this.o.storage.entriesByTag(tag)).filter((e) => e.state !== 'done');
        const id = pending.length ? pending[pending.length - 1].id : (await this.o.dm.queueCommands(deviceId, [getCmd(DISCOVERY_URI)], { tag })).id;
        if (!pending.length) void this.kick(deviceId);
        const e = await this.o.dm.waitForEntry(id);
        return this.takeDiscovery(deviceId, e);
      } finally {
        this.rootWaits.delete(deviceId);
      }
    })();
    this.rootWaits.set(deviceId, p);
    return p;
  }

  private async takeDiscovery(deviceId: string, e: QueueEntry): Promise<string> {
    const o = e.outcomes?.[0];
    if (!o || o.status !== 200 || !o.results) {
      this.log(`[${deviceId}] SCOMO discovery got status ${o?.status ?? 0}; assuming ${DEFAULT_ROOT}`);
      return DEFAULT_ROOT;
    }
    const found = findScomoRoot(o.results);
    const root = found ?? DEFAULT_ROOT;
    if (!found) this.log(`[${deviceId}] no node of type urn:oma:mo:oma-scomo:1.0; assuming ${DEFAULT_ROOT}`);
    if (!this.closed) {
      await this.o.jobs.setRoot(deviceId, root);
      const inv = parseInventory(root, o.results);
      await this.o.jobs.setInventory(deviceId, inv);
      this.emit('inventory', deviceId, inv);
    }
    return root;
  }

  private async takeInventory(deviceId: string, e: QueueEntry): Promise<Inventory | undefined> {
    const o = e.outcomes?.[0];
    if (!o || o.status !== 200 || !o.results) return undefined;
    const cmd = e.commands[0];
    const uri = cmd && cmd.kind === 'Get' ? cmd.items[0]?.target?.locURI ?? '' : '';
    const root = uri.replace(/\/Inventory\?list=StructData$/, '') || DEFAULT_ROOT;
    const inv = parseInventory(root, o.results);
    if (!this.closed) {
      await this.o.jobs.setInventory(deviceId, inv);
      this.emit('inventory', deviceId, inv);
    }
    return inv;
  }

  /** Queues a Get of <root>/Inventory?list=StructData (coalesced), notifies, and resolves with the new snapshot. */
  refreshInventory(deviceId: string): Promise<Inventory | undefined> {
    const cur = this.invWaits.get(deviceId);
    if (cur) return cur;
    const p = (async (): Promise<Inventory | undefined> => {
      try {
        const hadRoot = !!(await this.o.jobs.getRoot(deviceId));
        const root = await this.ensureRoot(deviceId);
        // Discovery just read the whole tree: its snapshot is fresh.
        if (!hadRoot) return await this.o.jobs.getInventory(deviceId);
        const h = await this.o.dm.queueCommands(deviceId, [getCmd(inventoryUri(root))], { tag: INVENTORY_TAG + deviceId });
        void this.kick(deviceId);
        const e = await h.done;
        return (await this.takeInventory(deviceId, e)) ?? (await this.o.jobs.getInventory(deviceId));
      } finally {
        this.invWaits.delete(deviceId);
        this.invStarted.delete(deviceId);
      }
    })();
    this.invWaits.set(deviceId, p);
    return p;
  }

  /** The snapshot, optionally refreshed first (waiting at most `timeoutMs`); stale when the refresh did not arrive. */
  async inventory(deviceId: string, refresh: boolean, timeoutMs: number): Promise<{ inventory: Inventory | undefined; stale: boolean }> {
    const started = this.invStarted.get(deviceId) ?? 0;
    // Only one started by a recent job outcome: a device that does not come back must not slow
    // every read down, and a refresh the caller gave up on is not waited for again.
    const inFlight = Date.now() - started < IN_FLIGHT_FRESH_MS ? this.invWaits.get(deviceId) : undefined;
    if (!refresh && !inFlight) {
      const inv = await this.o.jobs.getInventory(deviceId);
      return { inventory: inv, stale: !inv };
    }
    // A refresh already on its way (e.g. after a job's outcome) is worth a short wait even
    // when none was asked for: the caller most likely wants to see that outcome.
    if (!refresh) timeoutMs = Math.min(timeoutMs, IN_FLIGHT_WAIT_MS);
    const p = inFlight ?? this.refreshInventory(deviceId);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); });
    const r = await Promise.race([p, timeout]);
    if (timer) clearTimeout(timer);
    if (r === 'timeout') return { inventory: await this.o.jobs.getInventory(deviceId), stale: true };
    return { inventory: r ?? (await this.o.jobs.getInventory(deviceId)), stale: r === undefined };
  }

  /** After a job's outcome: refresh the inventory in the device's next session, which we ask for now. */
  private afterOutcome(deviceId: string): void {
    if (this.closed) return;
    this.invStarted.set(deviceId, Date.now());
    this.refreshInventory(deviceId).catch((e: unknown) => this.log(`[${deviceId}] inventory refresh failed: ${String(e)}`));
  }

  // ---- alerts ----

  private queueAlertWork(): void {
    this.alertChain = this.alertChain.then(() => this.consumeAlerts()).catch((e: unknown) => this.log('alert handling failed: ' + String(e)));
  }

  /** Reads alerts after the persisted cursor, in order; the cursor moves after each is handled. */
  private async consumeAlerts(): Promise<void> {
    if (this.closed) return;
    // One process at a time reads and moves the shared cursor.
    await this.o.jobs.exclusive('alerts', () => this.consumeAlertsNow());
  }

  private async consumeAlertsNow(): Promise<void> {
    if (this.closed) return;
    const cursor = Number((await this.o.jobs.getKv(ALERT_CURSOR)) ?? '0');
    const list = await this.o.storage.listAlerts(undefined, cursor);
    for (const a of list) {
      if (this.closed) return;
      try {
        await this.handleAlert(a);
      } catch (e) {
        // One bad alert must not block the ones after it (nor be retried forever).
        if (this.closed) return;
        this.log(`[${a.deviceId}] alert ${a.id} could not be handled: ${(e as Error).message}`);
      }
      await this.o.jobs.setKv(ALERT_CURSOR, String(a.id));
    }
  }

  private async handleAlert(a: ReceivedAlert): Promise<void> {
    if (a.code !== 1226) return;
    const oc = parseOperationComplete(a.items);
    if (oc) { await this.finalAlert(a, oc); return; }
    const req = parseComponentRequest(a.items);
    if (req) await this.componentRequest(a.deviceId, req);
  }

  private async finalAlert(a: ReceivedAlert, oc: OperationComplete): Promise<void> {
    if (a.correlator === undefined) {
      this.log(`[${a.deviceId}] final alert without correlator (result ${oc.resultCode}) ignored`);
      return;
    }
    const j = await this.o.jobs.findByCorrelator(a.deviceId, a.correlator);
    if (!j) { this.log(`[${a.deviceId}] final alert for unknown correlator ${a.correlator} ignored`); return; }
    // A re-sent alert for a finished job is acknowledged (by the DM layer) and ignored here --
    // unless the job failed only because the session ended before the Exec was answered.
    const reopen = j.state === 'failed' && j.status === 0 && j.resultCode === null;
    if (isTerminal(j.state) && !reopen) {
      // A timed-out job keeps its outcome (campaigns counted it); the late result is recorded once.
      if (isTimedOut(j) && !j.lateResult) await this.recordLateResult(j, oc.resultCode ?? null);
      return;
    }
    if (reopen) { j.state = 'accepted'; delete j.error; delete j.status; }
    const patch: Partial<Job> = { resultCode: oc.resultCode };
    if (oc.identifier !== undefined) patch.identifier = oc.identifier;
    if (oc.source !== undefined) patch.source = oc.source;
    if (oc.target !== undefined) patch.target = oc.target;
    const moved = isSuccessCode(oc.resultCode) ? await this.advance(j, 'succeeded', patch)
      : await this.advance(j, 'failed', { ...patch, error: `device reported result code ${oc.resultCode ?? '(none)'}` });
    if (!moved) {
      // The deadline passed between reading the job and storing the outcome.
      const now = await this.o.jobs.getJob(j.jobId);
      if (now && isTimedOut(now) && !now.lateResult) await this.recordLateResult(now, oc.resultCode ?? null);
    }
  }

  /** Flow alternative 1: a DownloadInstall of the newest package with that name (and version). */
  private async componentRequest(deviceId: string, req: { name: string; version?: string }): Promise<void> {
    // The same request re-sent (its acknowledgement lost) while the first is running is one request.
    for (const j of await this.o.jobs.activeJobs()) {
      if (j.deviceId === deviceId && j.origin === 'device-request' && j.request?.name === req.name && j.request.version === req.version) return;
    }
    const all = (await this.o.packages.list()).filter((m) => m.name === req.name && (req.version === undefined || m.version === req.version));
    all.sort((x, y) => compareVersions(y.version, x.version) || (y.created < x.created ? -1 : y.created > x.created ? 1 : 0));
    const pkg = all[0];
    if (!pkg) {
      const now = Date.now();
      const jobId = newJobId();
      const job: Job = {
        jobId, deviceId, operation: 'DownloadInstall', delivery: 'alternate', origin: 'device-request', state: 'failed', correlator: jobId,
        resultCode: null, error: `no package named ${req.name}${req.version ? ' version ' + req.version : ''} in the repository`,
        request: req, createdAt: now, updatedAt: now, finishedAt: now, history: [{ state: 'failed', at: now }],
      };
      await this.o.jobs.putJob(job);
      this.emit('job', job);
      this.log(`[${deviceId}] component request for ${req.name}: ${job.error}`);
      return;
    }
    const r = await this.createJob(deviceId, { operation: 'DownloadInstall', pkgId: pkg.pkgId, delivery: 'alternate' }, 'device-request', { request: req });
    if (!r.ok) this.log(`[${deviceId}] component request for ${req.name} refused: ${r.error}`);
  }
}

/** Failed by its deadline (not by the device). */
export function isTimedOut(j: Job): boolean {
  return j.state === 'failed' && j.deadline !== undefined && j.resultCode === null && j.status === undefined
    && j.error === timeoutError(j.timeoutS ?? Math.round((j.deadline - j.createdAt) / 1000));
}

export interface NotifyOutcome {
  sent: boolean;
  result?: unknown;
  error?: string;
}

/** Dotted numeric versions compare numerically ("1.10" > "1.9"); anything else as strings. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/), pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '', y = pb[i] ?? '';
    if (/^[0-9]+$/.test(x) && /^[0-9]+$/.test(y)) {
      const d = Number(x) - Number(y);
      if (d) return d < 0 ? -1 : 1;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
