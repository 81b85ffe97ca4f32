// Webhooks (docs/api.md "Webhooks"): the management infrastructure registers a URL and learns
// job outcomes by push. Each job state change a webhook subscribes to becomes one delivery in a
// durable outbox (SQLite: store-sqlite.ts, PostgreSQL: store-postgres.ts, same contract); the
// dispatcher (dispatcher.ts) claims due deliveries under a lease, POSTs them and records the result.

/** Job states a webhook may subscribe to by name; "*" is every state change. */
export const WEBHOOK_EVENTS = ['accepted', 'succeeded', 'failed'] as const;
export const DEFAULT_WEBHOOK_EVENTS = ['succeeded', 'failed'];
export const MAX_WEBHOOK_URL = 2048;
export const MAX_WEBHOOK_SECRET = 256;
/** Deliveries shown with `GET /api/webhooks/{id}`. */
export const RECENT_DELIVERIES = 50;

export interface Webhook {
  webhookId: string;
  url: string;
  /** Job states ("accepted", "succeeded", "failed") or ["*"]. */
  events: string[];
  /** HMAC-SHA256 key of `X-Scomo-Signature-256`; never shown by the API. */
  secret?: string;
  createdAt: number;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface Delivery {
  deliveryId: string;
  webhookId: string;
  /** "job.<state>". */
  event: string;
  jobId: string;
  /** The job state the event is about; (webhookId, jobId, state) is unique. */
  state: string;
  status: DeliveryState;
  attempts: number;
  /** HTTP status of the last attempt; null when it got none (network error, timeout). */
  lastStatus: number | null;
  lastError: string | null;
  /** When the next attempt is due (pending only). */
  nextAt: number | null;
  deliveredAt: number | null;
  createdAt: number;
}

/** A delivery claimed for sending: what the request needs. */
export interface ClaimedDelivery {
  deliveryId: string;
  webhookId: string;
  event: string;
  url: string;
  secret: string | null;
  /** The exact body: the same bytes on every attempt, so a signature stays valid. */
  body: string;
  attempts: number;
}

/** A new delivery, written when a job enters a state. */
export interface NewDelivery {
  jobId: string;
  state: string;
  /** Builds the body once the delivery id is known. */
  body: (deliveryId: string) => string;
  at: number;
  /** When the job entered the state, for a catch-up write: webhooks registered after it get nothing. */
  changedAt?: number;
}

/** Result of one attempt: `ok` ends the delivery; otherwise it is retried at `nextAt` or, when null, failed for good. */
export interface AttemptResult {
  ok: boolean;
  status: number | null;
  error: string | null;
  nextAt: number | null;
  at: number;
}

export interface WebhookStore {
  putWebhook(w: Webhook): Promise<void>;
  getWebhook(webhookId: string): Promise<Webhook | undefined>;
  listWebhooks(): Promise<Webhook[]>;
  /** Deletes the webhook and its pending deliveries (its finished ones too). False when unknown. */
  deleteWebhook(webhookId: string): Promise<boolean>;
  /**
   * One delivery per webhook subscribed to `d.state` (or "*"). A (webhook, job, state) already
   * in the outbox is skipped: several processes may see the same change. Returns how many were written.
   */
  enqueue(d: NewDelivery): Promise<number>;
  /** Takes up to `limit` due pending deliveries for `owner` until `leaseUntil`; a crashed owner's lease runs out. */
  claim(owner: string, now: number, leaseUntil: number, limit: number): Promise<ClaimedDelivery[]>;
  /** Records an attempt of a delivery `owner` still holds (else a no-op: returns false). */
  finish(deliveryId: string, owner: string, r: AttemptResult): Promise<boolean>;
  /** Gives back `owner`'s claims without counting an attempt (clean stop). */
  release(owner: string): Promise<void>;
  /** Deletes finished (delivered or failed) deliveries created before `before`; returns how many. */
  prune(before: number): Promise<number>;
  /** Newest first. */
  listDeliveries(webhookId: string, limit: number): Promise<Delivery[]>;
  close(): Promise<void>;
}

/** `events` as stored: ",succeeded,failed," so one LIKE finds the subscribers of a state in SQL. */
export function eventsColumn(events: string[]): string {
  return ',' + events.join(',') + ',';
}

export function eventsFromColumn(s: string): string[] {
  return s.split(',').filter((x) => x);
}
