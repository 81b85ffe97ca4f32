// A Flash partition backed by a file (Node hosts, the demo device, benchmarks). Synchronous
// fs calls, because the store's Flash port is synchronous. NOR rules are enforced like on the
// chip, so a bug that reprograms bytes fails here as it would on hardware.
import { openSync, closeSync, readSync, writeSync, fstatSync, fsyncSync } from 'node:fs';
import type { Flash, FlashCounters } from '../../src/store/api.js';

export interface FileFlashOptions {
  /** fsync after every program/erase (slow; what a real power-safe host needs). */
  sync?: boolean;
}

export class FileFlash implements Flash {
  readonly counters: FlashCounters = { bytesProgrammed: 0, erases: 0 };
  private fd: number;

  /**
   * Opens `path`, creating it filled with 0xFF when missing. An existing file must have
   * exactly `size` bytes.
   */
  constructor(readonly path: string, readonly size: number, readonly blockSize: number, private opts: FileFlashOptions = {}) {
    if (!(blockSize > 0 && size > 0 && size % blockSize === 0)) throw new RangeError('flash size must be whole blocks');
    let fd: number;
    try {
      fd = openSync(path, 'r+');
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
      fd = openSync(path, 'w+');
      const blank = new Uint8Array(blockSize).fill(0xff);
      for (let i = 0; i < size / blockSize; i++) writeSync(fd, blank, 0, blockSize, i * blockSize);
      fsyncSync(fd);
    }
    const actual = fstatSync(fd).size;
    if (actual !== size) {
      closeSync(fd);
      throw new RangeError(`flash file ${path} has ${actual} bytes, expected ${size}`);
    }
    this.fd = fd;
  }

  read(offset: number, length: number): Uint8Array {
    this.check(offset, length);
    const b = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, b, got, length - got, offset + got);
      if (n <= 0) throw new Error('flash file: short read');
      got += n;
    }
    return b;
  }

  program(offset: number, bytes: Uint8Array): void {
    this.check(offset, bytes.length);
    const cur = this.read(offset, bytes.length);
    for (let i = 0; i < cur.length; i++) {
      if (cur[i] !== 0xff) throw new Error('flash: programming a non-erased byte at ' + (offset + i));
    }
    writeSync(this.fd, bytes, 0, bytes.length, offset);
    if (this.opts.sync) fsyncSync(this.fd);
    this.counters.bytesProgrammed += bytes.length;
  }

  erase(index: number): void {
    if (!(index >= 0 && index < this.size / this.blockSize && index === Math.floor(index))) throw new RangeError('flash: no block ' + index);
    writeSync(this.fd, new Uint8Array(this.blockSize).fill(0xff), 0, this.blockSize, index * this.blockSize);
    if (this.opts.sync) fsyncSync(this.fd);
    this.counters.erases++;
  }

  close(): void {
    closeSync(this.fd);
  }

  private check(offset: number, length: number): void {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size)) throw new RangeError('flash: out of range ' + offset + '+' + length);
  }
}
