// Builds scripted DM server messages and reads the client's replies, for golden-transcript
// tests of the client session engine.
import { decodeMessage, encodeMessage, SERVER_LIMITS } from '../../src/codec/index.js';
import type { Encoding } from '../../src/codec/index.js';
import type { Chal, Command, Cred, Item, Meta, Status, SyncML } from '../../src/codec/model.js';
import type { ClientSessionConfig, Outgoing, SessionStep } from '../../src/dm/types.js';

export const SERVER_URL = 'http://dm.example/dm';
export const DEVICE = 'IMEI:493005100592800';

export function baseConfig(over?: Partial<ClientSessionConfig>): ClientSessionConfig {
  const c: ClientSessionConfig = {
    deviceId: DEVICE,
    serverId: 'srv',
    serverUrl: SERVER_URL,
    client: { authType: 'basic', user: 'dev', secret: 'devpw' },
    server: { authType: 'none', secret: 'srvpw' },
    encoding: 'xml',
  };
  return Object.assign(c, over || {});
}

export interface ServerMsgOpts {
  sessionID: string;
  msgID: number | string;
  commands?: Command[];
  final?: boolean;
  cred?: Cred;
  respURI?: string;
  meta?: Meta;
}

export function serverMsg(o: ServerMsgOpts): SyncML {
  const msg: SyncML = {
    hdr: {
      verDTD: '1.2', verProto: 'DM/1.2', sessionID: o.sessionID, msgID: String(o.msgID),
      target: { locURI: DEVICE }, source: { locURI: SERVER_URL },
    },
    body: { commands: o.commands || [], final: o.final !== false },
  };
  if (o.cred) msg.hdr.cred = o.cred;
  if (o.respURI) msg.hdr.respURI = o.respURI;
  if (o.meta) msg.hdr.meta = o.meta;
  return msg;
}

export function enc(msg: SyncML, encoding?: Encoding): Uint8Array {
  const r = encodeMessage(msg, encoding || 'xml');
  if (!r.ok) throw new Error('test message does not encode: ' + r.error.message);
  return r.value;
}

export function dec(bytes: Uint8Array): SyncML {
  const r = decodeMessage(bytes, SERVER_LIMITS);
  if (!r.ok) throw new Error('client message does not decode: ' + r.error.message);
  return r.value.msg;
}

export function sent(step: SessionStep): { out: Outgoing; msg: SyncML } {
  if (step.kind !== 'send') throw new Error('expected a message, got done: ' + step.reason);
  return { out: step, msg: dec(step.body) };
}

/** Status on the client's SyncHdr. */
export function hdrStatus(msgRef: string, code: number, chal?: Chal, cmdID?: string): Status {
  const s: Status = { kind: 'Status', cmdID: cmdID || '1', msgRef, cmdRef: '0', cmd: 'SyncHdr', targetRefs: [DEVICE], sourceRefs: [SERVER_URL], code, items: [] };
  if (chal) s.chal = chal;
  return s;
}

export function status(msgRef: string, cmdRef: string, cmd: string, code: number, cmdID: string): Status {
  return { kind: 'Status', cmdID, msgRef, cmdRef, cmd, targetRefs: [], sourceRefs: [], code, items: [] };
}

export function item(target: string, data?: string | Uint8Array, meta?: Meta): Item {
  const it: Item = { target: { locURI: target } };
  if (meta) it.meta = meta;
  if (data !== undefined) it.data = data;
  return it;
}

/** Statuses in a client message, by the server CmdRef they answer, as "cmd:code". */
export function statusMap(msg: SyncML): { [cmdRef: string]: string[] | undefined } {
  const m: { [cmdRef: string]: string[] } = {};
  for (const c of msg.body.commands) {
    if (c.kind !== 'Status') continue;
    (m[c.cmdRef] = m[c.cmdRef] || []).push(c.cmd + ':' + c.code);
  }
  return m;
}

export function kinds(msg: SyncML): string[] {
  return msg.body.commands.map((c) => c.kind === 'Alert' ? 'Alert' + c.code : c.kind);
}
