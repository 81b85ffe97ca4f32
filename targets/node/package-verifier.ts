// Package signature verification on Node (Host.verifyPackage): trusted public keys loaded from
// PEM, and a detached signature checked over the package bytes as they sit in package storage.
// The package is streamed in chunks with a turn of the event loop between them, so a 64 MB
// package never sits in memory and HTTP, timers and UDP keep flowing while it is checked.
//
// Signatures are what `openssl dgst -sha256 -sign key.pem` writes (src/scomo/signature.ts):
// ECDSA P-256 as DER, RSA PKCS#1 v1.5, or RSA-PSS with a 32-byte salt (the digest length).
import { X509Certificate, createPublicKey, createVerify, type KeyObject, type Verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { VerifyRequest } from '../../src/agent/host.js';
import { checkSignature } from '../../src/scomo/signature.js';
import { keyKind as kindOf, keyOptions, kindsFor, type KeyKind } from './signature-keys.js';

export const RC_VERIFIED = 1200;
export const RC_BAD_SIGNATURE = 1407;

/** Bytes read from package storage per step. */
export const VERIFY_CHUNK_BYTES = 64 << 10;

export type TrustedKeyKind = KeyKind;

export interface TrustedKey {
  /** Where it came from, for log lines: "file.pem", "file.pem#2" for the second block of a bundle. */
  source: string;
  kind: TrustedKeyKind;
  key: KeyObject;
}

export interface VerifyOutcome {
  /** 1200 verified, 1407 refused. */
  code: number;
  /** One line: which key verified it, or why it was refused. */
  reason: string;
}

/** Reads up to `len` bytes at `off` (PackageStorage.read bound to the package's storage key). */
export type PackageReader = (off: number, len: number) => Uint8Array;

const PEM_BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

function keyKind(key: KeyObject, source: string): TrustedKeyKind {
  const kind = kindOf(key);
  if (kind) return kind;
  const t = key.asymmetricKeyType;
  if (t === 'ec') throw new Error(`trust key ${source}: EC curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'} is not supported (only P-256 / prime256v1)`);
  throw new Error(`trust key ${source}: key type ${t ?? 'unknown'} is not supported (EC P-256 or RSA)`);
}

/**
 * Trusted keys from PEM text: every `PUBLIC KEY`, `RSA PUBLIC KEY` and `CERTIFICATE` block in it
 * (a certificate contributes its subject public key; its validity dates and chain are not
 * checked — trusting it is the configuration's decision). Throws a one-line Error naming
 * `source` for anything else: no PEM block, a private key, a block that does not parse, a key
 * type that no supported algorithm uses.
 */
export function parseTrustKeys(pem: string, source: string): TrustedKey[] {
  const blocks = pem.match(PEM_BLOCK_RE);
  if (!blocks) throw new Error(`trust key ${source}: no PEM public key or certificate in it`);
  const out: TrustedKey[] = [];
  blocks.forEach((block, i) => {
    const label = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(block)![1];
    const src = blocks.length > 1 ? `${source}#${i + 1}` : source;
    let key: KeyObject;
    if (/PRIVATE KEY/.test(label)) throw new Error(`trust key ${src}: is a private key; give the public key or certificate (openssl pkey -pubout)`);
    try {
      if (label === 'CERTIFICATE') key = new X509Certificate(block).publicKey;
      else if (label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY') key = createPublicKey(block);
      else throw new Error(`unexpected PEM block "${label}" (want PUBLIC KEY or CERTIFICATE)`);
    } catch (e) {
      throw new Error(`trust key ${src}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
    out.push({ source: src, kind: keyKind(key, src), key });
  });
  return out;
}

/**
 * Loads trusted keys: each entry is either PEM text (it contains "-----BEGIN") or the path of a
 * PEM file (public keys and/or certificates). Throws a one-line Error on the first bad entry.
 */
export function loadTrustKeys(entries: readonly string[]): TrustedKey[] {
  const out: TrustedKey[] = [];
  entries.forEach((e, i) => {
    if (e.includes('-----BEGIN')) { out.push(...parseTrustKeys(e, `#${i + 1}`)); return; }
    let text: string;
    try { text = readFileSync(e, 'utf8'); } catch (err) {
      throw new Error(`trust key ${e}: cannot read it (${(err as { code?: string }).code ?? String(err)})`);
    }
    out.push(...parseTrustKeys(text, e));
  });
  return out;
}

function verifyWith(v: Verify, alg: string, key: KeyObject, sig: Buffer): boolean {
  try {
    return v.verify(keyOptions(alg, key), sig);
  } catch {
    // OpenSSL rejects some malformed signatures by throwing rather than returning false.
    return false;
  }
}

export interface VerifyOptions {
  chunkBytes?: number;
  /** Polled between chunks: true stops the work (the host closed); the outcome is then 1407. */
  aborted?: () => boolean;
}

/**
 * Checks `req.signature` over the first `req.size` bytes that `read` returns, against every
 * trusted key whose type fits `req.alg`. Never rejects: every failure is a 1407 outcome.
 */
export async function verifyPackageSignature(keys: readonly TrustedKey[], req: VerifyRequest, read: PackageReader, opts: VerifyOptions = {}): Promise<VerifyOutcome> {
  const refuse = (reason: string): VerifyOutcome => ({ code: RC_BAD_SIGNATURE, reason });
  if (!keys.length) return refuse('no trusted signing key configured');
  const checked = checkSignature(String(req.alg), String(req.signature));
  if (!checked.ok) return refuse(checked.message);
  const alg = checked.sig.alg;
  const kinds = kindsFor(alg);
  if (!kinds) return refuse(`unknown signature algorithm "${alg}"`);
  const candidates = keys.filter((k) => kinds.includes(k.kind));
  if (!candidates.length) return refuse(`no trusted key of the type ${alg} needs (${kinds.join(' or ')})`);
  const size = req.size;
  if (typeof size !== 'number' || !(size >= 0) || size !== Math.floor(size)) return refuse(`bad package size ${String(size)}`);
  const sig = Buffer.from(checked.sig.value, 'base64');
  const step = opts.chunkBytes ?? VERIFY_CHUNK_BYTES;

  // One Verify per candidate key, fed from one pass over storage: a Verify can verify only once.
  const vs = candidates.map(() => createVerify('sha256'));
  let off = 0;
  while (off < size) {
    if (opts.aborted?.()) return refuse('verification stopped');
    let chunk: Uint8Array;
    try { chunk = read(off, Math.min(step, size - off)); } catch (e) {
      return refuse(`package storage read failed at ${off}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!chunk.length) return refuse(`package storage ended at ${off} of ${size} bytes`);
    if (chunk.length > size - off) chunk = chunk.subarray(0, size - off);
    for (const v of vs) v.update(chunk);
    off += chunk.length;
    if (off < size) await new Promise<void>((r) => setImmediate(r));
  }
  if (opts.aborted?.()) return refuse('verification stopped');
  for (let i = 0; i < candidates.length; i++) {
    if (verifyWith(vs[i], alg, candidates[i].key, sig)) return { code: RC_VERIFIED, reason: `signature verified (${alg}, trust key ${candidates[i].source})` };
  }
  return refuse(`bad signature: no trusted ${kinds.join('/')} key verifies it (${alg}, ${candidates.length} tried)`);
}
