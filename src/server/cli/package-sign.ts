// The signature `scomo package upload` sends with a package: read from a detached signature file
// (what `openssl dgst -sha256 -sign key.pem -out pkg.sig pkg` writes) or made here with a private
// key, streaming over the package so its size does not matter. Failures are SignError, one line.
import { createPrivateKey, createSign, KeyObject } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { MAX_SIGNATURE_B64, PackageSignature, SIGNATURE_ALGS, checkSignature } from '../../scomo/signature.js';
import { keyKind, keyOptions, kindsFor } from '../../../targets/node/signature-keys.js';

export class SignError extends Error {}

const MAX_SIGNATURE_BYTES = (MAX_SIGNATURE_B64 / 4) * 3;

function why(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (err.code && /^E[A-Z]+$/.test(err.code) ? err.code : String(err.message ?? e)).split('\n')[0];
}

function checkedAlg(alg: string): string {
  const a = alg.toLowerCase();
  if (SIGNATURE_ALGS.indexOf(a) < 0) throw new SignError(`unknown --sig-alg "${alg}" (known: ${SIGNATURE_ALGS.join(', ')})`);
  return a;
}

/** A binary signature file plus its algorithm (given, never guessed from the bytes). */
export async function signatureFromFile(file: string, alg: string): Promise<PackageSignature> {
  const a = checkedAlg(alg);
  let bytes: Buffer;
  try {
    const st = await fsp.stat(file);
    if (!st.isFile()) throw new SignError(`${file} is not a file`);
    if (st.size > MAX_SIGNATURE_BYTES) throw new SignError(`${file} is ${st.size} bytes, longer than any signature (${MAX_SIGNATURE_BYTES} at most); give the raw binary signature`);
    bytes = await fsp.readFile(file);
  } catch (e) {
    if (e instanceof SignError) throw e;
    throw new SignError(`cannot read ${file}: ${why(e)}`);
  }
  const r = checkSignature(a, bytes.toString('base64'));
  if (!r.ok) throw new SignError(`${file}: ${r.message}`);
  return r.sig;
}

/** The algorithm a key signs with: EC P-256 → ECDSA; RSA → PKCS#1 v1.5 unless PSS is asked for. */
export function algForKey(key: KeyObject, wanted: string | undefined, keyFile: string): string {
  const w = wanted === undefined ? undefined : checkedAlg(wanted);
  const kind = keyKind(key);
  const t = key.asymmetricKeyType;
  if (!kind) {
    if (t === 'ec') throw new SignError(`${keyFile} is an EC key on ${key.asymmetricKeyDetails?.namedCurve ?? 'an unknown curve'}; only P-256 (prime256v1) is supported`);
    throw new SignError(`${keyFile} is a${t && /^[aeiou]/.test(t) ? 'n' : ''} ${t ?? 'unknown'} key; signing needs an EC P-256 or RSA private key`);
  }
  const alg = w ?? (kind === 'ec-p256' ? 'ecdsa-p256-sha256' : kind === 'rsa-pss' ? 'rsa-pss-sha256' : 'rsa-pkcs1-sha256');
  if (!kindsFor(alg)!.includes(kind)) throw new SignError(`${keyFile} is an ${kind === 'ec-p256' ? 'EC P-256' : kind === 'rsa' ? 'RSA' : 'RSA-PSS'} key; it cannot sign ${alg}`);
  return alg;
}

export async function loadPrivateKey(keyFile: string): Promise<KeyObject> {
  let pem: Buffer;
  try {
    pem = await fsp.readFile(keyFile);
  } catch (e) {
    throw new SignError(`cannot read ${keyFile}: ${why(e)}`);
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem.toString('latin1'))) {
    throw new SignError(`${keyFile} is encrypted; decrypt it first (openssl pkey -in ${keyFile} -out plain.pem)`);
  }
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw new SignError(`${keyFile} is not a usable private key (PEM or DER, unencrypted): ${why(e)}`);
  }
}

/** Signs `file` with the key in `keyFile`, streaming; the same bytes openssl dgst -sha256 -sign would give. */
export async function signFile(file: string, keyFile: string, wantedAlg?: string): Promise<PackageSignature> {
  const key = await loadPrivateKey(keyFile);
  const alg = algForKey(key, wantedAlg, keyFile);
  const signer = createSign('sha256');
  try {
    await pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), signer);
  } catch (e) {
    throw new SignError(`cannot read ${file}: ${why(e)}`);
  }
  let sig: Buffer;
  try {
    sig = signer.sign(keyOptions(alg, key));
  } catch (e) {
    throw new SignError(`cannot sign with ${keyFile}: ${why(e)}`);
  }
  const r = checkSignature(alg, sig.toString('base64'));
  if (!r.ok) throw new SignError(`signature made with ${keyFile}: ${r.message}`);
  return r.sig;
}
