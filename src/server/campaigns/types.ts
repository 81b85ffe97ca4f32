// Campaigns (issue 9 §3): one SCOMO operation and package for a target set resolved at creation,
// rolled out in waves through the job engine. A wave proceeds when its success share reaches
// `successThreshold`; the campaign pauses when the failure share reaches `errorThreshold`.
import type { JobOperation, JobState } from '../scomo/types.js';

export type CampaignState = 'running' | 'paused' | 'completed' | 'cancelled';

/** Install inside [start, end) local time of `tz` (UTC, ±HH:MM or an IANA zone); crosses midnight when start > end. */
export interface MaintenanceWindow {
  start: string;
  end: string;
  tz: string;
}

/**
 * One device of a campaign. `state` is where it is: 'pending' (its wave has not started),
 * a job state of its current job, 'downloaded' (window campaigns: package delivered, waiting
 * for the window to install), or 'cancelled' (no job was started, or the install was skipped).
 */
export type TargetState = 'pending' | JobState | 'downloaded' | 'cancelled';

/** Target states that are an end: the campaign does nothing more for that device. */
export const TARGET_DONE: readonly TargetState[] = ['succeeded', 'failed', 'cancelled'];

export interface CampaignTarget {
  deviceId: string;
  /** 0-based wave index. */
  wave: number;
  state: TargetState;
  /** The job now followed (the Download job, then the Install job for window campaigns). */
  jobId?: string;
  /** Window campaigns: the Download job. */
  downloadJobId?: string;
  error?: string;
  resultCode?: number | null;
  updatedAt: number;
}

export interface Campaign {
  campaignId: string;
  operation: JobOperation;
  pkgId?: string;
  componentId?: string;
  delivery: 'alternate' | 'dm';
  target: { devices?: string[]; tags?: string[] };
  /** Wave sizes; their sum is the number of targets. */
  waves: number[];
  successThreshold: number;
  errorThreshold: number;
  window?: MaintenanceWindow;
  /** Most unfinished jobs of the campaign at once (default 200). */
  maxInFlight?: number;
  /** `timeoutS` of every job the campaign creates (default: the server's job timeout). */
  jobTimeoutS?: number;
  /** The targets were put in random order before the split into waves (early waves are a sample, not the first ids). */
  shuffle?: boolean;
  state: CampaignState;
  /** Why the campaign is paused / how it ended. */
  reason?: string;
  /** Index of the last wave started (-1: none yet). */
  currentWave: number;
  /** Failed / finished counts when the operator last resumed: the error share counts what finished after. */
  errorBaseline: { failed: number; finished: number };
  /**
   * Which server process drives the campaign, until when (renewed every poll). Another process
   * takes a running or paused campaign over only when the lease ran out (its driver died).
   */
  lease?: { owner: string; until: number };
  /** A finished wave the operator resumed past although it fell short of successThreshold. */
  approvedWave?: number;
  createdAt: number;
  updatedAt: number;
  finishedAt?: number;
  history: { state: CampaignState | 'wave'; at: number; wave?: number; reason?: string }[];
}

/** Durable campaign state. SQLite: store-sqlite.ts; PostgreSQL: store-postgres.ts (same contract). */
export interface CampaignStore {
  putCampaign(c: Campaign): Promise<void>;
  getCampaign(campaignId: string): Promise<Campaign | undefined>;
  /** Newest first; `activeOnly`: running or paused. */
  listCampaigns(opts?: { activeOnly?: boolean; limit?: number }): Promise<Campaign[]>;
  /** Inserts or replaces targets of a campaign (keyed by campaignId + deviceId). */
  putTargets(campaignId: string, targets: CampaignTarget[]): Promise<void>;
  listTargets(campaignId: string): Promise<CampaignTarget[]>;
  /** Replaces the device's tags. */
  setTags(deviceId: string, tags: string[]): Promise<void>;
  getTags(deviceId: string): Promise<string[]>;
  /**
   * The device's targets not finished (state other than succeeded, failed, cancelled) in running
   * or paused campaigns, with their campaign's state: what keeps the device from being removed.
   */
  unfinishedTargetsOf(deviceId: string): Promise<{ campaignId: string; campaignState: CampaignState; target: CampaignTarget }[]>;
  /** Devices carrying at least one of `tags`, sorted. */
  devicesWithAnyTag(tags: string[]): Promise<string[]>;
  close(): Promise<void>;
}
