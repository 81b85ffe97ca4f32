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

export class Journal {
  private store: RecordStore;
  jobs: Job[] = [];

  constructor(store: RecordStore) {
    this.store = store;
  }

  load(): void {
    const jobs: Job[] = [];
    this.store.replay(function (r) {
      const a = r as [string, unknown];
      if (!a || typeof a !== 'object') return;
      if (a[0] === JOB) {
        const j = a[1] as Job;
        for (let i = 0; i < jobs.length; i++) if (jobs[i].id === j.id) { jobs.splice(i, 1); break; }
        jobs.push(j);
      } else if (a[0] === DEL) {
        for (let i = 0; i < jobs.length; i++) if (jobs[i].id === a[1]) { jobs.splice(i, 1); break; }
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
    for (let i = 0; i < this.jobs.length; i++) if (this.jobs[i].id === job.id) { this.jobs[i] = job; return; }
    this.jobs.push(job);
  }

  remove(id: string): void {
    this.store.commit([[DEL, id]]);
    for (let i = 0; i < this.jobs.length; i++) if (this.jobs[i].id === id) { this.jobs.splice(i, 1); return; }
  }

  find(id: string): Job | undefined {
    for (let i = 0; i < this.jobs.length; i++) if (this.jobs[i].id === id) return this.jobs[i];
    return undefined;
  }
}

// msgpack has no `undefined`: drop absent fields so records stay small and replay equal.
function strip(job: Job): Job {
  const o: { [k: string]: unknown } = {};
  const src = job as unknown as { [k: string]: unknown };
  for (const k in src) if (src[k] !== undefined) o[k] = src[k];
  return o as unknown as Job;
}
