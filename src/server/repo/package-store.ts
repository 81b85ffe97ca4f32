// Package bytes on disk: `<dataDir>/packages/<pkgId>.bin`, written to a temp file in the same
// directory, fsynced and renamed, so a crash leaves either no package or a whole one (never a
// half-written file under a real name). SHA-256 and size are computed while the upload streams;
// memory use does not depend on the package size.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { PackageMeta, PackageMetaStore } from './meta-store.js';

export interface PackageStoreOptions {
  /** The server's data directory; packages go to `<dataDir>/packages/`. */
  dataDir: string;
  meta: PackageMetaStore;
  /** Largest accepted upload in bytes (default 1 GiB). */
  maxUploadBytes?: number;
}

export interface PackageInfo {
  name: string;
  version: string;
  type: string;
  /** `<alg>:<base64>`, already validated (api-packages.ts checks it before the body is read). */
  signature?: string;
}

export type AddResult =
  | { ok: true; meta: PackageMeta }
  | { ok: false; error: 'too-large'; message: string }
  | { ok: false; error: 'aborted'; message: string };

/**
 * pkgIds are random (`pkg-` + 16 hex digits), not content-addressed: the same bytes uploaded
 * twice under another name/version are two packages with their own metadata, and a URL cannot
 * be guessed from a known hash. The strict shape also makes the id safe as a file name.
 */
export const PKG_ID_RE = /^pkg-[0-9a-f]{16}$/;

export function newPkgId(): string {
  return 'pkg-' + randomBytes(8).toString('hex');
}

export const DEFAULT_MAX_UPLOAD_BYTES = 1 << 30;
/** Files younger than this are never orphans: an upload may still be writing its record. */
export const ORPHAN_MIN_AGE_MS = 60 * 60 * 1000;

export class PackageStore {
  readonly dir: string;
  readonly maxUploadBytes: number;
  readonly meta: PackageMetaStore;

  constructor(opts: PackageStoreOptions) {
    this.dir = path.join(opts.dataDir, 'packages');
    this.meta = opts.meta;
    this.maxUploadBytes = opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  }

  /** Path of a stored package's bytes; undefined for an id that is not a valid pkgId. */
  filePath(pkgId: string): string | undefined {
    return PKG_ID_RE.test(pkgId) ? path.join(this.dir, pkgId + '.bin') : undefined;
  }

  async get(pkgId: string): Promise<PackageMeta | undefined> {
    if (!PKG_ID_RE.test(pkgId)) return undefined;
    return this.meta.get(pkgId);
  }

  list(): Promise<PackageMeta[]> {
    return this.meta.list();
  }

  /**
   * Sets (or, with undefined, removes) the signature of a stored package; resolves to the new
   * record, or undefined for an unknown pkgId. The caller validates the signature.
   */
  async setSignature(pkgId: string, signature: string | undefined): Promise<PackageMeta | undefined> {
    const m = await this.get(pkgId);
    if (!m) return undefined;
    const next: PackageMeta = { ...m };
    if (signature === undefined) delete next.signature;
    else next.signature = signature;
    await this.meta.put(next);
    return next;
  }

  /**
   * Deletes a package: its record first, so it is no longer listed or served, then its file.
   * A crash in between leaves a file without a record, which sweepOrphans() removes later.
   * False for an unknown pkgId.
   */
  async remove(pkgId: string): Promise<boolean> {
    if (!PKG_ID_RE.test(pkgId) || !(await this.meta.delete(pkgId))) return false;
    await fsp.rm(path.join(this.dir, pkgId + '.bin'), { force: true });
    return true;
  }

  /**
   * Removes package files that no record describes (a delete or an upload cut short by a crash),
   * and leftover upload temp files. Only files older than `minAgeMs`: with several server
   * processes on one directory, another process may be between renaming an upload into place
   * and writing its record. Resolves to the number of files removed.
   */
  async sweepOrphans(minAgeMs = ORPHAN_MIN_AGE_MS, now = Date.now()): Promise<number> {
    let names: string[];
    try { names = await fsp.readdir(this.dir); } catch { return 0; }
    let n = 0;
    for (const name of names) {
      const bin = /^(pkg-[0-9a-f]{16})\.bin$/.exec(name);
      const part = /^\.pkg-[0-9a-f]{16}\.part$/.test(name);
      if (!bin && !part) continue;
      const file = path.join(this.dir, name);
      try {
        if (now - (await fsp.stat(file)).mtimeMs < minAgeMs) continue;
        if (bin && (await this.meta.get(bin[1]))) continue;
        await fsp.rm(file, { force: true });
        n++;
      } catch { /* gone meanwhile */ }
    }
    return n;
  }

  /**
   * Streams `body` into a new package. Resolves `too-large` as soon as the running size passes
   * the limit (the caller must stop reading and answer 413); `aborted` when the body stream
   * fails (client went away). Other I/O errors reject.
   */
  async add(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, info: PackageInfo): Promise<AddResult> {
    await fsp.mkdir(this.dir, { recursive: true });
    const pkgId = newPkgId();
    const final = path.join(this.dir, pkgId + '.bin');
    const tmp = path.join(this.dir, `.${pkgId}.part`);
    const hash = createHash('sha256');
    let size = 0;
    let ok = false;
    const fh = await fsp.open(tmp, 'wx');
    try {
      try {
        for await (const chunk of body) {
          size += chunk.length;
          if (size > this.maxUploadBytes) {
            return { ok: false, error: 'too-large', message: `package exceeds the upload limit of ${this.maxUploadBytes} bytes` };
          }
          hash.update(chunk);
          await fh.write(chunk);
        }
      } catch (e) {
        if (isStreamAbort(e)) return { ok: false, error: 'aborted', message: 'upload aborted: ' + String((e as Error).message ?? e) };
        throw e;
      }
      await fh.sync();
      ok = true;
    } finally {
      await fh.close();
      if (!ok) await fsp.rm(tmp, { force: true });
    }
    await fsp.rename(tmp, final);
    await syncDir(this.dir);
    const meta: PackageMeta = {
      pkgId,
      name: info.name,
      version: info.version,
      type: info.type,
      size,
      sha256: hash.digest('hex'),
      created: new Date().toISOString(),
    };
    if (info.signature !== undefined) meta.signature = info.signature;
    await this.meta.put(meta);
    return { ok: true, meta };
  }
}

function isStreamAbort(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (e as Error)?.message === 'aborted';
}

/** Makes the rename itself durable; not every platform can open a directory, so failures are ignored. */
async function syncDir(dir: string): Promise<void> {
  try {
    const d = await fsp.open(dir, 'r');
    try { await d.sync(); } finally { await d.close(); }
  } catch {
    /* best effort */
  }
}
