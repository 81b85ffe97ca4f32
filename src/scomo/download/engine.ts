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
  PackageStorage, ResumableHash, StorageStatus,
} from './types.js';

type Phase = 'idle' | 'request' | 'body' | 'waiting' | 'done';
/** Why an attempt failed: decides the result code once retries are exhausted. */
const SERVER = RC_SERVER_ERROR, NETWORK = RC_SERVER_UNAVAILABLE, PROTOCOL = RC_DOWNLOAD_FAILED;

function storageCode(s: StorageStatus): number {
  return s === 'no-space' ? RC_OUT_OF_STORAGE : RC_DOWNLOAD_FAILED;
}

function strongEtag(v: string | undefined): string | undefined {
  const t = v ? v.replace(/^\s+|\s+$/g, '') : '';
  // A weak validator cannot be used with If-Range (RFC 9110 §13.1.5).
  return t.charAt(0) === '"' ? t : undefined;
}

function def(v: number | undefined, d: number): number {
  return v === undefined ? d : v;
}

/**
 * The engine is a set of closures over its state rather than a class with fields: the device
 * bundle keeps property names but shortens local names, and this code ships on devices.
 */
export class DownloadEngine {
  /** First actions: opens storage (resuming from the checkpoint if given) and sends the first request. */
  declare start: () => DownloadAction[];
  declare handle: (ev: DownloadEvent) => DownloadAction[];
  declare progress: () => DownloadProgress;
  /** The current durable state (what the last `checkpoint` action carried, updated). */
  declare checkpoint: () => DownloadCheckpoint;
  declare outcome: () => DownloadOutcome | null;
  declare isDone: () => boolean;

  constructor(opts: DownloadOptions, storage: PackageStorage) {
    const hashPort = opts.hash || pureSha256Port;
    const maxRetries = def(opts.maxRetries, 5);
    const maxRedirects = def(opts.maxRedirects, 5);
    const every = opts.checkpointEveryBytes || 256 * 1024;

    /** Actions of the current start/handle call. */
    let out: DownloadAction[] = [];
    let phase: Phase = 'idle';
    let reqId = 0;
    /** True while the current request may still deliver events (abort it before moving on). */
    let inFlight = false;
    let ddMode = false;
    let ddChunks: Uint8Array[] = [];
    let ddLen = 0;

    let pkgUrl = opts.url;
    /**
     * What each attempt starts from: PkgURL, or the DD's objectURI once read. Redirects are
     * followed from here again on every attempt (a redirect target may be a short-lived signed
     * URL), and this, not the redirect target, goes into the checkpoint.
     */
    let target = opts.url;
    /** URL of the current request (target after redirects). */
    let url = opts.url;
    let resolved = false;
    let received = 0;
    let etag: string | undefined;
    let expectedSize = opts.expectedSize;
    let expectedSha = opts.expectedSha256 ? opts.expectedSha256.toLowerCase() : undefined;
    let type: string | undefined;
    let notifyUri: string | undefined;
    /** The DD's package signature: journaled too, so a resumed download cannot shed it. */
    let signature: string | undefined;
    let descriptor: DownloadDescriptor | undefined;
    let hash: ResumableHash | null = null;
    /** Total size the server announced for the object (Content-Length of a 200, Content-Range total). */
    let serverTotal: number | undefined;
    /** `received` value at which the current response body ends, when the server said. */
    let bodyEnd: number | undefined;
    let partial = false;
    let receivedAtRequest = 0;
    let failures = 0;
    let redirects = 0;
    let lastCheckpoint = 0;
    let lastCheckpointKey = '';
    let result: DownloadOutcome | null = null;

    /** Sends the next request: a new attempt from `target`, or (redirect) to `url`. */
    function request(redirected?: boolean): void {
      if (!redirected) {
        url = target;
        redirects = 0;
      }
      reqId++;
      const headers: { [name: string]: string } = {};
      if (received > 0) {
        headers['Range'] = 'bytes=' + received + '-';
        if (etag) headers['If-Range'] = etag;
      }
      phase = 'request';
      inFlight = true;
      ddMode = false;
      receivedAtRequest = received;
      out.push({ type: 'http-request', id: reqId, method: 'GET', url: url, headers: headers });
    }

    function stopRequest(): void {
      if (inFlight) out.push({ type: 'http-abort', id: reqId });
      inFlight = false;
    }

    /** Empties storage and the hash; false (download ended) when storage fails. */
    function restartFromZero(): boolean {
      const r = storage.size() > 0 ? storage.truncate(0) : 'ok';
      received = 0;
      lastCheckpoint = 0;
      etag = undefined;
      serverTotal = undefined;
      hash = hashPort.create();
      return storageOk(r, 'reset');
    }

    /** False, after ending the download, when a storage call failed. */
    function storageOk(st: StorageStatus, what: string): boolean {
      if (st === 'ok') return true;
      fail(storageCode(st), 'package storage ' + what + ' failed (' + st + ')');
      return false;
    }

    function onResponse(status: number, h: { [name: string]: string }): void {
      const httpStatus = 'HTTP ' + status;
      if (status === 301 || status === 302 || status === 303 || status === 307 || status === 308) {
        const loc = header(h, 'location');
        stopRequest();
        if (!loc) return fail(RC_DOWNLOAD_FAILED, httpStatus + ' without Location');
        if (redirects >= maxRedirects) return fail(RC_DOWNLOAD_FAILED, 'too many redirects');
        redirects++;
        url = resolveUrl(url, loc);
        return request(true);
      }
      if (status === 401 || status === 403 || status === 407) return fail(RC_AUTH_FAILURE, httpStatus);
      if (status === 416) {
        stopRequest();
        if (received === 0) return fail(RC_DOWNLOAD_FAILED, 'HTTP 416 without Range');
        const cr = parseContentRange(header(h, 'content-range'));
        // Everything was already here (the interruption came after the last byte).
        if ((cr ? cr.total : expectedSize) === received) return complete();
        if (restartFromZero()) retry(PROTOCOL, 'HTTP 416: server has fewer bytes than stored');
        return;
      }
      if (status >= 500 && status <= 599) return retry(SERVER, httpStatus);
      if (status !== 200 && status !== 206) return fail(RC_DOWNLOAD_FAILED, httpStatus);
      const ctype = mediaType(header(h, 'content-type'));
      const clen = parseLength(header(h, 'content-length'));
      if (!resolved && (ctype === DD_MIME || /\.dd$/i.test(urlPath(url)))) {
        if (clen !== undefined && clen > DD_MAX_BYTES) return fail(RC_DOWNLOAD_FAILED, 'download descriptor too large');
        ddMode = true;
        ddChunks = [];
        ddLen = 0;
        phase = 'body';
        return;
      }
      resolved = true;
      if (type === undefined && ctype) type = ctype;
      // Without a digest from the job or the DD, the server's own checksum header (our repository
      // sends X-Checksum-Sha256) still catches corruption and a wrong object.
      const xsum = header(h, 'x-checksum-sha256');
      if (expectedSha === undefined && xsum !== undefined && /^[0-9a-fA-F]{64}$/.test(xsum)) expectedSha = xsum.toLowerCase();
      const newEtag = strongEtag(header(h, 'etag'));
      let total: number | undefined;
      if (status === 206) {
        const cr = parseContentRange(header(h, 'content-range'));
        if (!cr || cr.start !== received || (etag !== undefined && newEtag !== undefined && newEtag !== etag)) {
          // Not the continuation of our bytes (another entity or another range): start over.
          stopRequest();
          if (restartFromZero()) retry(PROTOCOL, 'unusable partial response (Content-Range ' + header(h, 'content-range') + ')');
          return;
        }
        total = cr.total >= 0 ? cr.total : undefined;
        bodyEnd = cr.end + 1;
        partial = true;
      } else {
        if (received > 0) {
          // The server ignored Range (or If-Range did not match): the body is the whole object.
          if (!restartFromZero()) return;
          receivedAtRequest = 0;
        }
        total = clen;
        bodyEnd = clen;
        partial = false;
      }
      etag = newEtag !== undefined ? newEtag : (status === 206 ? etag : undefined);
      if (total !== undefined) {
        if (expectedSize !== undefined && total !== expectedSize) {
          return fail(RC_VALIDATION_FAILED, 'size mismatch: server has ' + total + ' bytes, expected ' + expectedSize);
        }
        serverTotal = total;
      }
      phase = 'body';
    }

    function onChunk(bytes: Uint8Array): void {
      const n = bytes.length;
      if (n === 0) return;
      if (ddMode) {
        ddLen += n;
        if (ddLen > DD_MAX_BYTES) return fail(RC_DOWNLOAD_FAILED, 'download descriptor too large');
        ddChunks.push(new Uint8Array(bytes));
        return;
      }
      const limit = expectedSize !== undefined ? expectedSize : serverTotal;
      if (limit !== undefined && received + n > limit) return fail(RC_VALIDATION_FAILED, 'size mismatch: more than ' + limit + ' bytes');
      if (bodyEnd !== undefined && received + n > bodyEnd) return fail(RC_VALIDATION_FAILED, 'body longer than announced');
      if (!storageOk(storage.append(bytes), 'write')) return;
      if (hash) hash.update(bytes);
      received += n;
      if (received - lastCheckpoint >= every) saveCheckpoint();
    }

    function onEnd(): void {
      if (ddMode) return onDescriptor();
      if (bodyEnd !== undefined && received < bodyEnd) return retry(NETWORK, 'connection closed after ' + received + ' of ' + bodyEnd + ' bytes');
      if (partial && serverTotal !== undefined && received < serverTotal) {
        // The server answered a shorter range than asked: ask for the rest.
        failures = 0;
        return request();
      }
      complete();
    }

    function onDescriptor(): void {
      const doc = new Uint8Array(ddLen);
      let o = 0;
      for (let i = 0; i < ddChunks.length; i++) { doc.set(ddChunks[i], o); o += ddChunks[i].length; }
      ddChunks = [];
      const r = parseDownloadDescriptor(doc);
      if (!r.ok) return fail(RC_DOWNLOAD_FAILED, r.message);
      const dd = r.dd;
      if (dd.size !== undefined) {
        if (expectedSize !== undefined && expectedSize !== dd.size) {
          return fail(RC_VALIDATION_FAILED, 'size mismatch: descriptor says ' + dd.size + ' bytes, expected ' + expectedSize);
        }
        expectedSize = dd.size;
      }
      if (dd.sha256 !== undefined) {
        if (expectedSha !== undefined && expectedSha !== dd.sha256) return fail(RC_VALIDATION_FAILED, 'SHA-256 mismatch: descriptor differs from expected');
        expectedSha = dd.sha256;
      }
      if (dd.type) type = dd.type;
      if (dd.installNotifyURI) notifyUri = dd.installNotifyURI;
      if (dd.signature) signature = dd.signature;
      descriptor = dd;
      target = url = resolveUrl(url, dd.objectURI);
      resolved = true;
      failures = 0;
      if (saveCheckpoint()) request();
    }

    function complete(): void {
      if (expectedSize !== undefined && received !== expectedSize) {
        return fail(RC_VALIDATION_FAILED, 'size mismatch: received ' + received + ' bytes, expected ' + expectedSize);
      }
      const digest = hash ? toHex(hash.digest()) : '';
      hash = null;
      if (expectedSha !== undefined && digest !== expectedSha) {
        return fail(RC_VALIDATION_FAILED, 'SHA-256 mismatch: got ' + digest + ', expected ' + expectedSha, digest);
      }
      let st = storage.sync();
      if (st === 'ok') st = storage.finalize();
      if (st !== 'ok') return fail(storageCode(st), 'package storage finalise failed (' + st + ')', digest);
      finish(true, RC_SUCCESS, 'downloaded ' + received + ' bytes', false, digest);
    }

    /** `code`: the result code once retries are exhausted (SERVER, NETWORK or PROTOCOL). */
    function retry(code: number, reason: string): void {
      stopRequest();
      if (received > receivedAtRequest) failures = 0;
      if (++failures > maxRetries) return fail(code, reason + ' (gave up after ' + maxRetries + ' retries)');
      if (!saveCheckpoint()) return;
      const max = def(opts.backoffMaxMs, 60000);
      let ms = def(opts.backoffBaseMs, 1000);
      for (let i = 1; i < failures && ms < max; i++) ms *= 2;
      phase = 'waiting';
      out.push({ type: 'wait', ms: ms < max ? ms : max });
    }

    /** Syncs storage and emits a checkpoint; on a storage failure ends the download and returns false. */
    function saveCheckpoint(): boolean {
      if (!storageOk(storage.sync(), 'sync')) return false;
      lastCheckpoint = received;
      // An interruption right after a periodic checkpoint changes nothing: no second flash write.
      const key = [target, resolved, received, etag, expectedSize, expectedSha].join('|');
      if (key !== lastCheckpointKey) {
        lastCheckpointKey = key;
        out.push({ type: 'checkpoint', checkpoint: checkpoint() });
      }
      return true;
    }

    function fail(code: number, reason: string, sha?: string): void {
      stopRequest();
      finish(false, code, reason, false, sha);
    }

    function finish(ok: boolean, code: number, reason: string, cancelled: boolean, sha?: string): void {
      phase = 'done';
      ddChunks = [];
      const o: DownloadOutcome = { ok: ok, resultCode: code, reason: reason, cancelled: cancelled, bytesReceived: received, url: url };
      if (sha) o.sha256 = sha;
      if (type !== undefined) o.type = type;
      if (descriptor) o.descriptor = descriptor;
      if (signature !== undefined) o.signature = signature;
      if (notifyUri !== undefined) o.installNotifyURI = notifyUri;
      result = o;
      out.push({ type: 'done', outcome: o });
    }

    function checkpoint(): DownloadCheckpoint {
      const cp: DownloadCheckpoint = { v: 1, pkgUrl: pkgUrl, url: target, resolved: resolved, bytesReceived: received };
      if (etag !== undefined) cp.etag = etag;
      if (expectedSize !== undefined) cp.expectedSize = expectedSize;
      if (expectedSha !== undefined) cp.expectedSha256 = expectedSha;
      if (type !== undefined) cp.type = type;
      if (notifyUri !== undefined) cp.installNotifyURI = notifyUri;
      if (signature !== undefined) cp.signature = signature;
      const h = hash ? hash.save() : null;
      if (h !== null) cp.hash = h;
      return cp;
    }

    function start(_?: DownloadEvent): void {
      if (phase !== 'idle') return;
      if (!storageOk(storage.open(), 'open')) return;
      const cp = opts.resumeFrom;
      if (cp && cp.v === 1) {
        pkgUrl = cp.pkgUrl;
        target = url = cp.url;
        resolved = cp.resolved;
        etag = cp.etag;
        type = cp.type;
        notifyUri = cp.installNotifyURI;
        signature = cp.signature;
        if (cp.expectedSize !== undefined) expectedSize = cp.expectedSize;
        if (cp.expectedSha256 !== undefined) expectedSha = cp.expectedSha256;
        hash = cp.hash ? hashPort.restore(cp.hash) : null;
        const have = storage.size();
        if (!hash || cp.bytesReceived === 0 || have < cp.bytesReceived) {
          // No usable hash state, or storage lost bytes the checkpoint counted: start over.
          if (!restartFromZero()) return;
        } else {
          received = lastCheckpoint = cp.bytesReceived;
          // Bytes appended after the last checkpoint: their hash state is lost, drop them.
          if (have > received && !storageOk(storage.truncate(received), 'truncate')) return;
        }
      } else if (!restartFromZero()) return;
      request();
    }

    function handle(ev: DownloadEvent): void {
      if (phase === 'done' || phase === 'idle') return;
      if (ev.type === 'cancel') {
        stopRequest();
        return finish(false, RC_USER_CANCELLED, 'cancelled', true);
      }
      if (ev.type === 'timer') {
        if (phase === 'waiting') request();
        return;
      }
      // Events of an aborted or older request are ignored.
      if (ev.id !== undefined && ev.id !== reqId) return;
      const live = phase === 'request' || phase === 'body';
      if (ev.type === 'http-response') {
        if (phase === 'request') onResponse(ev.status, ev.headers);
      } else if (ev.type === 'http-chunk') {
        if (phase === 'body') onChunk(ev.bytes);
      } else if (live && (ev.type === 'http-error' || phase === 'body')) {
        // http-end (only while in the body) or http-error
        inFlight = false;
        if (ev.type === 'http-end') onEnd();
        else retry(NETWORK, 'network error: ' + ev.reason);
      }
    }

    /** Runs one step with a fresh action list and returns it. */
    function step(f: (ev: DownloadEvent) => void): (ev: DownloadEvent) => DownloadAction[] {
      return function (ev) {
        out = [];
        f(ev);
        return out;
      };
    }

    this.start = step(start) as () => DownloadAction[];
    this.handle = step(handle);
    this.checkpoint = checkpoint;
    this.progress = function () {
      const total = expectedSize !== undefined ? expectedSize : serverTotal;
      const p: DownloadProgress = { received: received };
      if (total !== undefined) p.total = total;
      return p;
    };
    this.outcome = function () { return result; };
    this.isDone = function () { return phase === 'done'; };
  }
}
