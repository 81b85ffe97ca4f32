// A host (the C host, Node) may hand in native hashes; large SCOMO packages hashed in pure JS
// run at a few MB/s on QuickJS. Everything falls back to the pure-TS implementations.
import { md5Init, md5Update, md5Final } from './md5.js';
import { sha256Init, sha256Update, sha256Final } from './sha256.js';

/** An incremental hash: update any number of times, then digest once. */
export interface HashStream {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/** What a host may supply; each member is optional. */
export interface CryptoProvider {
  createMd5?: () => HashStream;
  createSha256?: () => HashStream;
}

let provider: CryptoProvider = {};

/** Installs (or, with null, removes) the host's native hashes. */
export function setCryptoProvider(p: CryptoProvider | null): void {
  provider = p || {};
}

export function createMd5(): HashStream {
  if (provider.createMd5) return provider.createMd5();
  const s = md5Init();
  return { update: function (d: Uint8Array) { md5Update(s, d); }, digest: function () { return md5Final(s); } };
}

export function createSha256(): HashStream {
  if (provider.createSha256) return provider.createSha256();
  const s = sha256Init();
  return { update: function (d: Uint8Array) { sha256Update(s, d); }, digest: function () { return sha256Final(s); } };
}
