// Server-side DM authentication (facts §2.7; DOC-24, DOC-51): checking the client's credentials
// against its account, the challenges the server issues, and the credentials the server sends
// to prove itself (computed with the SRVCRED secret and the nonce the client gave us).
import { randomBytes } from 'node:crypto';
import type { Chal, Cred, SyncHdr } from '../../codec/model.js';
import { base64Encode, base64Decode } from '../../codec/base64.js';
import {
  AUTH_BASIC, AUTH_MD5, AUTH_MAC, basicCred, parseBasic, md5Digest, hmacMac, secretEqual,
  nonceCandidates, parseHmacHeader, formatHmacHeader,
} from '../../dm/credentials.js';
import type { Account, ClientAuthType, ServerAuthType } from '../storage/types.js';

export type AuthVerdict =
  | { ok: true }
  | { ok: false; code: 401 | 407; reason: string };

export function authTypeUri(t: ClientAuthType | ServerAuthType): string {
  return t === 'basic' ? AUTH_BASIC : t === 'md5' ? AUTH_MD5 : AUTH_MAC;
}

/** A fresh random nonce, b64 (16 bytes: never repeats in practice, so a used one is never reissued). */
export function newNonce(): string {
  return base64Encode(new Uint8Array(randomBytes(16)));
}

function nonceBytes(b64: string): Uint8Array {
  return base64Decode(b64) ?? new Uint8Array(0);
}

/**
 * Checks the client's proof for one message. `body` is the exact HTTP body (HMAC covers it).
 * The nonce is the account's current serverNonce; the caller rotates it after every check, so
 * a digest replayed with an already-used nonce can never match again.
 */
export function verifyClient(account: Account, hdr: SyncHdr, hmacHeader: string | undefined, body: Uint8Array): AuthVerdict {
  if (account.authType === 'hmac') {
    if (hmacHeader === undefined) return { ok: false, code: 407, reason: 'missing x-syncml-hmac header' };
    const h = parseHmacHeader(hmacHeader);
    if (!h) return { ok: false, code: 401, reason: 'malformed x-syncml-hmac header' };
    if (h.algorithm !== 'MD5') return { ok: false, code: 401, reason: 'unsupported hmac algorithm ' + h.algorithm };
    if (h.username !== account.clientUser) return { ok: false, code: 401, reason: 'unknown user ' + h.username };
    const mac = hmacMac(account.clientUser, account.clientSecret, nonceBytes(account.serverNonce), body);
    return secretEqual(mac, h.mac.trim()) ? { ok: true } : { ok: false, code: 401, reason: 'hmac mismatch' };
  }
  const cred = hdr.cred;
  if (!cred) return { ok: false, code: 407, reason: 'missing credentials' };
  // Basic is the default Type when Meta is absent [DOC-24].
  const type = cred.meta?.type ?? AUTH_BASIC;
  if (type !== authTypeUri(account.authType)) return { ok: false, code: 401, reason: 'credential type ' + type + ' not accepted' };
  if (account.authType === 'basic') {
    const b = parseBasic(cred.data.trim());
    if (!b) return { ok: false, code: 401, reason: 'malformed basic credentials' };
    const good = secretEqual(b.user, account.clientUser) && secretEqual(b.pass, account.clientSecret);
    return good ? { ok: true } : { ok: false, code: 401, reason: 'wrong user or password' };
  }
  const user = hdr.source.locName ?? account.clientUser;
  if (user !== account.clientUser) return { ok: false, code: 401, reason: 'unknown user ' + user };
  // Some clients hash the nonce text instead of its decoded bytes [impl: CM-SA]; accept either.
  for (const n of nonceCandidates(account.serverNonce)) {
    if (secretEqual(md5Digest(account.clientUser, account.clientSecret, n), cred.data.trim())) return { ok: true };
  }
  return { ok: false, code: 401, reason: 'digest mismatch' };
}

/** The user a message claims, to find an account when the device id is not known. */
export function claimedUser(hdr: SyncHdr, hmacHeader: string | undefined): string | undefined {
  if (hmacHeader !== undefined) return parseHmacHeader(hmacHeader)?.username;
  if (hdr.source.locName) return hdr.source.locName;
  const c = hdr.cred;
  if (c && (c.meta?.type ?? AUTH_BASIC) === AUTH_BASIC) return parseBasic(c.data.trim())?.user;
  return undefined;
}

/** Chal for a header Status (401/407, or 212/200 to hand out the next nonce). */
export function challenge(t: ClientAuthType, nextNonce: string): Chal {
  if (t === 'basic') return { meta: { type: AUTH_BASIC, format: 'b64' } };
  return { meta: { type: authTypeUri(t), format: 'b64', nextNonce } };
}

/** Cred for the server's SyncHdr; undefined for 'none' and 'hmac' (hmac goes in a header). */
export function serverCred(account: Account): Cred | undefined {
  switch (account.serverAuthType) {
    case 'basic':
      return { meta: { type: AUTH_BASIC, format: 'b64' }, data: basicCred(account.serverId, account.serverSecret) };
    case 'md5':
      return { meta: { type: AUTH_MD5, format: 'b64' }, data: md5Digest(account.serverId, account.serverSecret, nonceBytes(account.clientNonce)) };
    default:
      return undefined;
  }
}

/** x-syncml-hmac for a server reply body, when the server authenticates by HMAC. */
export function serverHmacHeader(account: Account, body: Uint8Array): string | undefined {
  if (account.serverAuthType !== 'hmac') return undefined;
  return formatHmacHeader({ username: account.serverId, mac: hmacMac(account.serverId, account.serverSecret, nonceBytes(account.clientNonce), body) });
}
