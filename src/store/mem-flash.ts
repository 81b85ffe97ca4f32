// In-memory NOR flash for tests and hosts without a partition: program only erased bytes,
// erase whole blocks, count wear, and cut power after an exact number of programmed bytes.

import type { Flash, FlashCounters } from './api.js';

/** What the bytes of an interrupted program() hold after the cut. */
export type TornMode = 'erased' | 'written' | 'random';

export interface PowerCutError extends Error { powerCut: true }

export function isPowerCut(e: unknown): e is PowerCutError {
  return e instanceof Error && (e as PowerCutError).powerCut === true;
}

function powerCut(): PowerCutError {
  const e = new Error('power cut') as PowerCutError;
  e.powerCut = true;
  return e;
}

export class MemFlash implements Flash {
  readonly size: number;
  readonly blockSize: number;
  readonly data: Uint8Array;
  readonly counters: FlashCounters = { bytesProgrammed: 0, erases: 0 };
  private budget = -1;
  private torn: TornMode = 'erased';
  private rnd = 1;

  /** A blank (all 0xFF) flash, or one holding a copy of `image`. */
  constructor(size: number, blockSize: number, image?: Uint8Array) {
    if (!(blockSize > 0 && size > 0 && size % blockSize === 0)) throw new RangeError('flash size must be whole blocks');
    this.size = size;
    this.blockSize = blockSize;
    this.data = new Uint8Array(size);
    if (image) this.data.set(image.subarray(0, size));
    else this.data.fill(0xff);
  }

  /**
   * After `n` more programmed bytes the power fails: the program() that would exceed the
   * budget writes its first bytes, leaves the rest per `mode` and throws; every later
   * program()/erase() throws without effect. `seed` drives the 'random' bytes.
   */
  cutAfter(n: number, mode?: TornMode, seed?: number): void {
    this.budget = n;
    this.torn = mode || 'erased';
    this.rnd = (seed || 1) >>> 0 || 1;
  }

  /** True once a cut has fired (power is off). */
  get dead(): boolean {
    return this.cutFired;
  }
  private cutFired = false;

  read(offset: number, length: number): Uint8Array {
    this.check(offset, length);
    return this.data.slice(offset, offset + length);
  }

  program(offset: number, bytes: Uint8Array): void {
    this.check(offset, bytes.length);
    if (this.cutFired) throw powerCut();
    for (let i = 0; i < bytes.length; i++) {
      if (this.data[offset + i] !== 0xff) throw new Error('flash: programming a non-erased byte at ' + (offset + i));
    }
    const n = this.budget < 0 ? bytes.length : Math.min(this.budget, bytes.length);
    this.data.set(bytes.subarray(0, n), offset);
    this.counters.bytesProgrammed += n;
    if (this.budget < 0) return;
    this.budget -= n;
    if (n === bytes.length && this.budget > 0) return;
    if (n === bytes.length) { this.cutFired = true; return; }
    for (let i = n; i < bytes.length; i++) {
      if (this.torn === 'written') this.data[offset + i] = bytes[i];
      else if (this.torn === 'random') this.data[offset + i] = this.next() & 0xff;
    }
    this.cutFired = true;
    throw powerCut();
  }

  erase(index: number): void {
    if (!(index >= 0 && index < this.size / this.blockSize && index === Math.floor(index))) throw new RangeError('flash: no block ' + index);
    if (this.cutFired) throw powerCut();
    this.data.fill(0xff, index * this.blockSize, (index + 1) * this.blockSize);
    this.counters.erases++;
  }

  /** A copy of the current bytes (the image a reboot would see). */
  snapshot(): Uint8Array {
    return this.data.slice();
  }

  /** A powered, uncut flash holding the same bytes: "reboot" after a cut. */
  clone(): MemFlash {
    return new MemFlash(this.size, this.blockSize, this.data);
  }

  private check(offset: number, length: number): void {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size)) throw new RangeError('flash: out of range ' + offset + '+' + length);
  }

  // xorshift32: deterministic torn bytes for reproducible crash tests.
  private next(): number {
    let x = this.rnd;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.rnd = x >>> 0;
    return this.rnd;
  }
}
