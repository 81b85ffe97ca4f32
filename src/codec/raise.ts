// Internal error plumbing for the codec: deep code throws a tagged value with `raise`, and each
// public entry point turns it back into a Result with `caught`. One throw site per error keeps
// the readers free of `if (x === null) return null` chains (smaller code on the device).
import { CodecError, CodecErrorKind, fail } from './errors.js';

/** What `raise` throws; `rk` tells it apart from engine errors (out of memory, stack). */
export interface Raised { rk: CodecErrorKind; m: string; at?: number }

// Kind names bound once so the minified code says them once.
export const TRUNC: CodecErrorKind = 'truncated', MAL: CodecErrorKind = 'malformed', LIM: CodecErrorKind = 'limit',
  UNK: CodecErrorKind = 'unknown-element', INV: CodecErrorKind = 'invalid-value', UNS: CodecErrorKind = 'unsupported',
  UNENC: CodecErrorKind = 'unencodable';

export function raise(kind: CodecErrorKind, message: string, at?: number): never {
  const x: Raised = { rk: kind, m: message, at };
  throw x;
}

/** A caught `raise` as a failed Result; anything else becomes `kind` with its text. */
export function caught(e: unknown, kind: CodecErrorKind, at?: number): { ok: false; error: CodecError } {
  const x = e as Raised;
  return (x && x.rk ? fail(x.rk, x.m, x.at) : fail(kind, '' + e, at)) as { ok: false; error: CodecError };
}
