// A package signature as it travels to the device: one string `<alg>:<base64>`, the same in the
// download descriptor's extension element and in a `<X>/Ext/Signature` leaf of the SCOMO tree,
// so the server writes and the device reads one format whichever way the package goes.
//
// The signature is detached and covers the package bytes exactly as delivered (what
// `openssl dgst -sha256 -sign key.pem -out pkg.sig pkg` produces for ECDSA and RSA keys).

/** Algorithms a host may be asked to verify; each signs the SHA-256 of the package. */
export const SIGNATURE_ALGS = ['ecdsa-p256-sha256', 'rsa-pkcs1-sha256', 'rsa-pss-sha256'];

/** Longest base64 signature accepted (an RSA-8192 signature is 1,368 characters). */
export const MAX_SIGNATURE_B64 = 2048;

export interface PackageSignature {
  alg: string;
  /** Base64 (standard alphabet, padded). */
  value: string;
}

export type SignatureParse = { ok: true; sig: PackageSignature } | { ok: false; message: string };

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Checks an algorithm name and a base64 value; the one place both ends validate them. */
export function checkSignature(alg: string, value: string): SignatureParse {
  const a = alg.toLowerCase();
  if (SIGNATURE_ALGS.indexOf(a) < 0) return { ok: false, message: 'unknown signature algorithm "' + alg + '" (known: ' + SIGNATURE_ALGS.join(', ') + ')' };
  const v = value.replace(/\s+/g, '');
  if (!v.length) return { ok: false, message: 'empty signature' };
  if (v.length > MAX_SIGNATURE_B64) return { ok: false, message: 'signature longer than ' + MAX_SIGNATURE_B64 + ' base64 characters' };
  if (!B64_RE.test(v)) return { ok: false, message: 'signature is not base64' };
  return { ok: true, sig: { alg: a, value: v } };
}

/** Parses `<alg>:<base64>` (blanks around either part are ignored). */
export function parseSignature(text: string): SignatureParse {
  const t = text.replace(/^\s+|\s+$/g, '');
  const i = t.indexOf(':');
  if (i <= 0) return { ok: false, message: 'signature is not "<alg>:<base64>"' };
  return checkSignature(t.substring(0, i).replace(/\s+$/, ''), t.substring(i + 1));
}

export function formatSignature(sig: PackageSignature): string {
  return sig.alg + ':' + sig.value;
}
