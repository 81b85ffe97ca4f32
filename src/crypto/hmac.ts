// HMAC (RFC 2104) over the streaming hashes, so a long message is never copied to be prefixed.
// HMAC-MD5 and HMAC-SHA256 for general use; HMAC-SHA1 for the OMA DM bootstrap MAC.
import { md5Init, md5Update, md5Final } from './md5.js';
import { sha256Init, sha256Update, sha256Final } from './sha256.js';
import { sha1Init, sha1Update, sha1Final } from './sha1.js';

interface HashFns<S> {
  init(): S;
  update(s: S, d: Uint8Array): void;
  final(s: S): Uint8Array;
}

const MD5: HashFns<ReturnType<typeof md5Init>> = { init: md5Init, update: md5Update, final: md5Final };
const SHA256: HashFns<ReturnType<typeof sha256Init>> = { init: sha256Init, update: sha256Update, final: sha256Final };
const SHA1: HashFns<ReturnType<typeof sha1Init>> = { init: sha1Init, update: sha1Update, final: sha1Final };

// All three hashes have a 64-byte block.
function hmac<S>(h: HashFns<S>, key: Uint8Array, msg: Uint8Array): Uint8Array {
  let k = key;
  if (k.length > 64) {
    const s = h.init();
    h.update(s, k);
    k = h.final(s);
  }
  const pad = new Uint8Array(64);
  for (let i = 0; i < 64; i++) pad[i] = (i < k.length ? k[i] : 0) ^ 0x36;
  const inner = h.init();
  h.update(inner, pad);
  h.update(inner, msg);
  const ih = h.final(inner);
  for (let i = 0; i < 64; i++) pad[i] ^= 0x36 ^ 0x5c;
  const outer = h.init();
  h.update(outer, pad);
  h.update(outer, ih);
  return h.final(outer);
}

export function hmacMd5(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return hmac(MD5, key, msg);
}

export function hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return hmac(SHA256, key, msg);
}

export function hmacSha1(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return hmac(SHA1, key, msg);
}
