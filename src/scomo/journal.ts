// The durable job journal: one small record per job step, in its own store region, so a power
// cut at any point leaves each job in a known phase that boot() resumes or fails.
import type { RecordStore } from '../store/api.js';
import type { Operation } from './constants.js';
import type { DownloadCheckpoint } from './download/types.js';

export type JobPhase =
  | 'queued'        // accepted (202 sent); nothing done yet
  | 'downloading'   // alternate download in progress; `checkpoint` says how far
  | 'verifying'     // package signature being checked (host hook); after a reboot check again
  | 'installing'    // installer hook called; after a reboot ask whether it committed
  | 'component-op'  // activate / deactivate / remove hook called
  | 'reporting';    // outcome known; the final alert is pending until the server acknowledges it

export interface Job {
  id: string;
  op: Operation;
  /** Name of the <X> node the primitive was executed on. */
  node: string;
  /** URI of the executed primitive (alert Item Source). */
  source: string;
  correlator?: string;
  serverId: string;
  phase: JobPhase;
  checkpoint?: DownloadCheckpoint;
  /** Storage key of the package bytes. */
  storageKey?: string;
  /** Deployed component id this job affects (known after install, or from the start for Deployed ops). */
  componentId?: string;
  resultCode?: number;
  /** Alert Item Target (the affected node) and Data Identifier. */
  target?: string;
  identifier?: string;
  reason?: string;
  /** Package signature (`<alg>:<base64>`) checked in 'verifying'. */
  signature?: string;
  /** Hex SHA-256 of the downloaded package, handed to the signature verifier. */
  sha256?: string;
  /** MIME type the download server gave, used as PkgType when the server set none. */
  pkgType?: string;
  /** The DD's installNotifyURI: the outcome is also POSTed there (OMA DLOTA status report). */
  notifyUri?: string;
}

const JOB = 'j', DEL = 'd';

// Fields `declare`d and assigned in the constructor: see ScomoEngine.
export class Journal {
  private declare store: RecordStore;
  declare jobs: Job[];

  constructor(store: RecordStore) {
    this.store = store;
    this.jobs = [];
  }

  load(): void {
    const jobs: Job[] = [];
    this.store.replay(function (r) {
      const a = r as [string, unknown];
      if (!a || typeof a !== 'object') return;
      if (a[0] === JOB) {
        const j = a[1] as Job;
        removeJob(jobs, j.id);
        jobs.push(j);
      } else if (a[0] === DEL) {
        removeJob(jobs, a[1] as string);
      }
    });
    this.jobs = jobs;
  }

  /** Compaction: the live jobs are the whole state. */
  snapshot(emit: (r: unknown) => void): void {
    for (let i = 0; i < this.jobs.length; i++) emit([JOB, this.jobs[i]]);
  }

  /** Durably records the job's current fields (insert or replace). */
  save(job: Job): void {
    this.store.commit([[JOB, strip(job)]]);
    const k = indexOfJob(this.jobs, job.id);
    if (k >= 0) this.jobs[k] = job;
    else this.jobs.push(job);
  }

  remove(id: string): void {
    this.store.commit([[DEL, id]]);
    removeJob(this.jobs, id);
  }

  find(id: string): Job | undefined {
    const k = indexOfJob(this.jobs, id);
    return k >= 0 ? this.jobs[k] : undefined;
  }
}

function indexOfJob(jobs: Job[], id: string): number {
  for (let i = 0; i < jobs.length; i++) if (jobs[i].id === id) return i;
  return -1;
}

function removeJob(jobs: Job[], id: string): void {
  const k = indexOfJob(jobs, id);
  if (k >= 0) jobs.splice(k, 1);
}

// msgpack has no `undefined`: drop absent fields so records stay small and replay equal.
function strip(job: Job): Job {
  const o: { [k: string]: unknown } = {};
  const src = job as unknown as { [k: string]: unknown };
  for (const k in src) if (src[k] !== undefined) o[k] = src[k];
  return o as unknown as Job;
}
