// The server side of one DM 1.2 session as a pure state machine: a decoded client message (plus
// the account, the queue entries it may send, and a nonce source) goes in; the reply message,
// the new state and a list of effects for storage come out. No I/O here, so every protocol path
// is testable in-process. The state is plain JSON and is stored between HTTP requests.
// Rules followed: facts §2.5 (packages, 1222, 1223), §2.6 (large objects), §2.7 (auth).
import type { Alert, Command, Item, Meta, Results, Status, SyncHdr, SyncML } from '../../codec/model.js';
import { metaInt } from '../../codec/model.js';
import { encodeMessage } from '../../codec/index.js';
import { base64Decode } from '../../codec/base64.js';
import { utf8Encode, utf8Length } from '../../codec/utf8.js';
import type { Account, AccountPatch, CommandOutcome, QueueEntry } from '../storage/types.js';
import { challenge, serverCred, serverHmacHeader, verifyClient } from './auth.js';
import {
  Encoding, InflightCmd, outcomeAt, outcomeSkeleton, outcomesComplete, prepareCommand, settleOutcomes,
} from './queue.js';
import { buildChunk, largestItem, wireData } from './outgoing-chunks.js';

export const ALERT_SERVER_INITIATED = 1200;
export const ALERT_CLIENT_INITIATED = 1201;
export const ALERT_NEXT_MESSAGE = 1222;
export const ALERT_SESSION_ABORT = 1223;
export const ALERT_CLIENT_EVENT = 1224;
export const ALERT_NO_END_OF_DATA = 1225;
export const ALERT_GENERIC = 1226;

/** Failed client authentications tolerated in one session before it is closed (two go to a
 *  mutual nonce resync when neither side knows the other's nonce yet). */
export const MAX_AUTH_FAILURES = 4;
/** Times the client may reject the server's credentials before the server gives up. */
export const MAX_SERVER_AUTH_FAILURES = 3;
/** Client MaxMsgSize assumed when it sends none. */
export const DEFAULT_CLIENT_MAX_MSG = 65536;
/** What the server advertises it accepts (matches SERVER_LIMITS order of magnitude). */
export const SERVER_MAX_MSG = 4 * 1024 * 1024;
/** Top-level commands per message, a bound on packing work. */
const MAX_COMMANDS_PER_MESSAGE = 200;
/** Bytes kept free under the client's MaxMsgSize for encoding slack (WBXML length prefixes). */
const SIZE_SLACK = 64;
/** Largest object accepted from a client (bytes as transmitted). */
export const MAX_INCOMING_OBJECT = 256 * 1024 * 1024;

export interface OutRef { entryId: number; index: number }

/** Large object being sent in chunks (facts §2.6). Offsets count bytes ('bytes') or UTF-16 units ('text'). */
export interface OutChunk {
  entryId: number;
  index: number;
  offset: number;
  /** Value of Meta Size on the first chunk. */
  size: number;
  form: 'bytes' | 'text';
}

/** Large object being received. */
export interface InChunk {
  /** 'results': Results for a Get we sent; 'replace': a Replace/Add from the client. */
  kind: 'results' | 'replace';
  uri: string;
  /** For 'results': the route key of the Get. */
  route?: string;
  size?: number;
  received: number;
  text: boolean;
  format?: string;
  meta?: Meta;
}

export interface SessionState {
  v: 1;
  key: string;
  deviceId: string;
  sessionId: string;
  encoding: Encoding;
  /** The server URI the client addresses (its SyncHdr Target). */
  serverUri: string;
  /** The device URI (client SyncHdr Source). */
  deviceUri: string;
  clientMsgId: number;
  serverMsgId: number;
  authenticated: boolean;
  authFailures: number;
  /** 'pending': send Cred every message; 'session': client answered 212. */
  serverAuth: 'pending' | 'session';
  serverAuthFailures: number;
  /** b64 nonce the client issued to us in this session (overrides the stored one). */
  clientNonce?: string;
  clientMaxMsgSize: number;
  clientMaxObjSize?: number;
  pendingOut: OutRef[];
  outChunk?: OutChunk;
  /** Every command sent this session, by `msgID:cmdID`: where its Status/Results go. */
  routes: Record<string, InflightCmd>;
  /** Route keys still waiting for a Status. */
  inflight: string[];
  entries: Record<string, CommandOutcome[]>;
  inChunk?: InChunk;
  ended: boolean;
  endReason?: string;
}

export type Effect =
  | { type: 'account'; patch: AccountPatch }
  | { type: 'entry-sent'; entryId: number }
  | { type: 'entry-requeue'; entryId: number }
  | { type: 'entry-done'; entryId: number; outcomes: CommandOutcome[] }
  | { type: 'alert'; code: number; correlator?: string; items: Item[] }
  | { type: 'devinfo'; values: Record<string, string> }
  | { type: 'chunk'; data: Uint8Array }
  /** The large object is complete: read the chunks, set `item.data` (text or bytes), clear them. */
  | { type: 'lo-complete'; item: Item; text: boolean }
  | { type: 'chunk-discard' }
  | { type: 'log'; message: string }
  | { type: 'ended'; reason: string };

export interface TurnInput {
  msg: SyncML;
  /** Exact request body (HMAC covers it). */
  body: Uint8Array;
  hmacHeader?: string;
  account: Account | undefined;
  /** Entries referenced by the state (pendingOut, outChunk) and the queued ones on offer. */
  entries: Record<string, QueueEntry>;
  /** Queued entry ids the session may start sending, oldest first. */
  available: number[];
  respURI: string;
  newNonce: () => string;
  /** MaxMsgSize the server advertises (largest message it accepts). Default SERVER_MAX_MSG. */
  maxMsgSize?: number;
}

export interface TurnOutput {
  state: SessionState;
  reply: SyncML;
  body: Uint8Array;
  /** x-syncml-hmac for the reply when the server authenticates by HMAC. */
  hmac?: string;
  effects: Effect[];
}

export function newSessionState(key: string, deviceId: string, msg: SyncML, encoding: Encoding): SessionState {
  return {
    v: 1, key, deviceId, sessionId: msg.hdr.sessionID, encoding,
    serverUri: msg.hdr.target.locURI, deviceUri: msg.hdr.source.locURI,
    clientMsgId: 0, serverMsgId: 0,
    authenticated: false, authFailures: 0, serverAuth: 'pending', serverAuthFailures: 0,
    clientMaxMsgSize: DEFAULT_CLIENT_MAX_MSG,
    pendingOut: [], routes: {}, inflight: [], entries: {}, ended: false,
  };
}

/** True when the message starts a session (Alert 1200/1201): a new session may be made for it. */
export function isSessionStart(msg: SyncML): boolean {
  return msg.body.commands.some((c) => c.kind === 'Alert' && (c.code === ALERT_CLIENT_INITIATED || c.code === ALERT_SERVER_INITIATED));
}

/** Helper to build one reply. */
class ReplyBuilder {
  readonly commands: Command[] = [];
  private nextId = 1;
  constructor(readonly msgRef: string) {}
  id(): string { return String(this.nextId++); }
  status(cmdRef: string, cmd: string, code: number, extra?: Partial<Status>): Status {
    const s: Status = { kind: 'Status', cmdID: this.id(), msgRef: this.msgRef, cmdRef, cmd, targetRefs: [], sourceRefs: [], code, items: [], ...extra };
    this.commands.push(s);
    return s;
  }
  alert(code: number, items: Item[] = []): Alert {
    const a: Alert = { kind: 'Alert', cmdID: this.id(), code, items };
    this.commands.push(a);
    return a;
  }
}

function itemUri(it: Item): string {
  return it.target?.locURI ?? it.source?.locURI ?? '';
}

function routeKey(msgRef: string, cmdRef: string): string {
  return msgRef + ':' + cmdRef;
}

/**
 * Ends the session in `st`: what was sent and not answered settles with status 0 (the outcome
 * is unknown), entries never sent go back to the queue, a half-received object is dropped.
 */
export function closeState(st: SessionState, reason: string, effects: Effect[]): void {
  if (st.ended) return;
  st.ended = true;
  st.endReason = reason;
  for (const id of Object.keys(st.entries)) {
    const outs = st.entries[id];
    const touched = Object.values(st.routes).some((f) => String(f.entryId) === id);
    if (!touched) effects.push({ type: 'entry-requeue', entryId: Number(id) });
    else { settleOutcomes(outs, 0); effects.push({ type: 'entry-done', entryId: Number(id), outcomes: outs }); }
  }
  st.entries = {};
  st.pendingOut = [];
  st.inflight = [];
  st.routes = {};
  st.outChunk = undefined;
  if (st.inChunk) { effects.push({ type: 'chunk-discard' }); st.inChunk = undefined; }
  effects.push({ type: 'ended', reason });
}

export function processMessage(prev: SessionState, input: TurnInput): TurnOutput {
  const st: SessionState = structuredClone(prev);
  const effects: Effect[] = [];
  const msg = input.msg;
  const hdr = msg.hdr;
  const msgId = parseInt(hdr.msgID, 10);
  const rb = new ReplyBuilder(hdr.msgID);
  // A nonce the client issued in this session outranks the stored one (it may not be stored yet).
  const account = input.account ? { ...input.account, ...(st.clientNonce !== undefined ? { clientNonce: st.clientNonce } : {}) } : undefined;

  const replyHdr = (withCred: boolean): SyncHdr => {
    const rh: SyncHdr = {
      verDTD: '1.2', verProto: 'DM/1.2', sessionID: st.sessionId, msgID: String(st.serverMsgId + 1),
      target: { locURI: st.deviceUri }, source: { locURI: st.serverUri || input.respURI }, respURI: input.respURI,
      meta: { maxMsgSize: String(input.maxMsgSize ?? SERVER_MAX_MSG), maxObjSize: String(MAX_INCOMING_OBJECT) },
    };
    if (withCred && account) {
      const c = serverCred(account);
      if (c) rh.cred = c;
    }
    return rh;
  };

  const finish = (commands: Command[], final: boolean, withCred: boolean): TurnOutput => {
    const reply: SyncML = { hdr: replyHdr(withCred), body: { commands, final } };
    st.serverMsgId++;
    const enc = encodeMessage(reply, st.encoding);
    // Every reply is built from the model; an encode failure is a bug, logged, answered empty.
    const body = enc.ok ? enc.value : new Uint8Array(0);
    if (!enc.ok) effects.push({ type: 'log', message: 'reply encode failed: ' + enc.error.message });
    const out: TurnOutput = { state: st, reply, body, effects };
    if (withCred && account) {
      const h = serverHmacHeader(account, body);
      if (h) out.hmac = h;
    }
    return out;
  };

  const entryBusy = (id: string): boolean =>
    st.pendingOut.some((r) => String(r.entryId) === id) ||
    (!!st.outChunk && String(st.outChunk.entryId) === id) ||
    st.inflight.some((k) => String(st.routes[k]?.entryId) === id) ||
    (!!st.inChunk?.route && String(st.routes[st.inChunk.route]?.entryId) === id);

  const completeEntries = (): void => {
    for (const id of Object.keys(st.entries)) {
      if (!entryBusy(id) && outcomesComplete(st.entries[id])) {
        effects.push({ type: 'entry-done', entryId: Number(id), outcomes: st.entries[id] });
        delete st.entries[id];
      }
    }
  };

  const end = (reason: string): void => closeState(st, reason, effects);

  const hdrRefs = { targetRefs: [hdr.target.locURI], sourceRefs: [hdr.source.locURI] };

  // ---- header ----
  if (!/^DM\/1\.[0-9]$/.test(hdr.verProto) || !/^1\.[0-9]$/.test(hdr.verDTD)) {
    rb.status('0', 'SyncHdr', 513, hdrRefs);
    end('unsupported protocol version ' + hdr.verProto);
    return finish(rb.commands, true, false);
  }
  if (msgId !== st.clientMsgId + 1) {
    // Out of order: refused without touching the session (a retransmit of the last MsgID is
    // answered from the stored reply before this machine runs).
    rb.status('0', 'SyncHdr', 400, hdrRefs);
    effects.push({ type: 'log', message: `out-of-order MsgID ${hdr.msgID} (expected ${st.clientMsgId + 1})` });
    return finish(rb.commands, true, false);
  }
  st.clientMsgId = msgId;
  const mms = metaInt(hdr.meta?.maxMsgSize);
  if (mms !== undefined && mms >= 256) st.clientMaxMsgSize = mms;
  const mos = metaInt(hdr.meta?.maxObjSize);
  if (mos !== undefined) st.clientMaxObjSize = mos;

  // ---- client authentication ----
  const hdrStatus = rb.status('0', 'SyncHdr', 200, hdrRefs);
  const refuseAll = (code: number): void => {
    for (const c of msg.body.commands) if (c.kind !== 'Status' && c.kind !== 'Results') rb.status(c.cmdID, cmdName(c), code);
  };
  if (!account) {
    hdrStatus.code = 401;
    refuseAll(401);
    end('unknown device ' + st.deviceId);
    return finish(rb.commands, true, false);
  }
  if (!st.authenticated || account.authType === 'hmac') {
    const v = verifyClient(account, hdr, input.hmacHeader, input.body);
    // Every check uses up the nonce: a replayed digest can never match again.
    const nonce = input.newNonce();
    if (account.authType !== 'basic') effects.push({ type: 'account', patch: { serverNonce: nonce } });
    if (!v.ok) {
      // The client may have refused our credentials in the same message: take its new nonce so
      // our next Cred can pass, but do not store a nonce from an unauthenticated peer [DOC-51].
      for (const c of msg.body.commands) {
        const nn = c.kind === 'Status' && c.cmdRef === '0' ? c.chal?.meta.nextNonce : undefined;
        if (nn !== undefined && base64Decode(nn) !== null) { st.clientNonce = nn; account.clientNonce = nn; }
      }
      st.authFailures++;
      hdrStatus.code = v.code;
      effects.push({ type: 'log', message: 'authentication failed: ' + v.reason });
      // After a failed authentication the reply holds only Status commands [facts §2.7].
      refuseAll(v.code);
      if (st.authFailures >= MAX_AUTH_FAILURES) {
        // Giving up: no new challenge, and an explicit abort so the client does not try again
        // into a session that no longer exists.
        rb.alert(ALERT_SESSION_ABORT);
        end('authentication failed ' + st.authFailures + ' times');
      } else hdrStatus.chal = challenge(account.authType, nonce);
      // Our own Cred still goes along: a client that requires server authentication checks every message.
      return finish(rb.commands, true, st.serverAuth !== 'session');
    }
    // HMAC: 200 and a new nonce on every message; basic/MD5: 212 for the whole session [DOC-51].
    hdrStatus.code = account.authType === 'hmac' ? 200 : 212;
    if (account.authType !== 'basic') hdrStatus.chal = challenge(account.authType, nonce);
    st.authenticated = true;
    if (st.clientNonce !== undefined && input.account && input.account.clientNonce !== st.clientNonce) {
      effects.push({ type: 'account', patch: { clientNonce: st.clientNonce } });
    }
  }

  // ---- client commands ----
  let clientAbort = false;
  let clientWantsNext = false;
  let serverRejected = false;
  const resend: OutRef[] = [];
  const devInfo: Record<string, string> = {};

  const handleStatus = (s: Status): void => {
    if (s.cmdRef === '0') {
      // The client's verdict on our credentials; a NextNonce is for our next Cred.
      const nn = s.chal?.meta.nextNonce;
      if (nn !== undefined && base64Decode(nn) !== null) {
        effects.push({ type: 'account', patch: { clientNonce: nn } });
        st.clientNonce = nn;
        account.clientNonce = nn;
      }
      if (s.code === 212) st.serverAuth = 'session';
      if (s.code === 401 || s.code === 407) {
        st.serverAuthFailures++;
        st.serverAuth = 'pending';
        serverRejected = true;
        effects.push({ type: 'log', message: 'client rejected the server credentials (' + s.code + ')' });
      }
      return;
    }
    const key = routeKey(s.msgRef, s.cmdRef);
    const f = st.routes[key];
    const at = st.inflight.indexOf(key);
    if (!f || at < 0) return; // Status for our own Alert 1222 etc.: nothing to route.
    st.inflight.splice(at, 1);
    const outs = st.entries[String(f.entryId)];
    const o = outs ? outcomeAt(outs, f.path) : undefined;
    if (!o) return;
    if (f.midChunk) {
      delete st.routes[key];
      if (s.code !== 213 && st.outChunk && st.outChunk.entryId === f.entryId) {
        // A refused chunk fails the whole object with that code [facts §2.6].
        o.status = s.code;
        st.outChunk = undefined;
      }
      return;
    }
    if (serverRejected && f.path.length === 1 && (s.code === 401 || s.code === 407 || s.code === 215)) {
      // Not executed because our credentials were refused: send it again with new ones.
      resend.push({ entryId: f.entryId, index: f.path[0] });
      return;
    }
    o.status = s.code;
    if (s.items.length) o.results = [...(o.results ?? []), ...s.items];
  };

  // One piece of a large object from the client (facts §2.6). Writes the Status it needs
  // (213 / 424 / 413; 200 for a completed Replace) and returns the item when it is complete.
  const receiveChunk = (kind: 'results' | 'replace', cmd: Command, item: Item, route: string | undefined): Item | undefined => {
    const uri = itemUri(item);
    const name = cmdName(cmd);
    const data = item.data === undefined ? new Uint8Array(0) : typeof item.data === 'string' ? utf8Encode(item.data) : item.data;
    if (st.inChunk && (st.inChunk.uri !== uri || st.inChunk.kind !== kind)) {
      // A new object before the previous one ended: tell the client with 1225.
      rb.alert(ALERT_NO_END_OF_DATA, [{ source: { locURI: st.inChunk.uri } }]);
      effects.push({ type: 'chunk-discard' });
      st.inChunk = undefined;
    }
    let c = st.inChunk;
    if (!c) {
      const size = metaInt(item.meta?.size ?? ('meta' in cmd ? cmd.meta?.size : undefined));
      if (size !== undefined && size > MAX_INCOMING_OBJECT) {
        rb.status(cmd.cmdID, name, 413, { sourceRefs: [uri] });
        return undefined;
      }
      c = { kind, uri, received: 0, text: typeof item.data === 'string' };
      if (route) c.route = route;
      if (size !== undefined) c.size = size;
      if (item.meta?.format) c.format = item.meta.format;
      st.inChunk = c;
    }
    c.received += data.length;
    // b64 text may declare the decoded size, so only the hard cap applies to it.
    const cap = c.size !== undefined && c.format !== 'b64' ? c.size : MAX_INCOMING_OBJECT;
    if (c.received > cap) {
      rb.status(cmd.cmdID, name, 424, { sourceRefs: [uri] });
      effects.push({ type: 'chunk-discard' });
      st.inChunk = undefined;
      return undefined;
    }
    effects.push({ type: 'chunk', data });
    if (item.moreData) {
      rb.status(cmd.cmdID, name, 213, { sourceRefs: [uri] });
      return undefined;
    }
    st.inChunk = undefined;
    // Size counts the bytes as transmitted; for b64 text the decoded length is accepted too.
    const decoded = Math.floor(c.received * 3 / 4);
    const sizeOk = c.size === undefined || c.size === c.received || (c.format === 'b64' && decoded - c.size >= 0 && decoded - c.size <= 2);
    if (!sizeOk) {
      rb.status(cmd.cmdID, name, 424, { sourceRefs: [uri] });
      effects.push({ type: 'chunk-discard' });
      return undefined;
    }
    const done: Item = { ...item };
    delete done.moreData;
    if (c.format && !done.meta?.format) done.meta = { ...(done.meta ?? {}), format: c.format };
    effects.push({ type: 'lo-complete', item: done, text: c.text });
    if (kind === 'replace') rb.status(cmd.cmdID, name, 200, { sourceRefs: [uri] });
    return done;
  };

  const handleResults = (r: Results): void => {
    const key = routeKey(r.msgRef ?? String(st.serverMsgId), r.cmdRef);
    const f = st.routes[key];
    const outs = f ? st.entries[String(f.entryId)] : undefined;
    const o = f && outs ? outcomeAt(outs, f.path) : undefined;
    for (const it of r.items) {
      let item: Item | undefined = { ...it };
      if (!item.meta && r.meta) item.meta = r.meta;
      if (it.moreData || st.inChunk) item = receiveChunk('results', r, item, f ? key : undefined);
      if (item && o) (o.results ??= []).push(item);
    }
  };

  for (const c of msg.body.commands) {
    switch (c.kind) {
      case 'Status':
        handleStatus(c);
        break;
      case 'Results':
        handleResults(c);
        break;
      case 'Alert': {
        const code = c.code ?? 0;
        if (code === ALERT_CLIENT_INITIATED || code === ALERT_SERVER_INITIATED) {
          rb.status(c.cmdID, 'Alert', 200);
        } else if (code === ALERT_NEXT_MESSAGE) {
          clientWantsNext = true;
          rb.status(c.cmdID, 'Alert', 200);
        } else if (code === ALERT_SESSION_ABORT) {
          clientAbort = true;
          rb.status(c.cmdID, 'Alert', 200);
        } else if (code === ALERT_GENERIC || code === ALERT_CLIENT_EVENT) {
          rb.status(c.cmdID, 'Alert', 200);
          const a: Effect = { type: 'alert', code, items: c.items };
          if (c.correlator !== undefined) a.correlator = c.correlator;
          effects.push(a);
        } else if (code === ALERT_NO_END_OF_DATA) {
          // The client saw our object end early: the object fails.
          rb.status(c.cmdID, 'Alert', 200);
          if (st.outChunk) {
            const outs = st.entries[String(st.outChunk.entryId)];
            const o = outs ? outcomeAt(outs, [st.outChunk.index]) : undefined;
            if (o) o.status = 1225;
            st.outChunk = undefined;
          }
        } else {
          rb.status(c.cmdID, 'Alert', 406);
        }
        break;
      }
      case 'Replace':
      case 'Add': {
        // Clients send Replace for DevInfo in package 1 [facts §2.1].
        let statusWritten = false;
        for (const it of c.items) {
          if (it.moreData || st.inChunk?.kind === 'replace') {
            receiveChunk('replace', c, { ...it }, undefined);
            statusWritten = true;
            continue;
          }
          const uri = itemUri(it);
          if (uri) devInfo[uri] = typeof it.data === 'string' ? it.data : '';
        }
        if (!statusWritten) rb.status(c.cmdID, c.kind, 200);
        break;
      }
      case 'Unsupported':
        rb.status(c.cmdID, c.name, 406);
        break;
      default:
        // A client MUST NOT send other commands [facts §2.1].
        rb.status(c.cmdID, cmdName(c), 405);
        break;
    }
  }
  if (Object.keys(devInfo).length) effects.push({ type: 'devinfo', values: devInfo });
  if (resend.length) st.pendingOut.unshift(...resend);

  if (clientAbort) {
    // The client stops: reply Status only [facts §2.5].
    end('aborted by client');
    return finish(rb.commands, true, false);
  }
  if (st.serverAuthFailures >= MAX_SERVER_AUTH_FAILURES) {
    rb.alert(ALERT_SESSION_ABORT);
    end('client refused the server credentials');
    return finish(rb.commands, true, false);
  }

  const sendCred = st.serverAuth !== 'session';

  // The client's package continues, or a large object is half received: ask for the next message.
  if ((!msg.body.final && !clientWantsNext) || st.inChunk) {
    rb.alert(ALERT_NEXT_MESSAGE);
    return finish(rb.commands, false, sendCred);
  }

  // The client's package is complete: a command it did not answer will never be answered.
  if (msg.body.final && !clientWantsNext && st.inflight.length) {
    for (const k of st.inflight) {
      const f = st.routes[k];
      const outs = f ? st.entries[String(f.entryId)] : undefined;
      const o = f && outs ? outcomeAt(outs, f.path) : undefined;
      if (o && o.status < 0 && !f!.midChunk) o.status = 0;
      if (f?.midChunk && st.outChunk) { if (o) o.status = 0; st.outChunk = undefined; }
    }
    st.inflight = [];
  }
  completeEntries();

  // ---- what the server sends next ----
  const base = rb.commands.slice();
  const sizeOf = (commands: Command[], final: boolean): number => {
    const e = encodeMessage({ hdr: replyHdr(sendCred), body: { commands, final } }, st.encoding);
    return e.ok ? e.value.length : Number.MAX_SAFE_INTEGER;
  };
  const budget = st.clientMaxMsgSize - SIZE_SLACK;
  const outMsgId = String(st.serverMsgId + 1);
  let nextCmd = base.length + 1;
  const nextId = (): string => String(nextCmd++);
  const entryOf = (id: number): QueueEntry | undefined => input.entries[String(id)];
  const addRoute = (cmdID: string, f: InflightCmd): void => {
    const k = routeKey(outMsgId, cmdID);
    st.routes[k] = f;
    st.inflight.push(k);
  };

  // New entries only when nothing of the current package is outstanding [facts §2.5].
  if (st.pendingOut.length === 0 && !st.outChunk && st.inflight.length === 0) {
    for (const id of input.available) {
      const e = entryOf(id);
      if (!e || st.entries[String(id)]) continue;
      st.entries[String(id)] = e.commands.map(outcomeSkeleton);
      for (let i = 0; i < e.commands.length; i++) st.pendingOut.push({ entryId: id, index: i });
      effects.push({ type: 'entry-sent', entryId: id });
    }
  }

  const sent: Command[] = [];
  if (st.outChunk) {
    const cmd = buildChunk(st, entryOf(st.outChunk.entryId), base, budget, sizeOf, nextId, addRoute, effects);
    if (cmd) sent.push(cmd);
  } else {
    while (st.pendingOut.length && sent.length < MAX_COMMANDS_PER_MESSAGE) {
      const ref = st.pendingOut[0];
      const e = entryOf(ref.entryId);
      const outs = st.entries[String(ref.entryId)];
      const src = e?.commands[ref.index];
      if (!e || !src || !outs) { st.pendingOut.shift(); continue; }
      const objSize = largestItem(src);
      if (st.clientMaxObjSize !== undefined && st.clientMaxObjSize > 0 && objSize > st.clientMaxObjSize) {
        outs[ref.index].status = 413;
        st.pendingOut.shift();
        effects.push({ type: 'log', message: `object of ${objSize} bytes exceeds the client's MaxObjSize ${st.clientMaxObjSize}` });
        continue;
      }
      const saveCmd = nextCmd;
      const reg: Array<[string, InflightCmd]> = [];
      const prepared = prepareCommand(src, st.encoding, nextId, [ref.index], (cmdID, path, cmd) => {
        reg.push([cmdID, { entryId: ref.entryId, path, cmd }]);
      });
      if (sizeOf([...base, ...sent, prepared], st.pendingOut.length === 1) <= budget) {
        sent.push(prepared);
        for (const [id, f] of reg) addRoute(id, f);
        st.pendingOut.shift();
        continue;
      }
      nextCmd = saveCmd;
      if (sent.length > 0) break;
      // Alone it does not fit: send it as a large object if it is one; otherwise it cannot go.
      const d = (src.kind === 'Replace' || src.kind === 'Add') && src.items.length === 1 ? src.items[0].data : undefined;
      if (d !== undefined) {
        const wire = wireData(st.encoding, d);
        st.outChunk = {
          entryId: ref.entryId, index: ref.index, offset: 0,
          // Size counts the data as transmitted (b64 text over XML), as the client counts it.
          size: typeof wire === 'string' ? utf8Length(wire) : wire.length,
          form: typeof wire === 'string' ? 'text' : 'bytes',
        };
        st.pendingOut.shift();
        const cmd = buildChunk(st, e, base, budget, sizeOf, nextId, addRoute, effects);
        if (cmd) sent.push(cmd);
        break;
      }
      outs[ref.index].status = 413;
      st.pendingOut.shift();
      effects.push({ type: 'log', message: 'command does not fit the client MaxMsgSize ' + st.clientMaxMsgSize });
    }
  }
  completeEntries();

  const more = st.pendingOut.length > 0 || !!st.outChunk;
  if (sent.length === 0 && !more) {
    // Nothing left to send: a package without commands closes the session [facts §2.5] -- unless
    // the client has not yet accepted our credentials: it may still answer with a challenge, so
    // the session stays open for that (and expires otherwise).
    const out = finish(base, true, sendCred);
    if (!(sendCred && account && account.serverAuthType !== 'none')) end('completed');
    return out;
  }
  return finish([...base, ...sent], !more, sendCred);
}

function cmdName(c: Command): string {
  return c.kind === 'Unsupported' ? c.name : c.kind;
}
