// The download engine's contract with its driver (actions out, events in), with the host's
// package storage, and with the SCOMO job journal (checkpoint, outcome). Everything here is
// plain data so a driver on any engine, and the journal, can carry it.
import { DownloadDescriptor } from './dd.js';

// ---- actions: what the engine asks the driver to do --------------------------------------

/**
 * Perform one HTTP request and report it back with events carrying the same `id`: one
 * `http-response`, then any number of `http-chunk`, then `http-end` (or `http-error` at any
 * point). Redirects may be followed by the driver or left to the engine (it follows 301, 302,
 * 303, 307 and 308 itself). The driver must not decode Content-Encoding into different bytes
 * than the server's entity (send no Accept-Encoding).
 */
export interface HttpRequestAction {
  type: 'http-request';
  id: number;
  method: 'GET';
  url: string;
  headers: { [name: string]: string };
}
/** Stop the request `id` (close the connection); send no more events for it. */
export interface HttpAbortAction { type: 'http-abort'; id: number }
/** Wait `ms` milliseconds, then send `{ type: 'timer' }`. The engine itself never waits. */
export interface WaitAction { type: 'wait'; ms: number }
/**
 * Persist this checkpoint in the job journal (it replaces the previous one). The bytes it
 * counts are already in storage and synced when the action is emitted.
 */
export interface CheckpointAction { type: 'checkpoint'; checkpoint: DownloadCheckpoint }
/** The download is over; no more actions follow. */
export interface DoneAction { type: 'done'; outcome: DownloadOutcome }

export type DownloadAction = HttpRequestAction | HttpAbortAction | WaitAction | CheckpointAction | DoneAction;

// ---- events: what the driver reports ------------------------------------------------------

/** Header names in any case; one string per header (join repeated ones with ", "). */
export interface HttpResponseEvent { type: 'http-response'; id?: number; status: number; headers: { [name: string]: string } }
export interface HttpChunkEvent { type: 'http-chunk'; id?: number; bytes: Uint8Array }
export interface HttpEndEvent { type: 'http-end'; id?: number }
/** Connection refused, reset, timeout, DNS failure, TLS failure...: no usable response. */
export interface HttpErrorEvent { type: 'http-error'; id?: number; reason: string }
export interface TimerEvent { type: 'timer' }
export interface CancelEvent { type: 'cancel' }

export type DownloadEvent = HttpResponseEvent | HttpChunkEvent | HttpEndEvent | HttpErrorEvent | TimerEvent | CancelEvent;

// ---- host package storage port ------------------------------------------------------------

export type StorageStatus = 'ok' | 'no-space' | 'error';

/**
 * Where one package's bytes go (a file, a flash partition, the inactive A/B slot...). Calls are
 * synchronous: a device writes flash synchronously, and the engine stays sans-I/O.
 * - `open()`: prepare the package area, keeping bytes already there (resume needs them).
 * - `append(bytes)`: add bytes at the end; `no-space` when the area is full.
 * - `size()`: bytes currently stored (after a power cut: at least what the last sync covered).
 * - `truncate(n)`: keep only the first n bytes (n = 0 when a download restarts).
 * - `sync()`: make every appended byte durable (called before each checkpoint).
 * - `finalize()`: the whole package is there and verified; close it for the installer.
 */
export interface PackageStorage {
  open(): StorageStatus;
  append(bytes: Uint8Array): StorageStatus;
  size(): number;
  truncate(length: number): StorageStatus;
  sync(): StorageStatus;
  finalize(): StorageStatus;
}

// ---- hashing port -------------------------------------------------------------------------

export interface ResumableHash {
  update(data: Uint8Array): void;
  /** 32-byte digest; the hash must not be used afterwards. */
  digest(): Uint8Array;
  /** The state as a string for the journal, or null when it cannot be saved (native hash). */
  save(): string | null;
}

/** SHA-256 maker. The default (sha256-resume.ts) is the pure-TS one, whose state can be saved. */
export interface HashPort {
  create(): ResumableHash;
  restore(saved: string): ResumableHash | null;
}

// ---- input, checkpoint, outcome ------------------------------------------------------------

export interface DownloadOptions {
  /** PkgURL: the package itself or an OMA download descriptor. */
  url: string;
  expectedSize?: number;
  /** Hex, any case. */
  expectedSha256?: string;
  /** Retries after the first attempt while no progress is made (default 5). */
  maxRetries?: number;
  /** Back-off: base * 2^(n-1), capped (defaults 1000 ms and 60000 ms). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Redirects followed per request chain (default 5). */
  maxRedirects?: number;
  /** Emit a checkpoint every this many received bytes (default 256 KiB). */
  checkpointEveryBytes?: number;
  /** Continue a download from a journaled checkpoint (after a reboot). */
  resumeFrom?: DownloadCheckpoint;
  hash?: HashPort;
}

/** What the SCOMO journal persists so that a reboot resumes with a Range request. */
export interface DownloadCheckpoint {
  v: 1;
  /** The PkgURL the job was given. */
  pkgUrl: string;
  /** The URL actually downloaded from (the DD's objectURI, after redirects). */
  url: string;
  /** True once `url` is the object itself (a DD was read, or the PkgURL answered with the object). */
  resolved: boolean;
  bytesReceived: number;
  /** Strong ETag of the object being downloaded, for If-Range. */
  etag?: string;
  /** Effective expectations (from the job, or from the DD). */
  expectedSize?: number;
  expectedSha256?: string;
  /** Object MIME type (DD `type`, else Content-Type). */
  type?: string;
  /** SHA-256 state covering exactly `bytesReceived` bytes; absent: resume restarts from 0. */
  hash?: string;
  /** DD `installNotifyURI`, kept for the SCOMO layer's install status report. */
  installNotifyURI?: string;
  /** DD package signature (`<alg>:<base64>`), verified by the SCOMO layer before install. */
  signature?: string;
}

export interface DownloadOutcome {
  ok: boolean;
  /** SCOMO result code (result-codes.ts). */
  resultCode: number;
  /** One line for logs and the job record. */
  reason: string;
  cancelled: boolean;
  bytesReceived: number;
  /** Hex SHA-256 of the complete package (when it completed). */
  sha256?: string;
  url: string;
  type?: string;
  descriptor?: DownloadDescriptor;
  /** Package signature from the DD (also after a resume from a checkpoint, which has no descriptor). */
  signature?: string;
  /** DD `installNotifyURI` (also after a resume), where the job's status report goes. */
  installNotifyURI?: string;
}

export interface DownloadProgress {
  received: number;
  /** Expected total when known. */
  total?: number;
}
