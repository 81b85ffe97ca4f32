// How node:crypto signs and verifies each package-signature algorithm (src/scomo/signature.ts),
// in one place for the Node verifier (package-verifier.ts), the upload CLI's signer
// (src/server/cli/package-sign.ts) and the benchmark: which keys fit which algorithm, and the
// options Sign.sign / Verify.verify take for it (the same object serves both).
import { constants, type KeyObject } from 'node:crypto';

/** RSA-PSS salt length: the SHA-256 digest length, what `openssl dgst -sigopt rsa_pss_saltlen:32` uses. */
export const PSS_SALT_LENGTH = 32;

export type KeyKind = 'ec-p256' | 'rsa' | 'rsa-pss';

/** The kind of a key, or undefined when no supported algorithm uses it (callers say why). */
export function keyKind(key: KeyObject): KeyKind | undefined {
  const t = key.asymmetricKeyType;
  if (t === 'rsa' || t === 'rsa-pss') return t;
  if (t === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ec-p256';
  return undefined;
}

/** Which key kinds can sign or verify an algorithm; undefined for an algorithm not known here. */
export function kindsFor(alg: string): KeyKind[] | undefined {
  if (alg === 'ecdsa-p256-sha256') return ['ec-p256'];
  if (alg === 'rsa-pkcs1-sha256') return ['rsa'];
  if (alg === 'rsa-pss-sha256') return ['rsa', 'rsa-pss'];
  return undefined;
}

/** The key with the padding / encoding options of `alg`, for Sign.sign and Verify.verify. */
export function keyOptions(alg: string, key: KeyObject) {
  if (alg === 'ecdsa-p256-sha256') return { key, dsaEncoding: 'der' as const };
  if (alg === 'rsa-pss-sha256') return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_LENGTH };
  return { key, padding: constants.RSA_PKCS1_PADDING };
}
