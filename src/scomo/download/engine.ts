// Alternate download (issue 6 §3(b)): fetch PkgURL through the host's HTTP, following an OMA
// download descriptor, resuming with Range after an interruption (also across a reboot, from a
// journaled checkpoint), with bounded retries and back-off, size and SHA-256 checks, and a
// SCOMO result code at the end (table in result-codes.ts).
//
// Sans-I/O: `start()` and `handle(event)` return the actions the driver must perform (HTTP
// requests, aborts, waits, checkpoints to persist); the engine never waits or touches a
// socket. Package bytes go straight to the host's PackageStorage: memory use is bounded by
// the driver's chunk size (plus at most DD_MAX_BYTES for a descriptor), not by package size.
//
// Retry policy: HTTP 5xx, connection errors and bodies cut short are retried after
// backoffBaseMs * 2^(n-1) (capped); the count n resets whenever an attempt delivered new bytes,
// so a long download over a flaky link completes, while a server that keeps failing without
// progress is given up after maxRetries. 4xx answers are final.
import { DD_MAX_BYTES, DD_MIME, DownloadDescriptor, parseDownloadDescriptor } from './dd.js';
import { header, mediaType, parseContentRange, parseLength, resolveUrl, urlPath } from './http-util.js';
import {
  RC_AUTH_FAILURE, RC_DOWNLOAD_FAILED, RC_OUT_OF_STORAGE, RC_SERVER_ERROR, RC_SERVER_UNAVAILABLE,
  RC_SUCCESS, RC_USER_CANCELLED, RC_VALIDATION_FAILED,
} from './result-codes.js';
import { pureSha256Port } from './sha256-resume.js';
import { toHex } from '../../crypto/hex.js';
import {
  DownloadAction, DownloadCheckpoint, DownloadEvent, DownloadOptions, DownloadOutcome, DownloadProgress,
  HashPort, PackageStorage, ResumableHash, StorageStatus,
} from './types.js';

type Phase = 'idle' | 'request' | 'body' | 'waiting' | 'done';
type FailureKind = 'server' | 'network' | 'protocol';

const DEFAULT_RETRIES = 5;
const DEFAULT_BACKOFF_BASE = 1000;
const DEFAULT_BACKOFF_MAX = 60000;
const DEFAULT_REDIRECTS = 5;
const DEFAULT_CHECKPOINT_EVERY = 256 * 1024;

function storageCode(s: StorageStatus): number {
  return s === 'no-space' ? RC_OUT_OF_STORAGE : RC_DOWNLOAD_FAILED;
}

function strongEtag(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const t = v.replace(/^\s+|\s+$/g, '');
  // A weak validator cannot be used with If-Range (RFC 9110 §13.1.5).
  return t.charAt(0) === '"' ? t : undefined;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

export class DownloadEngine {
  private readonly storage: PackageStorage;
  private readonly opts: DownloadOptions;
  private readonly hashPort: HashPort;
  private readonly maxRetries: number;
  private readonly maxRedirects: number;
  private readonly every: number;

  private phase: Phase = 'idle';
  private reqId = 0;
  /** True while the current request may still deliver events (abort it before moving on). */
  private inFlight = false;
  private ddMode = false;
  private ddChunks: Uint8Array[] = [];
  private ddLen = 0;

  private pkgUrl: string;
  /**
   * What each attempt starts from: PkgURL, or the DD's objectURI once read. Redirects are
   * followed from here again on every attempt (a redirect target may be a short-lived signed
   * URL), and this, not the redirect target, goes into the checkpoint.
   */
  private target: string;
  /** URL of the current request (target after redirects). */
  private url: string;
  private resolved = false;
  private received = 0;
  private etag: string | undefined;
  private expectedSize: number | undefined;
  private expectedSha: string | undefined;
  private type: string | undefined;
  private notifyUri: string | undefined;
  private descriptor: DownloadDescriptor | undefined;
  private hash: ResumableHash | null = null;

  /** Total size the server announced for the object (Content-Length of a 200, Content-Range total). */
  private serverTotal: number | undefined;
  /** `received` value at which the current response body ends, when the server said. */
  private bodyEnd: number | undefined;
  private partial = false;
  private receivedAtRequest = 0;
  private failures = 0;
  private redirects = 0;
  private lastCheckpoint = 0;
  private lastCheckpointKey = '';
  private result: DownloadOutcome | null = null;

  constructor(opts: DownloadOptions, storage: PackageStorage) {
    this.opts = opts;
    this.storage = storage;
    this.hashPort = opts.hash || pureSha256Port;
    this.maxRetries = opts.maxRetries === undefined ? DEFAULT_RETRIES : opts.maxRetries;
    this.maxRedirects = opts.maxRedirects === undefined ? DEFAULT_REDIRECTS : opts.maxRedirects;
    this.every = opts.checkpointEveryBytes || DEFAULT_CHECKPOINT_EVERY;
    this.pkgUrl = opts.url;
    this.target = opts.url;
    this.url = opts.url;
    this.expectedSize = opts.expectedSize;
    this.expectedSha = opts.expectedSha256 ? opts.expectedSha256.toLowerCase() : undefined;
  }

  /** First actions: opens storage (resuming from the checkpoint if given) and sends the first request. */
  start(): DownloadAction[] {
    const out: DownloadAction[] = [];
    if (this.phase !== 'idle') return out;
    const st = this.storage.open();
    if (st !== 'ok') return this.fail(out, storageCode(st), 'cannot open package storage (' + st + ')');
    const cp = this.opts.resumeFrom;
    if (cp && cp.v === 1) {
      this.pkgUrl = cp.pkgUrl;
      this.target = cp.url;
      this.url = cp.url;
      this.resolved = cp.resolved;
      this.etag = cp.etag;
      this.type = cp.type;
      this.notifyUri = cp.installNotifyURI;
      if (cp.expectedSize !== undefined) this.expectedSize = cp.expectedSize;
      if (cp.expectedSha256 !== undefined) this.expectedSha = cp.expectedSha256;
      this.hash = cp.hash ? this.hashPort.restore(cp.hash) : null;
      const have = this.storage.size();
      if (!this.hash || cp.bytesReceived === 0 || have < cp.bytesReceived) {
        // No usable hash state, or storage lost bytes the checkpoint counted: start over.
        const r = this.restartFromZero();
        if (r !== 'ok') return this.fail(out, storageCode(r), 'cannot reset package storage (' + r + ')');
      } else {
        this.received = cp.bytesReceived;
        this.lastCheckpoint = this.received;
        if (have > this.received) {
          // Bytes appended after the last checkpoint: their hash state is lost, drop them.
          const r = this.storage.truncate(this.received);
          if (r !== 'ok') return this.fail(out, storageCode(r), 'cannot truncate package storage (' + r + ')');
        }
      }
    } else {
      const r = this.restartFromZero();
      if (r !== 'ok') return this.fail(out, storageCode(r), 'cannot reset package storage (' + r + ')');
    }
    return this.request(out);
  }

  handle(ev: DownloadEvent): DownloadAction[] {
    const out: DownloadAction[] = [];
    if (this.phase === 'done' || this.phase === 'idle') return out;
    if (ev.type === 'cancel') {
      this.stopRequest(out);
      return this.finish(out, false, RC_USER_CANCELLED, 'cancelled', true);
    }
    if (ev.type === 'timer') {
      if (this.phase === 'waiting') this.request(out);
      return out;
    }
    // Events of an aborted or older request are ignored.
    if (ev.id !== undefined && ev.id !== this.reqId) return out;
    switch (ev.type) {
      case 'http-response':
        if (this.phase === 'request') this.onResponse(ev.status, ev.headers, out);
        break;
      case 'http-chunk':
        if (this.phase === 'body') this.onChunk(ev.bytes, out);
        break;
      case 'http-end':
        if (this.phase === 'body') {
          this.inFlight = false;
          this.onEnd(out);
        }
        break;
      case 'http-error':
        if (this.phase === 'request' || this.phase === 'body') {
          this.inFlight = false;
          this.retry(out, 'network', 'network error: ' + ev.reason);
        }
        break;
    }
    return out;
  }

  progress(): DownloadProgress {
    const total = this.expectedSize !== undefined ? this.expectedSize : this.serverTotal;
    const p: DownloadProgress = { received: this.received };
    if (total !== undefined) p.total = total;
    return p;
  }

  /** The current durable state (what the last `checkpoint` action carried, updated). */
  checkpoint(): DownloadCheckpoint {
    const cp: DownloadCheckpoint = {
      v: 1, pkgUrl: this.pkgUrl, url: this.target, resolved: this.resolved, bytesReceived: this.received,
    };
    if (this.etag !== undefined) cp.etag = this.etag;
    if (this.expectedSize !== undefined) cp.expectedSize = this.expectedSize;
    if (this.expectedSha !== undefined) cp.expectedSha256 = this.expectedSha;
    if (this.type !== undefined) cp.type = this.type;
    if (this.notifyUri !== undefined) cp.installNotifyURI = this.notifyUri;
    const h = this.hash ? this.hash.save() : null;
    if (h !== null) cp.hash = h;
    return cp;
  }

  outcome(): DownloadOutcome | null {
    return this.result;
  }

  isDone(): boolean {
    return this.phase === 'done';
  }

  // ---- steps ----------------------------------------------------------------------------

  /** Sends the next request: a new attempt from `target`, or (redirect) to `this.url`. */
  private request(out: DownloadAction[], redirected?: boolean): DownloadAction[] {
    if (!redirected) {
      this.url = this.target;
      this.redirects = 0;
    }
    this.reqId++;
    const headers: { [name: string]: string } = {};
    if (this.received > 0) {
      headers['Range'] = 'bytes=' + this.received + '-';
      if (this.etag) headers['If-Range'] = this.etag;
    }
    this.phase = 'request';
    this.inFlight = true;
    this.ddMode = false;
    this.receivedAtRequest = this.received;
    out.push({ type: 'http-request', id: this.reqId, method: 'GET', url: this.url, headers: headers });
    return out;
  }

  private stopRequest(out: DownloadAction[]): void {
    if (this.inFlight) out.push({ type: 'http-abort', id: this.reqId });
    this.inFlight = false;
  }

  private onResponse(status: number, h: { [name: string]: string }, out: DownloadAction[]): void {
    if (isRedirect(status)) {
      const loc = header(h, 'location');
      this.stopRequest(out);
      if (!loc) { this.fail(out, RC_DOWNLOAD_FAILED, 'HTTP ' + status + ' without Location'); return; }
      if (this.redirects >= this.maxRedirects) { this.fail(out, RC_DOWNLOAD_FAILED, 'too many redirects'); return; }
      this.redirects++;
      this.url = resolveUrl(this.url, loc);
      this.request(out, true);
      return;
    }
    if (status === 401 || status === 403 || status === 407) {
      this.stopRequest(out);
      this.fail(out, RC_AUTH_FAILURE, 'HTTP ' + status + ' from the download server');
      return;
    }
    if (status === 416) { this.onNotSatisfiable(h, out); return; }
    if (status >= 500 && status <= 599) {
      this.stopRequest(out);
      this.retry(out, 'server', 'HTTP ' + status + ' from the download server');
      return;
    }
    if (status !== 200 && status !== 206) {
      this.stopRequest(out);
      this.fail(out, RC_DOWNLOAD_FAILED, 'HTTP ' + status + ' from the download server');
      return;
    }
    const ctype = mediaType(header(h, 'content-type'));
    const clen = parseLength(header(h, 'content-length'));
    if (!this.resolved && (ctype === DD_MIME || /\.dd$/i.test(urlPath(this.url)))) {
      if (clen !== undefined && clen > DD_MAX_BYTES) {
        this.stopRequest(out);
        this.fail(out, RC_DOWNLOAD_FAILED, 'download descriptor of ' + clen + ' bytes is too large');
        return;
      }
      this.ddMode = true;
      this.ddChunks = [];
      this.ddLen = 0;
      this.phase = 'body';
      return;
    }
    this.resolved = true;
    if (this.type === undefined && ctype) this.type = ctype;
    // Without a digest from the job or the DD, the server's own checksum header (our repository
    // sends X-Checksum-Sha256) still catches corruption and a wrong object.
    const xsum = header(h, 'x-checksum-sha256');
    if (this.expectedSha === undefined && xsum !== undefined && /^[0-9a-fA-F]{64}$/.test(xsum)) this.expectedSha = xsum.toLowerCase();
    const newEtag = strongEtag(header(h, 'etag'));
    let total: number | undefined;
    if (status === 206) {
      const cr = parseContentRange(header(h, 'content-range'));
      if (!cr || cr.start !== this.received || (this.etag !== undefined && newEtag !== undefined && newEtag !== this.etag)) {
        // Not the continuation of our bytes (another entity or another range): start over.
        this.stopRequest(out);
        const r = this.restartFromZero();
        if (r !== 'ok') { this.fail(out, storageCode(r), 'cannot reset package storage (' + r + ')'); return; }
        this.retry(out, 'protocol', 'unusable partial response (Content-Range ' + header(h, 'content-range') + ')');
        return;
      }
      total = cr.total >= 0 ? cr.total : undefined;
      this.bodyEnd = cr.end + 1;
      this.partial = true;
    } else {
      if (this.received > 0) {
        // The server ignored Range (or If-Range did not match): the body is the whole object.
        const r = this.restartFromZero();
        if (r !== 'ok') { this.stopRequest(out); this.fail(out, storageCode(r), 'cannot reset package storage (' + r + ')'); return; }
        this.receivedAtRequest = 0;
      }
      total = clen;
      this.bodyEnd = clen;
      this.partial = false;
    }
    this.etag = newEtag !== undefined ? newEtag : (status === 206 ? this.etag : undefined);
    if (total !== undefined) {
      if (this.expectedSize !== undefined && total !== this.expectedSize) {
        this.stopRequest(out);
        this.fail(out, RC_VALIDATION_FAILED, 'size mismatch: server has ' + total + ' bytes, expected ' + this.expectedSize);
        return;
      }
      this.serverTotal = total;
    }
    this.phase = 'body';
  }

  private onNotSatisfiable(h: { [name: string]: string }, out: DownloadAction[]): void {
    this.stopRequest(out);
    if (this.received === 0) { this.fail(out, RC_DOWNLOAD_FAILED, 'HTTP 416 for a request without Range'); return; }
    const cr = parseContentRange(header(h, 'content-range'));
    const total = cr ? cr.total : this.expectedSize;
    if (total === this.received) {
      // Everything was already here (the interruption came after the last byte).
      this.complete(out);
      return;
    }
    const r = this.restartFromZero();
    if (r !== 'ok') { this.fail(out, storageCode(r), 'cannot reset package storage (' + r + ')'); return; }
    this.retry(out, 'protocol', 'HTTP 416: the server has fewer bytes than we stored');
  }

  private onChunk(bytes: Uint8Array, out: DownloadAction[]): void {
    const n = bytes.length;
    if (n === 0) return;
    if (this.ddMode) {
      this.ddLen += n;
      if (this.ddLen > DD_MAX_BYTES) {
        this.stopRequest(out);
        this.fail(out, RC_DOWNLOAD_FAILED, 'download descriptor larger than ' + DD_MAX_BYTES + ' bytes');
        return;
      }
      this.ddChunks.push(new Uint8Array(bytes));
      return;
    }
    const limit = this.expectedSize !== undefined ? this.expectedSize : this.serverTotal;
    if (limit !== undefined && this.received + n > limit) {
      this.stopRequest(out);
      this.fail(out, RC_VALIDATION_FAILED, 'size mismatch: more than the expected ' + limit + ' bytes');
      return;
    }
    if (this.bodyEnd !== undefined && this.received + n > this.bodyEnd) {
      this.stopRequest(out);
      this.fail(out, RC_VALIDATION_FAILED, 'response body longer than announced');
      return;
    }
    const st = this.storage.append(bytes);
    if (st !== 'ok') {
      this.stopRequest(out);
      this.fail(out, storageCode(st), st === 'no-space' ? 'package storage full after ' + this.received + ' bytes' : 'package storage write error');
      return;
    }
    if (this.hash) this.hash.update(bytes);
    this.received += n;
    if (this.received - this.lastCheckpoint >= this.every) this.saveCheckpoint(out);
  }

  private onEnd(out: DownloadAction[]): void {
    if (this.ddMode) { this.onDescriptor(out); return; }
    if (this.bodyEnd !== undefined && this.received < this.bodyEnd) {
      this.retry(out, 'network', 'connection closed after ' + this.received + ' of ' + this.bodyEnd + ' bytes');
      return;
    }
    if (this.partial && this.serverTotal !== undefined && this.received < this.serverTotal) {
      // The server answered a shorter range than asked: ask for the rest.
      this.failures = 0;
      this.request(out);
      return;
    }
    this.complete(out);
  }

  private onDescriptor(out: DownloadAction[]): void {
    const doc = new Uint8Array(this.ddLen);
    let o = 0;
    for (let i = 0; i < this.ddChunks.length; i++) { doc.set(this.ddChunks[i], o); o += this.ddChunks[i].length; }
    this.ddChunks = [];
    const r = parseDownloadDescriptor(doc);
    if (!r.ok) { this.fail(out, RC_DOWNLOAD_FAILED, r.message); return; }
    const dd = r.dd;
    if (dd.size !== undefined) {
      if (this.expectedSize !== undefined && this.expectedSize !== dd.size) {
        this.fail(out, RC_VALIDATION_FAILED, 'size mismatch: descriptor says ' + dd.size + ' bytes, expected ' + this.expectedSize);
        return;
      }
      this.expectedSize = dd.size;
    }
    if (dd.sha256 !== undefined) {
      if (this.expectedSha !== undefined && this.expectedSha !== dd.sha256) {
        this.fail(out, RC_VALIDATION_FAILED, 'SHA-256 in the descriptor differs from the expected one');
        return;
      }
      this.expectedSha = dd.sha256;
    }
    if (dd.type) this.type = dd.type;
    if (dd.installNotifyURI) this.notifyUri = dd.installNotifyURI;
    this.descriptor = dd;
    this.target = resolveUrl(this.url, dd.objectURI);
    this.url = this.target;
    this.resolved = true;
    this.failures = 0;
    if (!this.saveCheckpoint(out)) return;
    this.request(out);
  }

  private complete(out: DownloadAction[]): void {
    if (this.expectedSize !== undefined && this.received !== this.expectedSize) {
      this.fail(out, RC_VALIDATION_FAILED, 'size mismatch: received ' + this.received + ' bytes, expected ' + this.expectedSize);
      return;
    }
    const digest = this.hash ? toHex(this.hash.digest()) : '';
    this.hash = null;
    if (this.expectedSha !== undefined && digest !== this.expectedSha) {
      this.fail(out, RC_VALIDATION_FAILED, 'SHA-256 mismatch: got ' + digest + ', expected ' + this.expectedSha, digest);
      return;
    }
    let st = this.storage.sync();
    if (st === 'ok') st = this.storage.finalize();
    if (st !== 'ok') { this.fail(out, storageCode(st), 'cannot finalise package storage (' + st + ')', digest); return; }
    this.finish(out, true, RC_SUCCESS, 'downloaded ' + this.received + ' bytes', false, digest);
  }

  private retry(out: DownloadAction[], kind: FailureKind, reason: string): void {
    this.stopRequest(out);
    if (this.received > this.receivedAtRequest) this.failures = 0;
    this.failures++;
    if (this.failures > this.maxRetries) {
      const code = kind === 'server' ? RC_SERVER_ERROR : kind === 'network' ? RC_SERVER_UNAVAILABLE : RC_DOWNLOAD_FAILED;
      this.fail(out, code, reason + ' (gave up after ' + this.maxRetries + ' retries)');
      return;
    }
    if (!this.saveCheckpoint(out)) return;
    const base = this.opts.backoffBaseMs === undefined ? DEFAULT_BACKOFF_BASE : this.opts.backoffBaseMs;
    const max = this.opts.backoffMaxMs === undefined ? DEFAULT_BACKOFF_MAX : this.opts.backoffMaxMs;
    let ms = base;
    for (let i = 1; i < this.failures && ms < max; i++) ms *= 2;
    this.phase = 'waiting';
    out.push({ type: 'wait', ms: ms < max ? ms : max });
  }

  private restartFromZero(): StorageStatus {
    const r = this.storage.size() > 0 ? this.storage.truncate(0) : 'ok';
    this.received = 0;
    this.lastCheckpoint = 0;
    this.etag = undefined;
    this.serverTotal = undefined;
    this.hash = this.hashPort.create();
    return r;
  }

  /** Syncs storage and emits a checkpoint; on a storage failure ends the download and returns false. */
  private saveCheckpoint(out: DownloadAction[]): boolean {
    const st = this.storage.sync();
    if (st !== 'ok') {
      this.stopRequest(out);
      this.fail(out, storageCode(st), 'package storage sync failed (' + st + ')');
      return false;
    }
    this.lastCheckpoint = this.received;
    // An interruption right after a periodic checkpoint changes nothing: no second flash write.
    const key = this.target + '|' + this.resolved + '|' + this.received + '|' + this.etag + '|' + this.expectedSize + '|' + this.expectedSha;
    if (key === this.lastCheckpointKey) return true;
    this.lastCheckpointKey = key;
    out.push({ type: 'checkpoint', checkpoint: this.checkpoint() });
    return true;
  }

  private fail(out: DownloadAction[], code: number, reason: string, sha?: string): DownloadAction[] {
    this.stopRequest(out);
    return this.finish(out, false, code, reason, false, sha);
  }

  private finish(out: DownloadAction[], ok: boolean, code: number, reason: string, cancelled: boolean, sha?: string): DownloadAction[] {
    this.phase = 'done';
    this.ddChunks = [];
    const o: DownloadOutcome = { ok: ok, resultCode: code, reason: reason, cancelled: cancelled, bytesReceived: this.received, url: this.url };
    if (sha) o.sha256 = sha;
    if (this.type !== undefined) o.type = this.type;
    if (this.descriptor) o.descriptor = this.descriptor;
    this.result = o;
    out.push({ type: 'done', outcome: o });
    return out;
  }
}
