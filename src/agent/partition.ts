// A window onto part of the host's flash, so the tree and the job journal each get a store of
// their own on one partition (one compaction never rewrites the other's records).
import type { Flash } from '../store/api.js';

export function partition(flash: Flash, firstBlock: number, blocks: number): Flash {
  const off = firstBlock * flash.blockSize;
  const size = blocks * flash.blockSize;
  return {
    size,
    blockSize: flash.blockSize,
    read: function (o, n) {
      if (o < 0 || o + n > size) throw new RangeError('flash read outside partition');
      return flash.read(off + o, n);
    },
    program: function (o, b) {
      if (o < 0 || o + b.length > size) throw new RangeError('flash program outside partition');
      flash.program(off + o, b);
    },
    erase: function (i) {
      if (i < 0 || i >= blocks) throw new RangeError('flash erase outside partition');
      flash.erase(firstBlock + i);
    },
  };
}

/** Splits the flash: the tree gets about three quarters, the journal the rest (an even number of blocks each, at least 2). */
export function splitFlash(flash: Flash): { tree: Flash; journal: Flash } {
  const blocks = Math.floor(flash.size / flash.blockSize);
  if (blocks < 4) throw new RangeError('flash needs at least 4 erase blocks');
  let j = Math.max(2, Math.floor(blocks / 4));
  if (j % 2) j--;
  if (j < 2) j = 2;
  let t = blocks - j;
  if (t % 2) t--;
  return { tree: partition(flash, 0, t), journal: partition(flash, t, j) };
}
