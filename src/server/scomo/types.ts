// The SCOMO server's job model (issue 6 §6/§7). A job is one SCOMO operation for one device;
// its state moves forward only: queued -> notified -> in-session -> accepted -> succeeded|failed.

export const OPERATIONS = [
  'Download', 'DownloadInstall', 'DownloadInstallInactive', 'Install', 'InstallInactive', 'Activate', 'Deactivate', 'Remove',
] as const;
export type JobOperation = typeof OPERATIONS[number];

export type Delivery = 'alternate' | 'dm';

export const JOB_STATES = ['queued', 'notified', 'in-session', 'accepted', 'succeeded', 'failed'] as const;
export type JobState = typeof JOB_STATES[number];

export type JobOrigin = 'api' | 'device-request';

export interface Job {
  jobId: string;
  deviceId: string;
  operation: JobOperation;
  pkgId?: string;
  componentId?: string;
  delivery: Delivery;
  origin: JobOrigin;
  state: JobState;
  /** SCOMO result code from the final alert (facts §1.4); null when the job failed without one. */
  resultCode?: number | null;
  /** Why a job failed (DM status of the refused command, unknown component, ...). */
  error?: string;
  /** DM status code of the command that failed (0 = the session ended without an answer). */
  status?: number;
  /** The correlator carried by the Exec and expected back in the final alert. */
  correlator: string;
  /** SCOMO root and the node the job's Exec runs on, once planned. */
  root?: string;
  execUri?: string;
  /** Command-queue entry carrying the job's DM commands. */
  entryId?: number;
  /** From the final alert: Source, Target, Identifier. */
  source?: string;
  target?: string;
  identifier?: string;
  /** The campaign that created this job, if any. */
  campaignId?: string;
  /** Device-request jobs: what the device asked for. */
  request?: { name: string; version?: string };
  /** Seconds the job may take from its creation; the job fails when it has no outcome by `deadline`. */
  timeoutS?: number;
  /** ms epoch: createdAt + timeoutS. Absent: no deadline (rows written before deadlines existed too). */
  deadline?: number;
  /** A final alert that arrived after the job had already timed out (it does not change the outcome). */
  lateResult?: { resultCode: number | null; at: number };
  createdAt: number;
  updatedAt: number;
  finishedAt?: number;
  history: { state: JobState; at: number }[];
}

/** Longest job timeout accepted (30 days). */
export const MAX_JOB_TIMEOUT_S = 30 * 24 * 3600;

/** The `error` of a job failed by its deadline. */
export function timeoutError(timeoutS: number): string {
  return `timed out after ${timeoutS} s`;
}

/** A job timeout as given (API body, CLI, campaign): undefined/null = none; else an integer 1..MAX_JOB_TIMEOUT_S. */
export function parseTimeoutS(v: unknown, name: string): number | undefined | { error: string } {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_JOB_TIMEOUT_S) {
    return { error: `"${name}" must be a whole number of seconds, 1..${MAX_JOB_TIMEOUT_S} (30 days)` };
  }
  return v;
}

export const TERMINAL: readonly JobState[] = ['succeeded', 'failed'];

export function isTerminal(s: JobState): boolean {
  return s === 'succeeded' || s === 'failed';
}

/**
 * A settled outcome: terminal, except a job that failed only because its session ended before
 * the Exec was answered (status 0, no result code) -- its final alert may still settle it.
 */
export function isFinalOutcome(j: Job): boolean {
  return isTerminal(j.state) && !(j.state === 'failed' && j.status === 0 && j.resultCode === null);
}

export function stateRank(s: JobState): number {
  return JOB_STATES.indexOf(s);
}

export interface DeployedComponent {
  id: string;
  name: string;
  version: string;
  state: 'active' | 'inactive';
  /** DM node name under Inventory/Deployed. */
  node: string;
  status?: number;
  description?: string;
  pkgIdRef?: string;
}

export interface DeliveredPackage {
  pkgId: string;
  name: string;
  state: 'delivered' | 'installed';
  node: string;
  status?: number;
}

export interface Inventory {
  deployed: DeployedComponent[];
  delivered: DeliveredPackage[];
  /** ms epoch of the Results this snapshot was built from. */
  updatedAt: number;
  root: string;
}

/** The public JSON form of a job (GET /api/jobs/{id}). */
export function jobView(j: Job): Record<string, unknown> {
  const v: Record<string, unknown> = {
    jobId: j.jobId, deviceId: j.deviceId, operation: j.operation, state: j.state, delivery: j.delivery, origin: j.origin,
  };
  if (j.pkgId !== undefined) v.pkgId = j.pkgId;
  if (j.campaignId !== undefined) v.campaignId = j.campaignId;
  if (j.componentId !== undefined) v.componentId = j.componentId;
  if (j.resultCode !== undefined) v.resultCode = j.resultCode;
  if (j.error !== undefined) v.error = j.error;
  if (j.status !== undefined) v.status = j.status;
  if (j.identifier !== undefined) v.identifier = j.identifier;
  if (j.target !== undefined) v.target = j.target;
  if (j.request !== undefined) v.request = j.request;
  if (j.timeoutS !== undefined) v.timeoutS = j.timeoutS;
  if (j.deadline !== undefined) v.deadline = new Date(j.deadline).toISOString();
  if (j.lateResult !== undefined) v.lateResult = { resultCode: j.lateResult.resultCode, at: new Date(j.lateResult.at).toISOString() };
  v.createdAt = new Date(j.createdAt).toISOString();
  v.updatedAt = new Date(j.updatedAt).toISOString();
  if (j.finishedAt !== undefined) v.finishedAt = new Date(j.finishedAt).toISOString();
  v.history = j.history.map((h) => ({ state: h.state, at: new Date(h.at).toISOString() }));
  return v;
}

export function inventoryView(inv: Inventory | undefined, stale: boolean): Record<string, unknown> {
  return {
    deployed: (inv?.deployed ?? []).map((d) => ({
      id: d.id, name: d.name, version: d.version, state: d.state,
      ...(d.description ? { description: d.description } : {}), ...(d.pkgIdRef ? { pkgIdRef: d.pkgIdRef } : {}),
    })),
    delivered: (inv?.delivered ?? []).map((d) => ({ pkgId: d.pkgId, name: d.name, state: d.state })),
    updatedAt: inv ? new Date(inv.updatedAt).toISOString() : null,
    stale,
  };
}
