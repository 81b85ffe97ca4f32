// The SCOMO client: the MO at ./SCOMO (a tree plug-in) and the operation engine that runs the
// primitives as durable jobs. Exec answers 202 and journals the job before the Status goes out;
// jobs run when the DM session is over; each ends in one final Generic Alert (1226,
// urn:oma:at:scomo:1.0:OperationComplete) that stays journaled until the server acknowledges it.
//
// Phases per primitive:
//   Download*            queued -> downloading -> [verifying] -> [installing] -> reporting
//   Install(Inactive)    queued -> [verifying] -> installing -> reporting
//   Activate/Deactivate/Remove (Deployed), Remove (Delivered)
//                        queued -> component-op -> reporting
// A reboot in 'downloading' resumes from the journaled checkpoint (HTTP Range); in 'installing'
// it asks the host whether the component committed (A/B slots), else reports 1405; in
// 'component-op' it re-issues the (idempotent) operation; in 'verifying' it checks the signature
// again. 'verifying' happens when the package carries a signature (download descriptor, or an
// Ext/Signature leaf of the Download/<X> or Delivered/<X> node) or the device requires one: the
// host's verifyPackage hook says whether it verifies; a package that does not is never installed
// (1407).

import type { Item } from '../codec/model.js';
import type { RecordStore } from '../store/api.js';
import type { ExecRequest, LargeObjectSink } from '../tree/api.js';
import type { MoPlugin, TreeOp } from '../tree/plugin.js';
import { DmTree, LOCAL_ID } from '../tree/tree.js';
import type { Host, InstallRequest, InstallResult, PackageStorage as HostPackages, VerifyRequest } from '../agent/host.js';
import type { ClientAlert } from '../dm/types.js';
import { utf8Encode } from '../codec/utf8.js';
import { base64Decode } from '../codec/base64.js';
import { DownloadEngine } from './download/engine.js';
import type { DownloadAction, DownloadEvent, DownloadOutcome, PackageStorage as DlStorage } from './download/types.js';
import { createB64Stream } from './b64-stream.js';
import { pureSha256Port } from './download/sha256-resume.js';
import type { HashPort } from './download/types.js';
import { createSha256 } from '../crypto/provider.js';
import { parseSignature } from './signature.js';
import { dlotaStatus } from './dlota-status.js';
import { Journal } from './journal.js';
import type { Job } from './journal.js';
import {
  DELIVERED_OPS, DEPLOYED_OPS, DL_DOWNLOAD_COMPLETE, DL_DOWNLOAD_FAILED, DL_DOWNLOAD_PROGRESSING, DL_IDLE,
  DL_INSTALL_FAILED_WITH_DATA, DL_INSTALL_PROGRESSING, DOWNLOAD_OPS, DP_ACTIVATE_FAILED, DP_ACTIVATE_PROGRESSING,
  DP_DEACTIVATE_FAILED, DP_DEACTIVATE_PROGRESSING, DP_IDLE, DP_REMOVE_FAILED, DP_REMOVE_PROGRESSING,
  DP_STATE_ACTIVE, DP_STATE_INACTIVE, DV_IDLE, DV_INSTALL_FAILED_WITH_DATA, DV_INSTALL_PROGRESSING,
  DV_REMOVE_FAILED, DV_REMOVE_PROGRESSING, DV_STATE_DELIVERED, DV_STATE_INSTALLED, SCOMO_ALERT_TYPE,
  RC_ACTIVATE_FAILED, RC_CANCELLED_BY_SERVER, RC_DEACTIVATE_FAILED, RC_INSTALL_FAILED, RC_REMOVE_FAILED, RC_SUCCESS, RC_VALIDATION_FAILED,
  SCOMO_MO_ID, SCOMO_REQUEST_ALERT_TYPE,
} from './constants.js';
import type { Operation } from './constants.js';

/**
 * What the engine needs from the agent: the host's package storage and asynchronous operations
 * (ids allocated by the agent, which routes the completions back), plus two agent services.
 */
export type ScomoPorts = Pick<Host, 'packages' | 'httpRequest' | 'httpCancel' | 'setTimer' | 'clearTimer' | 'install' | 'componentOp' | 'installStatus' | 'verifyPackage' | 'log'> & {
  nextId(): number;
  /** A final alert is waiting: the agent opens a session when none is open. */
  alertPending(): void;
  /** True when the host supplied a native SHA-256 (used for packages instead of the pure-TS one). */
  nativeSha256?: boolean;
};

export interface ScomoOptions {
  /** Root of the MO (device-chosen; servers find it by its Type). Default ./SCOMO */
  root?: string;
  /** PkgType assumed when the server gives none. */
  defaultPkgType?: string;
  /** Alternate-download retries. */
  maxRetries?: number;
  backoffBaseMs?: number;
  /** Refuse (1407) packages that carry no signature. */
  requireSignature?: boolean;
}

interface Running {
  job: Job;
  dl?: DownloadEngine;
  /** host http id -> download engine request id */
  http: { host: number; req: number }[];
  timer?: number;
  opId?: number;
  /** The op is a signature check (cancellable, unlike an install). */
  verify?: boolean;
}

const B = 'node';
/** Inventory/Delivered/<X>/Data (relative to the root): the package bytes, kept in package storage. */
const DELIVERED_DATA = /^Inventory\/Delivered\/([^/]+)\/Data$/;
/** A leaf for writeTree: name (relative), format, value. */
type Leaf = [string, string, string];

// Fields are `declare`d and assigned in the constructor: with ES2022 class fields the device
// bundle would otherwise carry a defineProperty call per field (as in DownloadEngine).
export class ScomoEngine {
  declare readonly root: string;
  private declare tree: DmTree;
  private declare ports: ScomoPorts;
  private declare opts: ScomoOptions;
  declare readonly journal: Journal;
  private declare running: Running[];
  private declare seq: number;
  private declare extraAlerts: ClientAlert[];
  /** Suppresses our own plug-in callbacks while the engine writes the tree. */
  private declare local: boolean;

  constructor(tree: DmTree, journalStore: RecordStore, ports: ScomoPorts, opts?: ScomoOptions) {
    this.tree = tree;
    this.ports = ports;
    this.opts = opts || {};
    this.root = this.opts.root || './SCOMO';
    this.journal = new Journal(journalStore);
    this.running = [];
    this.seq = 0;
    this.extraAlerts = [];
    this.local = false;
  }

  /** Defines the MO's permanent nodes and mounts the plug-in; call before tree.load(). */
  setup(): void {
    const t = this.tree, r = this.root;
    t.define(r, B, SCOMO_MO_ID, undefined, 'Get=*&Add=*&Replace=*&Delete=*&Exec=*');
    t.find(r)!.type = SCOMO_MO_ID;
    const interior = ['/Download', '/Inventory', '/Inventory/Delivered', '/Inventory/Deployed', '/Ext'];
    for (let i = 0; i < interior.length; i++) t.define(r + interior[i], B, '');
    t.mount(r, this.plugin());
  }

  /** After tree.load(): replays the journal and resumes or fails each unfinished job. */
  boot(): void {
    this.journal.load();
    const journaled = this.journal.jobs;
    for (let i = 0; i < journaled.length; i++) {
      const j = journaled[i];
      const n = parseInt(j.id.replace(/^[^0-9]*/, ''), 10);
      if (n >= this.seq) this.seq = n + 1;
    }
    const jobs = journaled.slice();
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i];
      if (j.phase === 'installing') {
        // Power was lost during install: the installer hook knows whether the new version committed.
        const res = this.ports.installStatus ? this.ports.installStatus(j.identifier || j.node) : undefined;
        if (res && res.resultCode === RC_SUCCESS) this.installed(j, res);
        else this.installFailed(j, RC_INSTALL_FAILED, 'install interrupted by reboot');
      }
    }
    if (this.pendingAlerts().length) this.ports.alertPending();
  }

  /** Starts every job that is not running yet (the agent calls this when no DM session is open). */
  runJobs(): void {
    const jobs = this.journal.jobs.slice();
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i];
      if (j.phase === 'reporting' || this.runningOf(j.id)) continue;
      this.start(j);
    }
  }

  /** True while a job is queued or running (not just waiting for its alert's acknowledgement). */
  busy(): boolean {
    const jobs = this.journal.jobs;
    for (let i = 0; i < jobs.length; i++) if (jobs[i].phase !== 'reporting') return true;
    return false;
  }

  /** Final alerts to send in the next session (tag = job id, matched in onAlertStatus). */
  pendingAlerts(): ClientAlert[] {
    const out: ClientAlert[] = [];
    const jobs = this.journal.jobs;
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i];
      if (j.phase === 'reporting') out.push(this.finalAlert(j));
    }
    for (let i = 0; i < this.extraAlerts.length; i++) out.push(this.extraAlerts[i]);
    return out;
  }

  /** The server's Status for one of our alerts: 200/202 ends the job; anything else keeps it for the next session. */
  onAlertStatus(alert: ClientAlert, code: number): void {
    const tag = alert.tag as string;
    const acknowledged = code === 200 || code === 202;
    for (let i = 0; i < this.extraAlerts.length; i++) {
      if (this.extraAlerts[i] === alert) { if (acknowledged) this.extraAlerts.splice(i, 1); return; }
    }
    const j = this.journal.find(tag);
    if (!j || j.phase !== 'reporting') return;
    if (acknowledged) {
      this.journal.remove(j.id);
      this.ports.log('info', 'job ' + j.id + ' ' + j.op + ' reported (result ' + j.resultCode + ')');
    } else {
      this.ports.log('warn', 'server answered ' + code + ' to the final alert of job ' + j.id + '; will re-send');
    }
  }

  /**
   * Flow alternative 1: the device asks the server for a software component. Sent as a Generic
   * Alert of a vendor type in the next session; the server answers by creating a job.
   */
  requestComponent(name: string, version?: string): void {
    const data = '<Request><Name>' + esc(name) + '</Name>' + (version ? '<Version>' + esc(version) + '</Version>' : '') + '</Request>';
    this.extraAlerts.push({
      code: 1226,
      items: [{ source: { locURI: this.root }, meta: { type: SCOMO_REQUEST_ALERT_TYPE, format: 'xml' }, data }],
    });
    this.ports.alertPending();
  }

  // ---- host events routed by the agent ----

  owns(id: number): boolean {
    return !!this.byHost(id) || !!this.byTimer(id) || !!this.byOp(id);
  }

  onHttpResponse(id: number, status: number, headers: Record<string, string>): void {
    this.feedHttp(id, { type: 'http-response', status, headers });
  }
  onHttpChunk(id: number, bytes: Uint8Array): void {
    this.feedHttp(id, { type: 'http-chunk', bytes });
  }
  onHttpEnd(id: number): void {
    this.feedHttp(id, { type: 'http-end' });
  }
  onHttpError(id: number, reason: string): void {
    this.feedHttp(id, { type: 'http-error', reason });
  }
  onTimer(id: number): void {
    const r = this.byTimer(id);
    if (!r || !r.dl) return;
    r.timer = undefined;
    this.act(r, r.dl.handle({ type: 'timer' }));
  }
  onInstallDone(id: number, result: InstallResult): void {
    const r = this.byOp(id);
    if (!r) return;
    this.dropRunning(r);
    this.installed(r.job, result);
  }
  onVerifyDone(id: number, resultCode: number): void {
    const r = this.byOp(id);
    if (!r || !r.verify) return;
    this.dropRunning(r);
    if (resultCode === RC_SUCCESS) this.verified(r.job);
    else {
      const code = resultCode >= 1400 && resultCode < 1600 ? resultCode : RC_VALIDATION_FAILED;
      this.verifyFailed(r.job, code, 'package signature does not verify (' + resultCode + ')');
    }
  }
  onComponentOpDone(id: number, resultCode: number): void {
    const r = this.byOp(id);
    if (!r) return;
    this.dropRunning(r);
    this.componentOpDone(r.job, resultCode);
  }

  /** Deployed components, read from the tree (for status displays). */
  deployed(): { id: string; name: string; version: string; active: boolean }[] {
    const out: { id: string; name: string; version: string; active: boolean }[] = [];
    const d = this.tree.find(this.root + '/Inventory/Deployed');
    const kids = d && d.kids ? d.kids : [];
    for (let i = 0; i < kids.length; i++) {
      const base = this.nodeUri('Deployed', kids[i].name);
      out.push({
        id: this.text(base + '/ID'),
        name: this.text(base + '/Name'),
        version: this.text(base + '/Version'),
        active: this.text(base + '/State') === String(DP_STATE_ACTIVE),
      });
    }
    return out;
  }

  progress(jobId: string): { done: number; total: number } | undefined {
    const r = this.runningOf(jobId);
    if (!r || !r.dl) return undefined;
    const p = r.dl.progress();
    return { done: p.received, total: p.total || 0 };
  }

  // ---- the plug-in ----

  private plugin(): MoPlugin {
    const self = this;
    return {
      exec: this.exec.bind(this),
      allow: this.allow.bind(this),
      changed: this.changed.bind(this),
      hidden: function (rel) { return DELIVERED_DATA.test(rel); },
      set: function (rel, data, meta) {
        const m = DELIVERED_DATA.exec(rel);
        if (!m) return undefined;
        // A package small enough for one message: store it like a one-chunk large object.
        let bytes: Uint8Array | null;
        if (meta && meta.format === 'b64') {
          if (typeof data === 'string') bytes = base64Decode(data);
          else { const d = createB64Stream(); bytes = d.push(data); if (!d.end()) bytes = null; }
        } else bytes = typeof data === 'string' ? utf8Encode(data) : data;
        if (!bytes) return 400;
        const key = pkgKey(m[1]);
        const P = self.ports.packages;
        if (P.open(key) !== 'ok') return 500;
        P.truncate(key, 0);
        const st = P.append(key, bytes);
        if (st !== 'ok') return appendFailure(st);
        P.sync(key);
        return 200;
      },
      openLargeObject: function (rel, totalSize, meta) {
        const m = DELIVERED_DATA.exec(rel);
        if (!m) return undefined;
        return self.packageSink(pkgKey(m[1]), !!(meta && meta.format === 'b64'));
      },
    };
  }

  private packageSink(key: string, b64: boolean): LargeObjectSink | number {
    const P = this.ports.packages;
    if (P.open(key) !== 'ok') return 500;
    P.truncate(key, 0);
    const dec = b64 ? createB64Stream() : null;
    return {
      write: function (chunk) {
        const bytes = dec ? dec.push(chunk) : chunk;
        if (!bytes) return 400;
        const st = bytes.length ? P.append(key, bytes) : 'ok';
        if (st !== 'ok') return appendFailure(st);
        return 213;
      },
      finish: function () {
        if (dec && !dec.end()) return 400;
        return P.sync(key) === 'ok' ? 200 : 500;
      },
      abort: function () { P.remove(key); },
    };
  }

  private allow(op: TreeOp, rel: string): number {
    if (this.local) return 0;
    const segs = rel.split('/');
    // Deployed components are the device's to create and delete (through Install / Remove).
    if (segs[0] === 'Inventory' && segs[1] === 'Deployed' && segs.length >= 3) {
      return op === 'Replace' && segs.length === 4 && segs[3] === 'Description' ? 0 : 405;
    }
    // Status and State leaves and the Operations subtrees are maintained by the client.
    if (segs.length >= 3 && (segs[0] === 'Download' || segs[1] === 'Delivered')) {
      const leaf = segs[0] === 'Download' ? segs[2] : segs[3];
      if (leaf === 'Status' || leaf === 'State' || leaf === 'Operations') return 405;
    }
    if (op === 'Delete' && segs.length === 2 && segs[0] === 'Download') {
      const j = this.jobOnNode('Download', segs[1]);
      if (j && j.phase !== 'reporting') this.cancel(j);
    }
    return 0;
  }

  private changed(op: TreeOp, rel: string): void {
    if (this.local || op !== 'Add') return;
    const segs = rel.split('/');
    if (segs.length === 2 && segs[0] === 'Download') {
      this.writeTree(this.root + '/' + rel, [intLeaf('Status', DL_IDLE)], DOWNLOAD_OPS);
    } else if (segs.length === 3 && segs[0] === 'Inventory' && segs[1] === 'Delivered') {
      this.writeTree(this.root + '/' + rel, statusAndState(DV_IDLE, DV_STATE_DELIVERED), DELIVERED_OPS);
    }
  }

  private exec(rel: string, req: ExecRequest, serverId: string): number {
    const segs = rel.split('/');
    let kind: 'Download' | 'Delivered' | 'Deployed';
    let node: string, prim: string;
    if (segs.length === 4 && segs[0] === 'Download' && segs[2] === 'Operations') {
      kind = 'Download'; node = segs[1]; prim = segs[3];
      if (DOWNLOAD_OPS.indexOf(prim) < 0) return 405;
    } else if (segs.length === 5 && segs[0] === 'Inventory' && segs[3] === 'Operations' && (segs[1] === 'Delivered' || segs[1] === 'Deployed')) {
      kind = segs[1] as 'Delivered' | 'Deployed'; node = segs[2]; prim = segs[4];
      if ((kind === 'Delivered' ? DELIVERED_OPS : DEPLOYED_OPS).indexOf(prim) < 0) return 405;
    } else return 405;
    const base = this.nodeUri(kind, node);
    // Pre-conditions (as deployed clients enforce them): 412 incomplete when a required leaf is missing.
    if (kind === 'Download' && (!this.text(base + '/PkgURL') || !this.text(base + '/PkgID'))) return 412;
    if (kind === 'Delivered' && prim !== 'Remove' && this.ports.packages.size(pkgKey(node)) === 0) return 412;
    const busy = this.jobOnNode(kind, node);
    if (busy && busy.phase !== 'reporting') return 409;
    const op: Operation = kind === 'Delivered' && prim === 'Remove' ? 'RemoveDelivered' : prim as Operation;
    const job: Job = {
      id: 'j' + (this.seq++),
      op,
      node,
      source: this.root + '/' + rel,
      serverId,
      phase: 'queued',
    };
    if (req.correlator !== undefined) job.correlator = req.correlator;
    if (kind === 'Deployed') job.componentId = this.text(base + '/ID') || node;
    // Durable before the 202 goes out: a reboot right after still runs (or fails) this job.
    this.journal.save(job);
    this.logJob(job, op + ' on ' + kind + '/' + node + ' accepted');
    return 202;
  }

  // ---- running jobs ----

  private start(j: Job): void {
    if (j.phase === 'verifying') {
      this.startVerify(j);
      return;
    }
    switch (j.op) {
      case 'Download': case 'DownloadInstall': case 'DownloadInstallInactive':
        if (j.phase === 'installing') return; // resolved in boot()
        this.startDownload(j);
        return;
      case 'Install': case 'InstallInactive':
        j.storageKey = pkgKey(j.node);
        this.verifyThen(j, this.text(this.deliveredUri(j) + '/Ext/Signature'));
        return;
      default:
        this.startComponentOp(j);
    }
  }

  private startDownload(j: Job): void {
    const base = this.downloadUri(j);
    const url = this.text(base + '/PkgURL');
    j.phase = 'downloading';
    j.storageKey = pkgKey(j.node);
    this.journal.save(j);
    this.setStatus(base, DL_DOWNLOAD_PROGRESSING);
    const key = j.storageKey;
    const P = this.ports.packages;
    const sync = function () { return P.sync(key); };
    const storage: DlStorage = {
      open: function () { return P.open(key); },
      append: function (b) { return P.append(key, b); },
      size: function () { return P.size(key); },
      truncate: function (n) { return P.truncate(key, n); },
      sync: sync,
      // The host's PackageStorage has no finalize step of its own: a last sync ends the download.
      finalize: sync,
    };
    const dl = new DownloadEngine({
      url,
      resumeFrom: j.checkpoint,
      maxRetries: this.opts.maxRetries,
      backoffBaseMs: this.opts.backoffBaseMs,
      hash: this.ports.nativeSha256 ? nativeHashPort(P, key) : pureSha256Port,
    }, storage);
    const r: Running = { job: j, dl, http: [] };
    this.running.push(r);
    this.act(r, dl.start());
  }

  private feedHttp(hostId: number, ev: DownloadEvent): void {
    const r = this.byHost(hostId);
    if (!r || !r.dl) return;
    // Host ids are unique (nextId), so exactly one entry matches; a finished request is forgotten.
    for (let i = 0; i < r.http.length; i++) {
      if (r.http[i].host !== hostId) continue;
      (ev as { id?: number }).id = r.http[i].req;
      if (ev.type === 'http-end' || ev.type === 'http-error') r.http.splice(i, 1);
      break;
    }
    this.act(r, r.dl.handle(ev));
  }

  private act(r: Running, actions: DownloadAction[]): void {
    for (let i = 0; i < actions.length; i++) {
      const a = actions[i];
      if (a.type === 'http-request') {
        const id = this.ports.nextId();
        r.http.push({ host: id, req: a.id });
        this.ports.httpRequest(id, { method: 'GET', url: a.url, headers: a.headers });
      } else if (a.type === 'http-abort') {
        for (let k = 0; k < r.http.length; k++) {
          if (r.http[k].req === a.id) { this.ports.httpCancel(r.http[k].host); r.http.splice(k, 1); break; }
        }
      } else if (a.type === 'wait') {
        r.timer = this.ports.nextId();
        this.ports.setTimer(r.timer, a.ms);
      } else if (a.type === 'checkpoint') {
        r.job.checkpoint = a.checkpoint;
        this.journal.save(r.job);
        const p = r.dl!.progress();
        this.logJob(r.job, 'downloaded ' + p.received + (p.total ? ' of ' + p.total : '') + ' bytes');
      } else if (a.type === 'done') {
        this.dropRunning(r);
        this.downloaded(r.job, a.outcome);
        return;
      }
    }
  }

  private downloaded(j: Job, o: DownloadOutcome): void {
    const base = this.downloadUri(j);
    j.checkpoint = undefined;
    if (o.installNotifyURI) j.notifyUri = o.installNotifyURI;
    if (!o.ok) {
      this.downloadFailed(j, o.cancelled ? RC_CANCELLED_BY_SERVER : o.resultCode, o.reason);
      return;
    }
    if (o.sha256) j.sha256 = o.sha256;
    if (o.type) j.pkgType = o.type;
    // The DD's signature travelled with the package; a server may also have set the leaf.
    this.verifyThen(j, o.signature || this.text(base + '/Ext/Signature'));
  }

  private downloadFailed(j: Job, code: number, reason: string): void {
    const base = this.downloadUri(j);
    if (j.storageKey) this.ports.packages.remove(j.storageKey);
    this.setStatus(base, DL_DOWNLOAD_FAILED);
    this.report(j, code, base, this.text(base + '/PkgID'), reason);
  }

  /** Goes through 'verifying' when the package is signed (or must be), else straight on. */
  private verifyThen(j: Job, signature: string): void {
    if (!signature && !this.opts.requireSignature) {
      this.verified(j);
      return;
    }
    j.phase = 'verifying';
    if (signature) j.signature = signature;
    this.journal.save(j);
    this.startVerify(j);
  }

  private startVerify(j: Job): void {
    if (!j.signature) {
      this.verifyFailed(j, RC_VALIDATION_FAILED, 'package is not signed and this device requires signed packages');
      return;
    }
    const sig = parseSignature(j.signature);
    if (!sig.ok) {
      this.verifyFailed(j, RC_VALIDATION_FAILED, sig.message);
      return;
    }
    if (!this.ports.verifyPackage) {
      this.verifyFailed(j, RC_VALIDATION_FAILED, 'package is signed but this device has no signature verifier');
      return;
    }
    const key = j.storageKey || pkgKey(j.node);
    const req: VerifyRequest = {
      pkgId: this.pkgIdOf(j),
      storageKey: key,
      size: this.ports.packages.size(key),
      alg: sig.sig.alg,
      signature: sig.sig.value,
    };
    if (j.sha256) req.sha256 = j.sha256;
    const r = this.hostOp(j, true);
    this.logJob(j, 'verifying the ' + sig.sig.alg + ' signature of ' + req.pkgId);
    this.ports.verifyPackage(r.opId!, req);
  }

  private verified(j: Job): void {
    if (j.op === 'Install' || j.op === 'InstallInactive') this.startInstall(j, j.storageKey || pkgKey(j.node));
    else this.delivered(j);
  }

  private verifyFailed(j: Job, code: number, reason: string): void {
    if (j.op === 'Install' || j.op === 'InstallInactive') {
      // The data stays for the server to Remove (or to re-sign and Install again).
      j.identifier = this.text(this.deliveredUri(j) + '/PkgID') || j.node;
      this.installFailed(j, code, reason);
    } else this.downloadFailed(j, code, reason);
  }

  /** A downloaded (and verified) package becomes a Delivered DP; DownloadInstall* go on to install. */
  private delivered(j: Job): void {
    const base = this.downloadUri(j);
    // The DP moves to Inventory/Delivered/<X> (same name), carrying its descriptive leaves.
    const dv = this.deliveredUri(j);
    const leaves = statusAndState(DV_IDLE, DV_STATE_DELIVERED);
    const copy = ['PkgID', 'Name', 'Description', 'PkgType', 'EnvType', 'InstallParams'];
    for (let i = 0; i < copy.length; i++) {
      const v = this.tree.readLocal(base + '/' + copy[i]);
      if (v !== undefined) leaves.push([copy[i], 'chr', typeof v === 'string' ? v : '']);
    }
    if (!this.text(base + '/PkgType') && j.pkgType) leaves.push(['PkgType', 'chr', j.pkgType]);
    // A later Install checks the same signature again, whichever way it arrived.
    if (j.signature) leaves.push(['Ext/Signature', 'chr', j.signature]);
    this.writeTree(dv, leaves, DELIVERED_OPS);
    this.setStatus(base, DL_DOWNLOAD_COMPLETE);
    if (j.op === 'Download') {
      this.report(j, RC_SUCCESS, dv, this.text(base + '/PkgID'), 'downloaded ' + this.ports.packages.size(j.storageKey!) + ' bytes');
      return;
    }
    this.setStatus(base, DL_INSTALL_PROGRESSING);
    this.startInstall(j, j.storageKey!);
  }

  private startInstall(j: Job, key: string): void {
    const dv = this.deliveredUri(j);
    const activate = j.op === 'Install' || j.op === 'DownloadInstall';
    j.phase = 'installing';
    j.storageKey = key;
    const pkgId = this.pkgIdOf(j);
    j.identifier = pkgId;
    this.journal.save(j);
    this.setStatus(dv, DV_INSTALL_PROGRESSING);
    const req: InstallRequest = {
      pkgId,
      pkgType: this.text(dv + '/PkgType') || this.opts.defaultPkgType || 'application/x-tar',
      storageKey: key,
      size: this.ports.packages.size(key),
      activate,
    };
    const env = this.text(dv + '/EnvType');
    if (env) req.envType = env;
    const ip = this.text(dv + '/InstallParams');
    if (ip) req.installParams = ip;
    const r = this.hostOp(j);
    this.ports.install(r.opId!, req);
  }

  private installed(j: Job, res: InstallResult): void {
    if (res.resultCode !== RC_SUCCESS || !res.component) {
      this.installFailed(j, res.resultCode === RC_SUCCESS ? RC_INSTALL_FAILED : res.resultCode, 'installer reported ' + res.resultCode);
      return;
    }
    const c = res.component;
    const name = segment(c.id);
    const dp = this.nodeUri('Deployed', name);
    const active = j.op === 'Install' || j.op === 'DownloadInstall';
    const leaves: Leaf[] = [
      ['ID', 'chr', c.id], ['PkgIDRef', 'chr', j.identifier || ''], ['Name', 'chr', c.name], ['Version', 'chr', c.version],
    ];
    leaves.push.apply(leaves, statusAndState(DP_IDLE, active ? DP_STATE_ACTIVE : DP_STATE_INACTIVE));
    if (c.description) leaves.push(['Description', 'chr', c.description]);
    j.componentId = c.id;
    this.writeTree(dp, leaves, DEPLOYED_OPS);
    const dv = this.deliveredUri(j);
    if (this.tree.find(dv)) this.writeTree(dv, statusAndState(DV_IDLE, DV_STATE_INSTALLED), []);
    if (j.op === 'DownloadInstall' || j.op === 'DownloadInstallInactive') this.setStatus(this.downloadUri(j), DL_IDLE);
    // The DP's bytes are spent once installed: free the storage.
    if (j.storageKey) this.ports.packages.remove(j.storageKey);
    this.report(j, RC_SUCCESS, dp, c.id, 'installed ' + c.id + ' ' + c.version);
  }

  private installFailed(j: Job, code: number, reason: string): void {
    const dv = this.deliveredUri(j);
    this.setStatus(dv, DV_INSTALL_FAILED_WITH_DATA);
    if (j.op === 'DownloadInstall' || j.op === 'DownloadInstallInactive') this.setStatus(this.downloadUri(j), DL_INSTALL_FAILED_WITH_DATA);
    this.report(j, code, this.tree.find(dv) ? dv : this.downloadUri(j), j.identifier || j.node, reason);
  }

  private startComponentOp(j: Job): void {
    j.phase = 'component-op';
    this.journal.save(j);
    const r = this.hostOp(j);
    if (j.op === 'RemoveDelivered') {
      // Deleting a DP is the device's own business: no installer involved.
      this.dropRunning(r);
      this.componentOpDone(j, RC_SUCCESS);
      return;
    }
    const dp = this.nodeUri('Deployed', j.node);
    this.setStatus(dp, j.op === 'Activate' ? DP_ACTIVATE_PROGRESSING : j.op === 'Deactivate' ? DP_DEACTIVATE_PROGRESSING : DP_REMOVE_PROGRESSING);
    // The host's operation names are the primitives' (Activate, Deactivate, Remove) in lower case.
    const hostOp = j.op.toLowerCase() as 'activate' | 'deactivate' | 'remove';
    this.ports.componentOp(r.opId!, hostOp, j.componentId || j.node);
  }

  private componentOpDone(j: Job, code: number): void {
    const ok = code === RC_SUCCESS;
    if (j.op === 'RemoveDelivered') {
      const dv = this.deliveredUri(j);
      this.ports.packages.remove(pkgKey(j.node));
      this.deleteLocal(dv);
      this.report(j, RC_SUCCESS, dv, this.text(dv + '/PkgID') || j.node, 'delivered package removed');
      return;
    }
    const dp = this.nodeUri('Deployed', j.node);
    if (j.op === 'Remove') {
      if (ok) this.deleteLocal(dp);
      else this.setStatus(dp, DP_REMOVE_FAILED);
      this.report(j, ok ? RC_SUCCESS : code || RC_REMOVE_FAILED, dp, j.componentId || j.node, ok ? 'removed' : 'remove failed');
      return;
    }
    const activate = j.op === 'Activate';
    if (ok) this.writeTree(dp, statusAndState(DP_IDLE, activate ? DP_STATE_ACTIVE : DP_STATE_INACTIVE), []);
    else this.setStatus(dp, activate ? DP_ACTIVATE_FAILED : DP_DEACTIVATE_FAILED);
    this.report(j, ok ? RC_SUCCESS : code || (activate ? RC_ACTIVATE_FAILED : RC_DEACTIVATE_FAILED), dp, j.componentId || j.node, j.op + (ok ? ' done' : ' failed'));
  }

  private cancel(j: Job): void {
    const r = this.runningOf(j.id);
    if (r && r.dl) {
      this.act(r, r.dl.handle({ type: 'cancel' }));
      return;
    }
    if (r && r.verify) {
      this.dropRunning(r);
      this.downloadFailed(j, RC_CANCELLED_BY_SERVER, 'cancelled while verifying the signature');
      return;
    }
    if (!r && j.phase === 'queued') this.report(j, RC_CANCELLED_BY_SERVER, this.downloadUri(j), j.node, 'cancelled before start');
  }

  /** Durably moves the job to 'reporting' with its outcome, and asks for a session to send it. */
  private report(j: Job, code: number, target: string, identifier: string, reason: string): void {
    j.phase = 'reporting';
    j.resultCode = code;
    j.target = target;
    j.identifier = identifier;
    j.reason = reason;
    j.checkpoint = undefined;
    this.journal.save(j);
    this.ports.log(code === RC_SUCCESS ? 'info' : 'warn', 'job ' + j.id + ' ' + j.op + ' -> ' + code + ' (' + reason + ')');
    if (j.notifyUri) {
      // Best effort, once: the Generic Alert is the report that must arrive; nothing waits for this one.
      const status = dlotaStatus(code, reason);
      this.ports.httpRequest(this.ports.nextId(), { method: 'POST', url: j.notifyUri, headers: { 'Content-Type': 'text/plain' }, body: utf8Encode(status) });
      this.logJob(j, 'status report "' + status + '" to ' + j.notifyUri);
    }
    this.ports.alertPending();
  }

  private finalAlert(j: Job): ClientAlert {
    const item: Item = {
      source: { locURI: j.source },
      meta: { type: SCOMO_ALERT_TYPE, format: 'xml', mark: j.resultCode === RC_SUCCESS ? 'informational' : 'warning' },
      data: '<ResultCode>' + j.resultCode + '</ResultCode><Identifier>' + esc(j.identifier || '') + '</Identifier>',
    };
    if (j.target) item.target = { locURI: j.target };
    const a: ClientAlert = { code: 1226, items: [item], tag: j.id };
    if (j.correlator !== undefined) a.correlator = j.correlator;
    return a;
  }

  // ---- tree helpers (local writes bypass ACLs and our own veto) ----

  private nodeUri(kind: 'Download' | 'Delivered' | 'Deployed', node: string): string {
    return this.root + (kind === 'Download' ? '/Download/' : '/Inventory/' + kind + '/') + node;
  }

  private downloadUri(j: Job): string {
    return this.nodeUri('Download', j.node);
  }

  private deliveredUri(j: Job): string {
    return this.nodeUri('Delivered', j.node);
  }

  /** The package's PkgID: from the Delivered node, else the Download node, else the node name. */
  private pkgIdOf(j: Job): string {
    return this.text(this.deliveredUri(j) + '/PkgID') || this.text(this.downloadUri(j) + '/PkgID') || j.node;
  }

  private text(uri: string): string {
    const v = this.tree.readLocal(uri);
    return typeof v === 'string' ? v : '';
  }

  private setStatus(base: string, code: number): void {
    if (this.tree.find(base)) this.writeTree(base, [intLeaf('Status', code)], []);
  }

  /** Creates `base` if needed and writes leaves and Operations children in one tree transaction. */
  private writeTree(base: string, leaves: Leaf[], ops: string[]): void {
    const t = this.tree;
    this.local = true;
    try {
      t.begin();
      if (!t.find(base)) t.add(LOCAL_ID, base, { format: 'node' }, undefined);
      for (let i = 0; i < leaves.length; i++) {
        const uri = base + '/' + leaves[i][0];
        const meta = { format: leaves[i][1] };
        if (t.find(uri)) t.replace(LOCAL_ID, uri, meta, leaves[i][2]);
        else t.add(LOCAL_ID, uri, meta, leaves[i][2]);
      }
      for (let i = 0; i < ops.length; i++) {
        const uri = base + '/Operations/' + ops[i];
        if (!t.find(uri)) t.add(LOCAL_ID, uri, { format: 'null', type: 'text/plain' }, undefined);
      }
      if (!t.commit()) this.ports.log('error', 'could not persist ' + base);
    } finally {
      this.local = false;
    }
  }

  private deleteLocal(uri: string): void {
    this.local = true;
    try { if (this.tree.find(uri)) this.tree.delete(LOCAL_ID, uri); } finally { this.local = false; }
  }

  private jobOnNode(kind: 'Download' | 'Delivered' | 'Deployed', node: string): Job | undefined {
    const prefix = this.nodeUri(kind, node) + '/';
    const jobs = this.journal.jobs;
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i];
      if (j.source.substring(0, prefix.length) === prefix) return j;
    }
    return undefined;
  }

  private runningOf(id: string): Running | undefined {
    for (let i = 0; i < this.running.length; i++) if (this.running[i].job.id === id) return this.running[i];
    return undefined;
  }
  private byHost(id: number): Running | undefined {
    for (let i = 0; i < this.running.length; i++) {
      const h = this.running[i].http;
      for (let k = 0; k < h.length; k++) if (h[k].host === id) return this.running[i];
    }
    return undefined;
  }
  private byTimer(id: number): Running | undefined {
    for (let i = 0; i < this.running.length; i++) if (this.running[i].timer === id) return this.running[i];
    return undefined;
  }
  private byOp(id: number): Running | undefined {
    for (let i = 0; i < this.running.length; i++) if (this.running[i].opId === id) return this.running[i];
    return undefined;
  }
  /** An informational log line about one job's progress. */
  private logJob(j: Job, text: string): void {
    this.ports.log('info', 'job ' + j.id + ': ' + text);
  }

  /** Registers a job's pending host operation (signature check, install, component op) under a fresh id. */
  private hostOp(j: Job, verify?: boolean): Running {
    const r: Running = { job: j, http: [], opId: this.ports.nextId() };
    if (verify) r.verify = true;
    this.running.push(r);
    return r;
  }

  private dropRunning(r: Running): void {
    if (r.timer !== undefined) this.ports.clearTimer(r.timer);
    for (let i = 0; i < r.http.length; i++) this.ports.httpCancel(r.http[i].host);
    r.http = [];
    const k = this.running.indexOf(r);
    if (k >= 0) this.running.splice(k, 1);
  }
}

/**
 * SHA-256 through the host's native hash. Its state cannot be serialised, so the checkpoint
 * records only how many bytes it covers; after a reboot the stored prefix is re-hashed (at
 * native speed) instead of downloading it again.
 */
function nativeHashPort(P: HostPackages, key: string): HashPort {
  function wrap(h: { update(d: Uint8Array): void; digest(): Uint8Array }, count: number) {
    let n = count;
    return {
      update: function (d: Uint8Array) { h.update(d); n += d.length; },
      digest: function () { return h.digest(); },
      save: function () { return 'n1:' + n; },
    };
  }
  return {
    create: function () { return wrap(createSha256(), 0); },
    restore: function (saved: string) {
      const m = /^n1:([0-9]{1,15})$/.exec(saved);
      if (!m) return null;
      const n = parseInt(m[1], 10);
      if (P.size(key) < n) return null;
      const h = createSha256();
      for (let off = 0; off < n; off += 65536) h.update(P.read(key, off, Math.min(65536, n - off)));
      return wrap(h, n);
    },
  };
}

function intLeaf(name: string, value: number): Leaf {
  return [name, 'int', String(value)];
}

/** The Status and State leaves every Inventory node carries. */
function statusAndState(status: number, state: number): Leaf[] {
  return [intLeaf('Status', status), intLeaf('State', state)];
}

/** SyncML status for a failed package-storage append: 420 (device full) or 500. */
function appendFailure(status: string): number {
  return status === 'no-space' ? 420 : 500;
}

function pkgKey(node: string): string {
  return 'dp-' + node;
}

/** A component id as a DM node name: no '/', '?', or characters outside printable ASCII. */
function segment(id: string): string {
  const s = id.replace(/[^A-Za-z0-9._~-]/g, '_');
  return s || '_';
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
