// Device accounts: validation of what an operator provisions, and the stored record.
import type { Account, ClientAuthType, ServerAuthType } from './storage/types.js';
import { newNonce } from './dm/auth.js';
import { base64Decode } from '../codec/base64.js';

export interface AccountInput {
  deviceId: string;
  clientUser: string;
  clientSecret: string;
  serverId: string;
  serverSecret: string;
  authType?: ClientAuthType;
  /** Default: the same scheme as the client's (what our device expects); libdmclient's
   *  'funambol' account wants basic from the client and md5 from the server. */
  serverAuthType?: ServerAuthType;
  /** b64 nonce the client expects in the server's first digest (DMAcc SRVCRED AAuthData). */
  clientNonce?: string;
  /** b64 nonce the client will use for its first digest (DMAcc CLCRED AAuthData). */
  serverNonce?: string;
  notifyHost?: string;
  notifyPort?: number;
}

export const CLIENT_AUTH_TYPES: readonly ClientAuthType[] = ['basic', 'md5', 'hmac'];
export const SERVER_AUTH_TYPES: readonly ServerAuthType[] = ['basic', 'md5', 'hmac', 'none'];

/** A new account record, or a one-line reason why the input is not acceptable. */
export function makeAccount(input: AccountInput, now = Date.now()): Account | string {
  const need: Array<[string, string]> = [
    ['device id', input.deviceId], ['client user', input.clientUser], ['client secret', input.clientSecret],
    ['server id', input.serverId], ['server secret', input.serverSecret],
  ];
  for (const [name, v] of need) {
    if (typeof v !== 'string' || v.length === 0) return `${name} is required`;
    if (v.length > 1024) return `${name} is longer than 1024 characters`;
  }
  const authType = input.authType ?? 'md5';
  if (!CLIENT_AUTH_TYPES.includes(authType)) return `auth must be one of ${CLIENT_AUTH_TYPES.join(', ')}`;
  const serverAuthType = input.serverAuthType ?? authType;
  if (!SERVER_AUTH_TYPES.includes(serverAuthType)) return `server auth must be one of ${SERVER_AUTH_TYPES.join(', ')}`;
  for (const [name, v] of [['client nonce', input.clientNonce], ['server nonce', input.serverNonce]] as const) {
    if (v !== undefined && base64Decode(v) === null) return `${name} must be base64`;
  }
  if (input.notifyPort !== undefined && !(Number.isInteger(input.notifyPort) && input.notifyPort > 0 && input.notifyPort < 65536)) {
    return 'notify port must be 1..65535';
  }
  const a: Account = {
    deviceId: input.deviceId, clientUser: input.clientUser, clientSecret: input.clientSecret,
    serverId: input.serverId, serverSecret: input.serverSecret, authType, serverAuthType,
    serverNonce: input.serverNonce ?? newNonce(),
    // A device that has never been challenged starts from the zero nonce (DM security, facts §2.8).
    clientNonce: input.clientNonce ?? 'AAAAAA==',
    createdAt: now, updatedAt: now,
  };
  if (input.notifyHost !== undefined) a.notifyHost = input.notifyHost;
  if (input.notifyPort !== undefined) a.notifyPort = input.notifyPort;
  return a;
}
