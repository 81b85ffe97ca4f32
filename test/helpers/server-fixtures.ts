// Scripted DM clients for the server tests: builds client messages with the model, posts them
// to a DmServer in-process (or over HTTP), decodes the replies.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command, Item, Status, SyncML, Cred, Results } from '../../src/codec/model.js';
import { decodeMessage, encodeMessage, contentTypeFor, SERVER_LIMITS } from '../../src/codec/index.js';
import { basicCred, md5Digest, hmacMac, formatHmacHeader, AUTH_MD5, AUTH_BASIC } from '../../src/dm/credentials.js';
import { base64Decode } from '../../src/codec/base64.js';
import { openSqliteStorage } from '../../src/server/storage/sqlite.js';
import type { Storage } from '../../src/server/storage/types.js';
import { DmServer } from '../../src/server/dm/server.js';
import { makeAccount, AccountInput } from '../../src/server/accounts.js';

export const ENDPOINT = 'http://127.0.0.1:9/dm';

export function tempDir(prefix = 'scomo-server-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs the same suites on another Storage backend: test/pg-*.test.ts sets `open` before importing one. */
export const storageBackend: { open?: () => Promise<Storage> } = {};

export async function newServer(accounts: AccountInput[] = []): Promise<{ dm: DmServer; storage: Storage; dir: string }> {
  const dir = tempDir();
  const storage = storageBackend.open ? await storageBackend.open() : openSqliteStorage(dir);
  for (const a of accounts) {
    const acc = makeAccount(a);
    if (typeof acc === 'string') throw new Error(acc);
    await storage.putAccount(acc);
  }
  return { dm: new DmServer({ storage }), storage, dir };
}

export const DEV = 'IMEI:493005100592800';

export function account(over: Partial<AccountInput> = {}): AccountInput {
  return {
    deviceId: DEV, clientUser: 'dev-user', clientSecret: 'dev-secret', serverId: 'scomo-srv', serverSecret: 'srv-secret',
    authType: 'basic', serverNonce: 'AAECAwQFBgcICQoLDA0ODw==', ...over,
  };
}

export function status(msgRef: string, cmdRef: string, cmd: string, code: number, extra: Partial<Status> = {}): Status {
  return { kind: 'Status', cmdID: '0', msgRef, cmdRef, cmd, targetRefs: [], sourceRefs: [], code, items: [], ...extra };
}

export function results(msgRef: string, cmdRef: string, items: Item[]): Results {
  return { kind: 'Results', cmdID: '0', msgRef, cmdRef, targetRefs: [], sourceRefs: [], items };
}

export function devInfoReplace(extra: Record<string, string> = {}): Command {
  const v: Record<string, string> = { './DevInfo/DevId': DEV, './DevInfo/Man': 'Acme', './DevInfo/Mod': 'X1', './DevInfo/DmV': '1.2', './DevInfo/Lang': 'en-US', ...extra };
  return { kind: 'Replace', cmdID: '0', items: Object.entries(v).map(([k, d]) => ({ source: { locURI: k }, data: d })) };
}

/** A scripted client: numbers messages and commands, follows RespURI, computes credentials. */
export class ScriptClient {
  msgId = 0;
  respURI: string | undefined;
  sessionId: string;
  nonce: Uint8Array = new Uint8Array(0);
  lastReply: SyncML | undefined;
  lastHmac: string | undefined;
  constructor(readonly dm: DmServer, public encoding: 'xml' | 'wbxml' = 'xml', public deviceId = DEV, sessionId = '1A', public maxMsgSize?: number) {
    this.sessionId = sessionId;
  }

  build(commands: Command[], opts: { final?: boolean; cred?: Cred; msgId?: number; locName?: string } = {}): SyncML {
    const msgID = String(opts.msgId ?? ++this.msgId);
    let n = 1;
    const numbered = commands.map((c) => ({ ...c, cmdID: String(n++) }) as Command);
    const m: SyncML = {
      hdr: {
        verDTD: '1.2', verProto: 'DM/1.2', sessionID: this.sessionId, msgID,
        target: { locURI: ENDPOINT }, source: { locURI: this.deviceId, ...(opts.locName ? { locName: opts.locName } : {}) },
        ...(opts.cred ? { cred: opts.cred } : {}),
        ...(this.maxMsgSize ? { meta: { maxMsgSize: String(this.maxMsgSize) } } : {}),
      },
      body: { commands: numbered, final: opts.final ?? true },
    };
    return m;
  }

  encode(m: SyncML): Uint8Array {
    const e = encodeMessage(m, this.encoding);
    if (!e.ok) throw new Error('encode: ' + e.error.message);
    return e.value;
  }

  /** Sends a message; returns the decoded reply (throws on a non-200). */
  async send(m: SyncML, opts: { hmac?: { user: string; pass: string }; rawHmac?: string; body?: Uint8Array } = {}): Promise<SyncML> {
    const body = opts.body ?? this.encode(m);
    let hmacHeader = opts.rawHmac;
    if (opts.hmac) hmacHeader = formatHmacHeader({ username: opts.hmac.user, mac: hmacMac(opts.hmac.user, opts.hmac.pass, this.nonce, body) });
    const key = this.respURI ? new URL(this.respURI).searchParams.get('s') ?? undefined : undefined;
    const r = await this.dm.handle({
      body, contentType: contentTypeFor(this.encoding), endpointUrl: ENDPOINT,
      ...(hmacHeader ? { hmacHeader } : {}), ...(key ? { sessionKey: key } : {}), remoteAddress: '127.0.0.1',
    });
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${Buffer.from(r.body).toString()}`);
    const d = decodeMessage(r.body, SERVER_LIMITS);
    if (!d.ok) throw new Error('reply decode: ' + d.error.message);
    this.lastReply = d.value.msg;
    this.lastHmac = r.headers['x-syncml-hmac'];
    if (d.value.msg.hdr.respURI) this.respURI = d.value.msg.hdr.respURI;
    // Keep the nonce the server hands out for the next digest.
    const hs = hdrStatus(d.value.msg);
    const nn = hs?.chal?.meta.nextNonce;
    if (nn) this.nonce = base64Decode(nn) ?? this.nonce;
    return d.value.msg;
  }
}

export function hdrStatus(m: SyncML): Status | undefined {
  return m.body.commands.find((c): c is Status => c.kind === 'Status' && c.cmdRef === '0');
}

export function statusFor(m: SyncML, cmdRef: string): Status | undefined {
  return m.body.commands.find((c): c is Status => c.kind === 'Status' && c.cmdRef === cmdRef && c.cmdRef !== '0');
}

export function commandsOf(m: SyncML): Command[] {
  return m.body.commands.filter((c) => c.kind !== 'Status');
}

export function basic(user: string, pass: string): Cred {
  return { meta: { type: AUTH_BASIC, format: 'b64' }, data: basicCred(user, pass) };
}

export function md5(user: string, pass: string, nonce: Uint8Array): Cred {
  return { meta: { type: AUTH_MD5, format: 'b64' }, data: md5Digest(user, pass, nonce) };
}

export function alert(code: number, items: Item[] = [], correlator?: string): Command {
  return { kind: 'Alert', cmdID: '0', code, items, ...(correlator ? { correlator } : {}) };
}

/** Statuses for every command of a server message, with `code` (or per-kind overrides). */
export function answerAll(m: SyncML, code = 200, per: (c: Command) => number | undefined = () => undefined): Command[] {
  const out: Command[] = [status(m.hdr.msgID, '0', 'SyncHdr', 200)];
  const walk = (cs: Command[]): void => {
    for (const c of cs) {
      if (c.kind === 'Status' || c.kind === 'Results') continue;
      if (c.kind === 'Alert' && c.code === 1222) continue;
      out.push(status(m.hdr.msgID, c.cmdID, c.kind, per(c) ?? code));
      if (c.kind === 'Atomic' || c.kind === 'Sequence') walk(c.commands);
    }
  };
  walk(m.body.commands);
  return out;
}
