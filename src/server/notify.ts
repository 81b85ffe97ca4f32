// Package 0 (facts §2.8): built with the server's SRVCRED secret and the client's nonce, sent
// as one UDP datagram to the device's notification address.
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { randomInt } from 'node:crypto';
import { encodePackage0, sessionIdToHex, UI_NOT_SPECIFIED } from '../dm/package0.js';
import { base64Decode } from '../codec/base64.js';
import type { Account } from './storage/types.js';

/** Connectionless WAP push port, the default when a device reported none [DOC-63]. */
export const DEFAULT_NOTIFY_PORT = 2948;

export interface NotifyOptions {
  uiMode?: number;
  /** 1..0xFFFF; random when absent. */
  sessionId?: number;
  host?: string;
  port?: number;
}

export interface NotifyResult {
  sessionId: number;
  /** The SessionID the device will use in SyncHdr. */
  sessionIdHex: string;
  host: string;
  port: number;
  bytes: Uint8Array;
}

export function buildPackage0(account: Account, sessionId: number, uiMode = UI_NOT_SPECIFIED): Uint8Array {
  const nonce = base64Decode(account.clientNonce) ?? new Uint8Array(0);
  return encodePackage0({ uiMode, initiator: 'server', sessionId, serverId: account.serverId }, account.serverSecret, nonce, account.serverId);
}

export function sendDatagram(bytes: Uint8Array, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    sock.once('error', (err) => { sock.close(); reject(err); });
    sock.send(bytes, port, host, (err) => {
      sock.close();
      if (err) reject(err); else resolve();
    });
  });
}

/** Sends package 0 to the device; rejects with a clear message when no address is known. */
export async function notifyDevice(account: Account, opts: NotifyOptions = {}): Promise<NotifyResult> {
  const host = opts.host ?? account.notifyHost;
  const port = opts.port ?? account.notifyPort ?? DEFAULT_NOTIFY_PORT;
  if (!host) throw new Error(`no notification address known for device ${account.deviceId} (it has not connected yet)`);
  const sessionId = opts.sessionId ?? randomInt(1, 0x10000);
  const bytes = buildPackage0(account, sessionId, opts.uiMode);
  await sendDatagram(bytes, host, port);
  return { sessionId, sessionIdHex: sessionIdToHex(sessionId), host, port, bytes };
}
