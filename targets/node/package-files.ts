// Package storage for the desktop device: one file per package under DIR/packages.
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, rmSync, statSync, ftruncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { PackageStorage, StorageStatus } from '../../src/agent/host.js';

export class PackageFiles implements PackageStorage {
  private fds = new Map<string, number>();

  constructor(private dir: string, private maxBytes = Number.MAX_SAFE_INTEGER) {
    mkdirSync(dir, { recursive: true });
  }

  path(key: string): string {
    return join(this.dir, key.replace(/[^A-Za-z0-9._-]/g, '_') + '.bin');
  }

  private fd(key: string): number {
    let fd = this.fds.get(key);
    if (fd === undefined) {
      fd = openSync(this.path(key), 'a+');
      this.fds.set(key, fd);
    }
    return fd;
  }

  open(key: string): StorageStatus {
    try { this.fd(key); return 'ok'; } catch { return 'error'; }
  }

  append(key: string, bytes: Uint8Array): StorageStatus {
    try {
      if (this.size(key) + bytes.length > this.maxBytes) return 'no-space';
      writeSync(this.fd(key), bytes);
      return 'ok';
    } catch (e) {
      return (e as { code?: string }).code === 'ENOSPC' ? 'no-space' : 'error';
    }
  }

  size(key: string): number {
    try { return statSync(this.path(key)).size; } catch { return 0; }
  }

  truncate(key: string, length: number): StorageStatus {
    try { ftruncateSync(this.fd(key), length); return 'ok'; } catch { return 'error'; }
  }

  sync(key: string): StorageStatus {
    try { fsyncSync(this.fd(key)); return 'ok'; } catch { return 'error'; }
  }

  read(key: string, offset: number, length: number): Uint8Array {
    const buf = new Uint8Array(length);
    const n = readSync(this.fd(key), buf, 0, length, offset);
    return n === length ? buf : buf.subarray(0, n);
  }

  remove(key: string): void {
    const fd = this.fds.get(key);
    if (fd !== undefined) { try { closeSync(fd); } catch { /* already closed */ } this.fds.delete(key); }
    rmSync(this.path(key), { force: true });
  }

  close(): void {
    for (const fd of this.fds.values()) { try { closeSync(fd); } catch { /* ignore */ } }
    this.fds.clear();
  }
}
