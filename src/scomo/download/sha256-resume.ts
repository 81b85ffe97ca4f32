// The default hash port: pure-TS SHA-256 whose state is saved with each checkpoint, so a
// download resumed after a reboot continues hashing without re-reading the partial package.
// Saved form: "s1:" + 8 state words (hex) + ":" + byte count + ":" + unprocessed tail (hex).
import { Sha256State, sha256Init, sha256Update, sha256Final } from '../../crypto/sha256.js';
import { toHex, fromHex } from '../../crypto/hex.js';
import { createSha256 } from '../../crypto/provider.js';
import { HashPort, ResumableHash } from './types.js';

function wrap(st: Sha256State): ResumableHash {
  return {
    update: function (d: Uint8Array) { sha256Update(st, d); },
    digest: function () { return sha256Final(st); },
    save: function () { return saveSha256(st); },
  };
}

export function saveSha256(st: Sha256State): string {
  const words = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const v = st.h[i];
    words[4 * i] = (v >>> 24) & 255; words[4 * i + 1] = (v >>> 16) & 255;
    words[4 * i + 2] = (v >>> 8) & 255; words[4 * i + 3] = v & 255;
  }
  return 's1:' + toHex(words) + ':' + st.total + ':' + toHex(st.buf.subarray(0, st.bufLen));
}

export function restoreSha256(s: string): Sha256State | null {
  const p = s.split(':');
  if (p.length !== 4 || p[0] !== 's1' || !/^[0-9]{1,16}$/.test(p[2])) return null;
  const words = fromHex(p[1]);
  const tail = fromHex(p[3]);
  const total = parseInt(p[2], 10);
  if (!words || words.length !== 32 || !tail || tail.length > 63 || total % 64 !== tail.length) return null;
  const st = sha256Init();
  for (let i = 0; i < 8; i++) {
    st.h[i] = (words[4 * i] << 24) | (words[4 * i + 1] << 16) | (words[4 * i + 2] << 8) | words[4 * i + 3];
  }
  st.buf.set(tail, 0);
  st.bufLen = tail.length;
  st.total = total;
  return st;
}

export const pureSha256Port: HashPort = {
  create: function () { return wrap(sha256Init()); },
  restore: function (saved: string) {
    const st = restoreSha256(saved);
    return st ? wrap(st) : null;
  },
};

/**
 * Uses the host's native SHA-256 when one is installed (crypto/provider.ts): much faster on
 * small engines, but its state cannot be saved, so a download interrupted by a reboot restarts
 * from byte 0 (resumes within one boot still use Range). Without a native hash this is the same
 * as pureSha256Port.
 */
export const providerSha256Port: HashPort = {
  create: function () {
    const h = createSha256();
    return { update: function (d: Uint8Array) { h.update(d); }, digest: function () { return h.digest(); }, save: function () { return null; } };
  },
  restore: function () { return null; },
};
