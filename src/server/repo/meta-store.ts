// Package metadata behind the smallest interface the repository needs, so the SCOMO server can
// later back it with its SQLite (or PostgreSQL) storage without touching the repository code.
// Package *bytes* never go through this interface: they live in files (package-store.ts).
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export interface PackageMeta {
  /** Repository identifier, also the last path segment of the download URL. */
  pkgId: string;
  name: string;
  version: string;
  /** MIME type given at upload (becomes PkgType on the device and `type` in the DD). */
  type: string;
  /** Bytes. */
  size: number;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
  /** ISO-8601 UTC time of the upload. */
  created: string;
  /**
   * Detached signature over the bytes, `<alg>:<base64>` (src/scomo/signature.ts), given at upload
   * or later; absent for an unsigned package. Stores keep it as part of the record (the SQLite
   * and PostgreSQL stores hold the record as JSON), so older records simply have none.
   */
  signature?: string;
}

/**
 * Contract:
 * - `put` stores or replaces the record with that pkgId; once its promise resolves, `get` and
 *   `list` see the record (and a durable implementation has made it survive a restart).
 * - `get` resolves to undefined for an unknown pkgId; it never rejects for "not found".
 * - `list` returns every record, oldest `created` first.
 * - `delete` removes the record; resolves false when there was none.
 * The package store calls `put` only after the package file is complete and renamed into place,
 * so a record always describes a whole file.
 */
export interface PackageMetaStore {
  get(pkgId: string): Promise<PackageMeta | undefined>;
  put(meta: PackageMeta): Promise<void>;
  list(): Promise<PackageMeta[]>;
  delete(pkgId: string): Promise<boolean>;
}

function byCreated(a: PackageMeta, b: PackageMeta): number {
  return a.created < b.created ? -1 : a.created > b.created ? 1 : 0;
}

export class MemoryMetaStore implements PackageMetaStore {
  private readonly records: Record<string, PackageMeta> = Object.create(null);
  async get(pkgId: string): Promise<PackageMeta | undefined> {
    const m = this.records[pkgId];
    return m ? { ...m } : undefined;
  }
  async put(meta: PackageMeta): Promise<void> {
    this.records[meta.pkgId] = { ...meta };
  }
  async list(): Promise<PackageMeta[]> {
    return Object.keys(this.records).map((k) => ({ ...this.records[k] })).sort(byCreated);
  }
  async delete(pkgId: string): Promise<boolean> {
    if (!this.records[pkgId]) return false;
    delete this.records[pkgId];
    return true;
  }
}

/**
 * All records in one JSON file, rewritten (temp file, fsync, rename) on every put. Fine for the
 * handful of packages a test or a demo uploads; the SQLite storage replaces it for real use.
 */
export class JsonFileMetaStore implements PackageMetaStore {
  private cache: Record<string, PackageMeta> | null = null;
  /** Serialises writes so two concurrent puts cannot interleave their renames. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  private async load(): Promise<Record<string, PackageMeta>> {
    if (this.cache) return this.cache;
    const recs: Record<string, PackageMeta> = Object.create(null);
    try {
      const parsed = JSON.parse(await fsp.readFile(this.file, 'utf8')) as { packages?: PackageMeta[] };
      for (const m of parsed.packages ?? []) recs[m.pkgId] = m;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    this.cache = recs;
    return recs;
  }

  async get(pkgId: string): Promise<PackageMeta | undefined> {
    const m = (await this.load())[pkgId];
    return m ? { ...m } : undefined;
  }

  async list(): Promise<PackageMeta[]> {
    const recs = await this.load();
    return Object.keys(recs).map((k) => ({ ...recs[k] })).sort(byCreated);
  }

  put(meta: PackageMeta): Promise<void> {
    return this.rewrite((recs) => ({ ...recs, [meta.pkgId]: { ...meta } })).then(() => undefined);
  }

  delete(pkgId: string): Promise<boolean> {
    return this.rewrite((recs) => {
      if (!recs[pkgId]) return undefined;
      const next = { ...recs };
      delete next[pkgId];
      return next;
    });
  }

  /** Writes the records `change` returns (temp file, fsync, rename); resolves false when it returns undefined. */
  private rewrite(change: (recs: Record<string, PackageMeta>) => Record<string, PackageMeta> | undefined): Promise<boolean> {
    const next = this.chain.then(async () => {
      const updated = change(await this.load());
      if (!updated) return false;
      const packages = Object.keys(updated).map((k) => updated[k]).sort(byCreated);
      await fsp.mkdir(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.tmp-${process.pid}`;
      const fh = await fsp.open(tmp, 'w');
      try {
        await fh.writeFile(JSON.stringify({ packages }, null, 1));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, this.file);
      this.cache = Object.assign(Object.create(null), updated);
      return true;
    });
    this.chain = next.then(() => undefined, () => undefined);
    return next;
  }
}
