// The host ABI: what firmware provides to the agent, and the events it feeds in.
// Documented for integrators in targets/host-abi.md; the C mirror is targets/c/scomo_host.h.
//
// Two kinds of host functions:
//  - synchronous ones that return at once (flash, package storage, clock, random, log): a
//    device does these in a few microseconds to milliseconds and the store's power-safety
//    argument needs them to be complete when they return;
//  - asynchronous requests (HTTP, timers, installers) that take a request id and complete by
//    the host calling back into the agent with an event carrying the same id.
// The agent never blocks and never keeps a JS stack across an asynchronous operation, so the same
// code runs on QuickJS, Duktape and Espruino-class engines.

import type { Flash } from '../store/api.js';
import type { CryptoProvider } from '../crypto/provider.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'HEAD';
  url: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}

/** 'ok', or why a package storage call failed ('no-space' maps to SCOMO result 1404). */
export type StorageStatus = 'ok' | 'no-space' | 'error';

/**
 * Where package bytes go: a partition or files separate from the config store (packages are
 * large). Keyed so several packages can be delivered at once. Synchronous, like flash.
 */
export interface PackageStorage {
  /** Prepares the area for `key`, keeping bytes already there (a resumed download needs them). */
  open(key: string): StorageStatus;
  /** Appends bytes at the end. */
  append(key: string, bytes: Uint8Array): StorageStatus;
  /** Bytes stored for `key` (0 when none). */
  size(key: string): number;
  /** Keeps the first `length` bytes (0 when a download restarts). */
  truncate(key: string, length: number): StorageStatus;
  /** Makes every appended byte durable. */
  sync(key: string): StorageStatus;
  /** Reads up to `length` bytes at `offset` (streaming to installers and hashing). */
  read(key: string, offset: number, length: number): Uint8Array;
  /** Deletes the area. */
  remove(key: string): void;
}

/** A per-PkgType/EnvType installer: the hardware hook, in the shape of ota_begin/write/end. */
export interface InstallRequest {
  /** Component identity as far as known before install (from the package manifest or the server). */
  pkgId: string;
  pkgType: string;
  envType?: string;
  installParams?: string;
  /** Storage key of the delivered package. */
  storageKey: string;
  size: number;
  /** Activate after install (Install / DownloadInstall) or leave inactive (…Inactive). */
  activate: boolean;
  /** ID of the component this package updates, when the agent knows it. */
  componentId?: string;
}

export interface InstallResult {
  /** SCOMO result code: 1200 on success, 1405/1406/1407/1413 ... on failure. */
  resultCode: number;
  /** The deployed component's identity, as read from the package (manifest). */
  component?: { id: string; name: string; version: string; description?: string };
}

/**
 * Host.verifyPackage's request: check a detached signature over the whole delivered package
 * before it is installed (SCOMO result 1407 when it does not verify).
 */
export interface VerifyRequest {
  pkgId: string;
  /** Storage key of the delivered package (read it with PackageStorage.read). */
  storageKey: string;
  size: number;
  /**
   * Signature algorithm, lower case: 'ecdsa-p256-sha256' (DER, as `openssl dgst -sha256 -sign`
   * writes it), 'rsa-pkcs1-sha256' or 'rsa-pss-sha256' (salt length = digest length). Each signs
   * the SHA-256 of the package bytes, so a host whose crypto library verifies a digest can use
   * `sha256` instead of reading the package again. Unknown algorithms fail (1407).
   */
  alg: string;
  /** The signature, base64. */
  signature: string;
  /** Lower-case hex SHA-256 of the package, when the agent computed it (alternate download). */
  sha256?: string;
}

export interface Host {
  // --- synchronous ---
  flash: Flash;
  packages: PackageStorage;
  /** Milliseconds since the epoch (for TStamp and back-off). */
  now(): number;
  /** Cryptographically random bytes (nonces). */
  random(n: number): Uint8Array;
  log(level: LogLevel, message: string): void;
  /** Native MD5 / SHA-256, optional: packages are hashed while they stream, and pure JS is slow on small engines. */
  crypto?: CryptoProvider;

  // --- asynchronous: complete through Agent.on* events with the same id ---
  httpRequest(id: number, req: HttpRequest): void;
  /** Cancels an HTTP request in flight; no further events for it. */
  httpCancel(id: number): void;
  setTimer(id: number, ms: number): void;
  clearTimer(id: number): void;
  /** Installs a delivered package; completes with Agent.onInstallDone(id, result). */
  install(id: number, req: InstallRequest): void;
  /** Activates / deactivates / removes a deployed component; completes with onComponentOpDone(id, resultCode). */
  componentOp(id: number, op: 'activate' | 'deactivate' | 'remove', componentId: string): void;
  /**
   * Verifies a signed package against the device's trusted keys; completes with
   * Agent.onVerifyDone(id, resultCode): 1200 when the signature verifies, 1407 when it does not
   * (or no trusted key matches). Optional: without it a signed package fails with 1407, since
   * the device cannot tell a genuine package from a forged one. Called again after a reboot that
   * interrupted it, so it must not change anything.
   */
  verifyPackage?(id: number, req: VerifyRequest): void;
  /**
   * After a reboot that interrupted an install: the outcome if the install of `pkgId` committed
   * (A/B slot confirmed, directory swapped in), undefined if it did not (the agent reports 1405).
   */
  installStatus?(pkgId: string): InstallResult | undefined;
}
