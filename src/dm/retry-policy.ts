// Bounded exponential back-off as data: the engine has no timers, so the driver asks how long
// to wait before attempt N and stops when told to.

export interface RetryPolicy {
  /** Delay before the first retry, ms. */
  baseMs: number;
  /** Cap on any one delay, ms. */
  maxMs: number;
  /** Growth per attempt. */
  factor: number;
  /** Retries allowed after the first try. */
  maxRetries: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 2000, maxMs: 300000, factor: 2, maxRetries: 5 };

/**
 * Delay in ms before retry number `attempt` (1 = first retry), or -1 when the policy says give
 * up. `jitter` in [0, 1) (the host's randomness) spreads a fleet's retries over [d/2, d).
 */
export function nextRetryDelay(attempt: number, policy?: RetryPolicy, jitter?: number): number {
  const p = policy || DEFAULT_RETRY_POLICY;
  if (!(attempt >= 1) || attempt > p.maxRetries) return -1;
  let d = p.baseMs;
  for (let i = 1; i < attempt && d < p.maxMs; i++) d *= p.factor;
  if (d > p.maxMs) d = p.maxMs;
  if (jitter !== undefined && jitter >= 0 && jitter < 1) d = Math.floor(d / 2 + (d / 2) * jitter);
  return d;
}
