// Both directions of DM authentication for the client (facts §2.7; DOC-24, DOC-51): the Cred or
// x-syncml-hmac the client sends, and the check of what the server sends with SRVCRED.
import type { Chal, Cred } from '../codec/model.js';
import { utf8Encode } from '../codec/utf8.js';
import {
  AUTH_BASIC, AUTH_MAC, AUTH_MD5, basicCred, decodeNonce, encodeNonce, formatHmacHeader, hmacMac,
  md5Digest, parseBasic, parseHmacHeader, secretEqual, verifyHmacMac, verifyMd5Digest,
} from './credentials.js';
import type { ClientAuthType, ServerAuthType } from './types.js';

export const HMAC_HEADER = 'x-syncml-hmac';

export function authTypeName(t: ClientAuthType): string {
  return t === 'basic' ? AUTH_BASIC : t === 'md5' ? AUTH_MD5 : AUTH_MAC;
}

/** Our type for a Cred/Chal Meta Type; undefined for types the client does not do (X509, ...). */
export function authTypeOf(name: string | undefined): ClientAuthType | undefined {
  if (name === undefined) return undefined;
  const n = name.trim().toLowerCase();
  if (n === AUTH_BASIC) return 'basic';
  if (n === AUTH_MD5) return 'md5';
  if (n === AUTH_MAC.toLowerCase()) return 'hmac';
  return undefined;
}

/** SyncHdr Cred for basic and MD5; HMAC travels in the transport header instead. */
export function clientCred(type: ClientAuthType, user: string, secret: string, nonce: Uint8Array): Cred | undefined {
  if (type !== 'basic' && type !== 'md5') return undefined;
  return { meta: { format: 'b64', type: authTypeName(type) }, data: type === 'basic' ? basicCred(user, secret) : md5Digest(user, secret, nonce) };
}

export function hmacHeader(user: string, secret: string, nonce: Uint8Array, body: Uint8Array): string {
  return formatHmacHeader({ username: user, mac: hmacMac(user, secret, nonce, body) });
}

/** A Chal's NextNonce as bytes: base64 unless the Meta says otherwise. */
export function chalNonce(chal: Chal | undefined): Uint8Array | undefined {
  if (!chal || chal.meta.nextNonce === undefined) return undefined;
  const f = chal.meta.format;
  if (f !== undefined && f.trim().toLowerCase() !== 'b64') return utf8Encode(chal.meta.nextNonce);
  const d = decodeNonce(chal.meta.nextNonce.trim());
  return d || undefined;
}

export function makeChal(type: ServerAuthType, nonce: Uint8Array | undefined): Chal {
  const t = type === 'none' ? 'basic' : type;
  const chal: Chal = { meta: { format: 'b64', type: authTypeName(t) } };
  if (nonce && t !== 'basic') chal.meta.nextNonce = encodeNonce(nonce);
  return chal;
}

export type ServerAuthResult = 'ok' | 'missing' | 'bad';

/**
 * Checks the server's credentials: basic or MD5 Cred in its SyncHdr (against the nonce this
 * client issued), or the x-syncml-hmac header over the exact body.
 */
export function verifyServer(type: ServerAuthType, user: string, secret: string, nonce: Uint8Array,
  cred: Cred | undefined, hmacValue: string | undefined, body: Uint8Array): ServerAuthResult {
  if (type === 'none') return 'ok';
  if (type === 'hmac') {
    if (hmacValue === undefined) return 'missing';
    const h = parseHmacHeader(hmacValue);
    if (!h || h.algorithm !== 'MD5' || h.username !== user) return 'bad';
    return verifyHmacMac(user, secret, nonce, body, h.mac) ? 'ok' : 'bad';
  }
  if (!cred) return 'missing';
  const t = authTypeOf(cred.meta ? cred.meta.type : undefined);
  // A Cred without Meta Type is basic by default (SyncML RepPro §5.1.4).
  if ((t === undefined ? 'basic' : t) !== type) return 'bad';
  if (type === 'basic') {
    const b = parseBasic(cred.data.trim());
    return b && secretEqual(b.user, user) && secretEqual(b.pass, secret) ? 'ok' : 'bad';
  }
  return verifyMd5Digest(user, secret, nonce, cred.data) ? 'ok' : 'bad';
}
