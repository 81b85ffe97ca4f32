// Package 0: the General Notification Initiated Session Alert (facts §2.8; DOC-62, DOC-63).
// Layout: digest(16) ‖ trigger; trigger = header(8) ‖ server-id(N) ‖ vendor bytes.
// Header bits, MSB first: version 10 | ui-mode 2 | initiator 1 | future-use 27 | session-id 16
// | server-id length 8. Arrives over UDP/SMS from anyone, so decoding is strictly bounded.
import { Result, ok, fail } from '../codec/errors.js';
import { utf8Encode, utf8DecodeStrict } from '../codec/utf8.js';
import { digestOverBytes, bytesEqual } from './credentials.js';

/** version×10; the 1.2-era text says 11 (libdmclient accepts only 11). */
export const PKG0_VERSION = 11;
export const PKG0_MIN_VERSION = 10;
export const PKG0_MAX_VERSION = 12;
/** A datagram / WAP push cannot be larger; anything bigger is refused before parsing. */
export const PKG0_MAX_BYTES = 65535;

export const UI_NOT_SPECIFIED = 0;
export const UI_BACKGROUND = 1;
export const UI_INFORMATIVE = 2;
export const UI_USER_INTERACTION = 3;

export type Pkg0Initiator = 'client' | 'server';

export interface Package0Fields {
  version?: number;
  uiMode: number;
  initiator: Pkg0Initiator;
  /** 0..0xFFFF; the session's SyncHdr SessionID is sessionIdToHex(sessionId). */
  sessionId: number;
  serverId: string;
  vendor?: Uint8Array;
}

export interface Package0 {
  /** The 16-byte MD5 digest as received. */
  digest: Uint8Array;
  /** Every byte after the digest: what the digest covers. */
  trigger: Uint8Array;
  version: number;
  uiMode: number;
  initiator: Pkg0Initiator;
  sessionId: number;
  serverId: string;
  /** Vendor-specific body after the header (may be empty). */
  vendor: Uint8Array;
}

const DIGEST_LEN = 16;
const HEADER_LEN = 8;

function triggerOf(f: Package0Fields): Uint8Array {
  const version = f.version === undefined ? PKG0_VERSION : f.version;
  if (!(version >= 0 && version <= 1023 && version % 1 === 0)) throw new RangeError('package 0 version out of range');
  if (!(f.uiMode >= 0 && f.uiMode <= 3 && f.uiMode % 1 === 0)) throw new RangeError('package 0 ui-mode out of range');
  if (!(f.sessionId >= 0 && f.sessionId <= 0xffff && f.sessionId % 1 === 0)) throw new RangeError('package 0 session id out of range');
  const id = utf8Encode(f.serverId);
  if (id.length > 255) throw new RangeError('package 0 server id longer than 255 bytes');
  const vendor = f.vendor || new Uint8Array(0);
  const t = new Uint8Array(HEADER_LEN + id.length + vendor.length);
  const hi = (version << 6) | (f.uiMode << 4) | (f.initiator === 'server' ? 8 : 0);
  t[0] = (hi >> 8) & 255;
  t[1] = hi & 255;
  // bytes 2..4 and the low 3 bits of byte 1: future use, zero
  t[5] = (f.sessionId >> 8) & 255;
  t[6] = f.sessionId & 255;
  t[7] = id.length;
  t.set(id, HEADER_LEN);
  t.set(vendor, HEADER_LEN + id.length);
  return t;
}

/**
 * Builds package 0. `serverName`/`serverPassword`/`nonce` are the server's credentials toward
 * the client (DMAcc AppAuth SRVCRED: AAuthName, AAuthSecret, AAuthData). Throws RangeError only
 * on out-of-range fields (a programming error, not input from the network).
 */
export function encodePackage0(f: Package0Fields, serverPassword: string, nonce: Uint8Array, serverName?: string): Uint8Array {
  const trigger = triggerOf(f);
  const digest = digestOverBytes(serverName === undefined ? f.serverId : serverName, serverPassword, nonce, trigger);
  const out = new Uint8Array(DIGEST_LEN + trigger.length);
  out.set(digest, 0);
  out.set(trigger, DIGEST_LEN);
  return out;
}

/** Parses package 0 without checking the digest (see verifyPackage0). */
export function decodePackage0(bytes: Uint8Array): Result<Package0> {
  if (bytes.length > PKG0_MAX_BYTES) return fail('limit', 'package 0 larger than ' + PKG0_MAX_BYTES + ' bytes', 0);
  if (bytes.length < DIGEST_LEN + HEADER_LEN) return fail('truncated', 'package 0 shorter than digest and header', bytes.length);
  const h = DIGEST_LEN;
  const version = (bytes[h] << 2) | (bytes[h + 1] >> 6);
  if (version < PKG0_MIN_VERSION || version > PKG0_MAX_VERSION) {
    return fail('unsupported', 'package 0 version ' + version + ' (accepts ' + PKG0_MIN_VERSION + '..' + PKG0_MAX_VERSION + ')', h);
  }
  const uiMode = (bytes[h + 1] >> 4) & 3;
  const initiator: Pkg0Initiator = bytes[h + 1] & 8 ? 'server' : 'client';
  const sessionId = (bytes[h + 5] << 8) | bytes[h + 6];
  const idLen = bytes[h + 7];
  const idEnd = h + HEADER_LEN + idLen;
  if (idEnd > bytes.length) return fail('truncated', 'package 0 server id runs past the end', bytes.length);
  const serverId = utf8DecodeStrict(bytes, h + HEADER_LEN, idEnd);
  if (typeof serverId !== 'string') return fail('malformed', 'package 0 server id is not UTF-8', -serverId - 1);
  return ok({
    digest: bytes.slice(0, DIGEST_LEN),
    trigger: bytes.slice(DIGEST_LEN),
    version,
    uiMode,
    initiator,
    sessionId,
    serverId,
    vendor: bytes.slice(idEnd),
  });
}

/**
 * True when the digest matches the trigger under the server's credentials. `serverName` is the
 * SRVCRED AAuthName (usually the ServerID). Accepts raw bytes or a decoded package.
 */
export function verifyPackage0(pkg: Uint8Array | Package0, serverName: string, serverPassword: string, nonce: Uint8Array): boolean {
  let digest: Uint8Array, trigger: Uint8Array;
  if (pkg instanceof Uint8Array) {
    if (pkg.length < DIGEST_LEN + HEADER_LEN || pkg.length > PKG0_MAX_BYTES) return false;
    digest = pkg.subarray(0, DIGEST_LEN);
    trigger = pkg.subarray(DIGEST_LEN);
  } else {
    digest = pkg.digest;
    trigger = pkg.trigger;
  }
  return bytesEqual(digestOverBytes(serverName, serverPassword, nonce, trigger), digest);
}

/** SyncHdr SessionID for a package 0 session id: uppercase hex, no leading zeros [DOC-62]. */
export function sessionIdToHex(n: number): string {
  return n.toString(16).toUpperCase();
}
