// The DM server: runs the session state machine (session.ts) for each request, against storage.
// It owns what the pure machine cannot do: finding the session and the account, loading queue
// entries, applying the machine's effects to storage, retransmitting the stored reply for a
// repeated MsgID, expiring abandoned sessions, and telling subscribers about alerts and about
// queued commands whose statuses came back.
import { EventEmitter } from 'node:events';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes, createHash } from 'node:crypto';
import type { Command, SyncML } from '../../codec/model.js';
import { decodeMessage, encodeMessage, contentTypeFor, encodingFromContentType, formatCodecError, SERVER_LIMITS } from '../../codec/index.js';
import { utf8Decode } from '../../codec/utf8.js';
import { toJson, fromJson } from '../storage/json.js';
import type { Account, AccountPatch, CommandOutcome, QueueEntry, ReceivedAlert, Storage, StorageEvent, StoredSession } from '../storage/types.js';
import { claimedUser, newNonce } from './auth.js';
import { Effect, SessionState, isSessionStart, newSessionState, processMessage, closeState } from './session.js';

export interface DmRequest {
  body: Uint8Array;
  contentType: string;
  /** x-syncml-hmac request header. */
  hmacHeader?: string;
  /** `s` query parameter of the request URL (from our RespURI). */
  sessionKey?: string;
  remoteAddress?: string;
  /** Absolute URL of the DM endpoint as the client reached it, without query (RespURI base). */
  endpointUrl: string;
}

export interface DmResponse {
  status: number;
  contentType: string;
  body: Uint8Array;
  headers: Record<string, string>;
}

export interface QueueHandle {
  id: number;
  /** Resolves with the entry (state 'done', outcomes filled) when its statuses came back. */
  done: Promise<QueueEntry>;
}

export interface DmServerOptions {
  storage: Storage;
  log?: (line: string) => void;
  /** Queue entries a session may take at once. */
  entriesPerSession?: number;
  /** A session idle longer than this is closed (ms). */
  sessionTtlMs?: number;
  /** MaxMsgSize advertised to clients (default 4 MB; keep it under the HTTP body limit). */
  maxMsgSize?: number;
}

export interface DmServerEvents {
  alert: [ReceivedAlert];
  'command-done': [QueueEntry];
  'session-start': [{ deviceId: string; key: string }];
  'session-end': [{ deviceId: string; key: string; reason: string }];
}

function textResponse(status: number, text: string): DmResponse {
  return { status, contentType: 'text/plain; charset=utf-8', body: new Uint8Array(Buffer.from(text + '\n')), headers: {} };
}

const NOTIFY_PORT_URI = /\/NotifyPort$/i;

/** How long a repeated request (a client retrying after a lost reply) gets the stored reply. */
export const RETRANSMIT_WINDOW_MS = 120_000;

export class DmServer extends EventEmitter<DmServerEvents> {
  readonly storage: Storage;
  private readonly log: (line: string) => void;
  private readonly entriesPerSession: number;
  readonly sessionTtlMs: number;
  private readonly maxMsgSize: number | undefined;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly waiters = new Map<number, Array<(e: QueueEntry) => void>>();
  private readonly entryCache = new Map<number, QueueEntry>();
  /** Events of the unit of work in progress (shared stores): fired once it has committed. */
  private readonly pending = new AsyncLocalStorage<Array<() => void>>();
  private readonly offEvents: (() => void) | undefined;
  private readonly waiterPoll: NodeJS.Timeout | undefined;

  constructor(opts: DmServerOptions) {
    super();
    this.storage = opts.storage;
    this.log = opts.log ?? (() => {});
    this.entriesPerSession = opts.entriesPerSession ?? 20;
    this.sessionTtlMs = opts.sessionTtlMs ?? 10 * 60 * 1000;
    this.maxMsgSize = opts.maxMsgSize;
    // Several processes on one store: a session may be continued by any of them, so the process
    // that queued a command learns its outcome from the others (and, should an event be lost,
    // from a slow poll of the entries it waits for).
    if (this.storage.shared && this.storage.subscribe) {
      this.offEvents = this.storage.subscribe((e) => { void this.remoteEvent(e); });
      this.waiterPoll = setInterval(() => { void this.pollWaiters(); }, 1000);
      this.waiterPoll.unref();
    }
  }

  /** Stops listening to other processes (the storage stays open). */
  close(): void {
    this.offEvents?.();
    if (this.waiterPoll) clearInterval(this.waiterPoll);
  }

  private async remoteEvent(e: StorageEvent): Promise<void> {
    try {
      if (e.type === 'command-done' && typeof e.id === 'number') {
        const entry = await this.storage.getEntry(e.id);
        if (entry && entry.state === 'done') { this.emit('command-done', entry); this.resolveWaiters(entry); }
      } else if (e.type === 'alert' && typeof e.id === 'number' && e.deviceId !== undefined) {
        const a = (await this.storage.listAlerts(e.deviceId, e.id - 1)).find((x) => x.id === e.id);
        if (a) this.emit('alert', a);
      }
    } catch (err) {
      this.log('event from another process could not be handled: ' + String(err));
    }
  }

  private polling = false;

  private async pollWaiters(): Promise<void> {
    if (this.polling || !this.waiters.size) return;
    this.polling = true;
    const ids = [...this.waiters.keys()];
    try {
      if (this.storage.doneEntries) {
        for (let i = 0; i < ids.length; i += 1000) for (const e of await this.storage.doneEntries(ids.slice(i, i + 1000))) this.resolveWaiters(e);
        return;
      }
      for (const id of ids) {
        const e = await this.storage.getEntry(id);
        if (e && e.state === 'done') this.resolveWaiters(e);
      }
    } catch { /* the store is closing or unreachable: next round */ } finally {
      this.polling = false;
    }
  }

  /** Emits now, or after the current unit of work commits; tells other processes too. */
  private fire<K extends keyof DmServerEvents>(ev: K, ...args: DmServerEvents[K]): void {
    const list = this.pending.getStore();
    const go = (): void => {
      (this.emit as (e: K, ...a: DmServerEvents[K]) => boolean)(ev, ...args);
      if (ev === 'command-done') this.resolveWaiters(args[0] as QueueEntry);
    };
    if (list) list.push(go); else go();
  }

  private async tell(e: StorageEvent): Promise<void> {
    if (this.storage.shared && this.storage.publish) await this.storage.publish(e);
  }

  /**
   * Queues commands for a device; they go out in its next session. Throws TypeError for a list
   * a server may not send (empty, or Status/Results/unsupported commands).
   */
  async queueCommands(deviceId: string, commands: Command[], opts: { tag?: string } = {}): Promise<QueueHandle> {
    if (!Array.isArray(commands) || commands.length === 0) throw new TypeError('queueCommands needs at least one command');
    const notSendable = (cs: Command[]): Command | undefined => {
      for (const c of cs) {
        if (c.kind === 'Atomic' || c.kind === 'Sequence') { const b = notSendable(c.commands); if (b) return b; }
        if (c.kind === 'Status' || c.kind === 'Results' || c.kind === 'Unsupported') return c;
      }
      return undefined;
    };
    const bad = notSendable(commands);
    if (bad) throw new TypeError(`a server cannot queue ${bad.kind === 'Unsupported' ? bad.name : bad.kind}`);
    const e = await this.storage.enqueue(deviceId, commands, opts.tag);
    return { id: e.id, done: this.waitForEntry(e.id) };
  }

  /**
   * Cancels an entry that has not gone out yet: it is done with every status 514 (operation
   * cancelled). False when it is already sent or done.
   */
  async cancelEntry(id: number): Promise<boolean> {
    const e = await this.storage.getEntry(id);
    if (!e || e.state !== 'queued') return false;
    const cancelled = (cs: Command[]): CommandOutcome[] => cs.map((c) => ({
      cmd: c.kind === 'Unsupported' ? c.name : c.kind, status: 514,
      ...(c.kind === 'Atomic' || c.kind === 'Sequence' ? { children: cancelled(c.commands) } : {}),
    }));
    if (!(await this.storage.withdrawEntry(id, cancelled(e.commands)))) return false;
    const done = await this.storage.getEntry(id);
    if (done) { await this.tell({ type: 'command-done', id, deviceId: done.deviceId }); this.fire('command-done', done); }
    return true;
  }

  /** Resolves when entry `id` is done (at once if it already is). */
  async waitForEntry(id: number): Promise<QueueEntry> {
    const p = new Promise<QueueEntry>((resolve) => {
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
    });
    const cur = await this.storage.getEntry(id);
    if (cur && cur.state === 'done') this.resolveWaiters(cur);
    return p;
  }

  private resolveWaiters(e: QueueEntry): void {
    const list = this.waiters.get(e.id);
    if (!list) return;
    this.waiters.delete(e.id);
    for (const r of list) r(e);
  }

  /** Serialises work under one key (a device, or a session being expired). */
  private async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const st = this.storage;
    const work = st.exclusive
      ? async (): Promise<T> => {
        // Across processes: one transaction under a lock on the key; events once it committed.
        const events: Array<() => void> = [];
        const r = await this.pending.run(events, () => st.exclusive!(key, fn));
        for (const go of events) go();
        return r;
      }
      : fn;
    const run = prev.then(work, work);
    const tail = run.then(() => undefined, () => undefined);
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }

  /** Handles one DM request body; never throws for bad input. */
  async handle(req: DmRequest): Promise<DmResponse> {
    const declared = encodingFromContentType(req.contentType);
    if (!declared) return textResponse(415, 'unsupported content type: ' + (req.contentType || '(none)'));
    const family = /application\/vnd\.syncml\.dm\+/i.test(req.contentType) ? 'dm' : 'syncml';
    const dec = decodeMessage(req.body, SERVER_LIMITS);
    if (!dec.ok) {
      this.log(`refused a message from ${req.remoteAddress ?? '?'}: ${formatCodecError(dec.error)}`);
      return textResponse(400, 'bad DM message: ' + formatCodecError(dec.error));
    }
    if (dec.value.encoding !== declared) return textResponse(400, `body is ${dec.value.encoding} but Content-Type says ${declared}`);
    const msg = dec.value.msg;
    // One device's requests run one at a time: two sessions of a device must not both take the
    // same queued commands.
    const lockKey = msg.hdr.source.locURI;
    try {
      return await this.withLock(lockKey, () => this.handleDecoded(req, msg, declared, contentTypeFor(declared, family)));
    } catch (err) {
      this.log('internal error: ' + (err instanceof Error ? err.stack ?? err.message : String(err)));
      return textResponse(500, 'internal server error');
    }
  }

  private async findAccount(msg: SyncML, hmacHeader: string | undefined): Promise<Account | undefined> {
    const byId = await this.storage.getAccount(msg.hdr.source.locURI);
    if (byId) return byId;
    const user = claimedUser(msg.hdr, hmacHeader);
    return user === undefined ? undefined : this.storage.findAccountByUser(user);
  }

  private async handleDecoded(req: DmRequest, msg: SyncML, encoding: 'xml' | 'wbxml', contentType: string): Promise<DmResponse> {
    const deviceUri = msg.hdr.source.locURI;
    const start = isSessionStart(msg);
    // The session: by the RespURI key, else by SyncHdr Source + SessionID (clients that ignore
    // RespURI). It must belong to the same client and SessionID.
    let stored = req.sessionKey ? await this.storage.getSession(req.sessionKey) : await this.storage.findSession(deviceUri, msg.hdr.sessionID);
    if (stored && (stored.deviceUri !== deviceUri || stored.sessionId !== msg.hdr.sessionID)) stored = undefined;
    // A client repeating its last message (lost reply) gets the same reply again: the same bytes,
    // soon after. Later it is a replay and goes through authentication. Package 1 is never taken
    // from here: a client that restarts with the same SessionID (libdmclient always uses 1) and
    // the same bytes is starting a new session.
    const requestHash = createHash('sha256').update(req.body).digest('base64');
    if (stored?.lastReply && !start && stored.lastReply.msgId === msg.hdr.msgID && stored.lastReply.requestHash === requestHash &&
        Date.now() - stored.updatedAt < RETRANSMIT_WINDOW_MS) {
      const h: Record<string, string> = {};
      if (stored.lastReply.hmac) h['x-syncml-hmac'] = stored.lastReply.hmac;
      return { status: 200, contentType: stored.lastReply.contentType, body: stored.lastReply.body, headers: h };
    }
    if (stored?.ended) stored = undefined;
    // Package 1 again under a SessionID we still hold open: the client started a new session.
    if (stored && !req.sessionKey && msg.hdr.msgID === '1' && start) stored = undefined;
    // Later messages may carry no credentials (after 212), so a session keeps its account.
    const account = stored ? await this.storage.getAccount(stored.deviceId) : await this.findAccount(msg, req.hmacHeader);
    const deviceId = account?.deviceId ?? deviceUri;
    let state: SessionState;
    if (stored) {
      state = fromJson<SessionState>(stored.state);
    } else if (start) {
      const key = randomBytes(12).toString('hex');
      state = newSessionState(key, deviceId, msg, encoding);
    } else {
      return this.unknownSession(msg, encoding, contentType);
    }
    state.encoding = encoding;

    // Entries the state refers to, and queued ones on offer.
    const entries: Record<string, QueueEntry> = {};
    const want = new Set<number>(Object.keys(state.entries).map(Number));
    for (const id of want) {
      // Shared store: another process may have changed the entry; always read it.
      const e = (this.storage.shared ? undefined : this.entryCache.get(id)) ?? (await this.storage.getEntry(id));
      if (e) { entries[String(id)] = e; if (!this.storage.shared) this.entryCache.set(id, e); }
    }
    const available: number[] = [];
    if (account) {
      for (const e of await this.storage.queuedEntries(account.deviceId, this.entriesPerSession)) {
        entries[String(e.id)] = e;
        available.push(e.id);
      }
    }
    const respURI = req.endpointUrl + '?s=' + state.key;
    const out = processMessage(state, {
      msg, body: req.body, account, entries, available, respURI, newNonce,
      ...(this.maxMsgSize !== undefined ? { maxMsgSize: this.maxMsgSize } : {}),
      ...(req.hmacHeader !== undefined ? { hmacHeader: req.hmacHeader } : {}),
    });
    if (out.body.length === 0) return textResponse(500, 'could not encode the reply');
    if (account && !state.authenticated && out.state.authenticated) {
      await this.supersedeSessions(deviceId, state.key);
      this.fire('session-start', { deviceId, key: state.key });
      // Until the device reports where it listens, package 0 goes to the address it connects from.
      if (!account.notifyHost && req.remoteAddress) out.effects.push({ type: 'account', patch: { notifyHost: req.remoteAddress.replace(/^::ffff:/, '') } });
    }
    await this.applyEffects(out.effects, out.state, deviceId, req.remoteAddress, entries);

    const headers: Record<string, string> = {};
    if (out.hmac) headers['x-syncml-hmac'] = out.hmac;
    if (account) {
      await this.storage.putSession({
        key: out.state.key, deviceId, deviceUri, sessionId: out.state.sessionId, state: toJson(out.state),
        lastReply: { msgId: msg.hdr.msgID, requestHash, body: out.body, contentType, ...(out.hmac ? { hmac: out.hmac } : {}) },
        ended: out.state.ended, updatedAt: Date.now(),
      });
    }
    return { status: 200, contentType, body: out.body, headers };
  }

  /** A message for a session this server does not have (and not a session start). */
  private unknownSession(msg: SyncML, encoding: 'xml' | 'wbxml', contentType: string): DmResponse {
    const reply: SyncML = {
      hdr: {
        verDTD: '1.2', verProto: 'DM/1.2', sessionID: msg.hdr.sessionID, msgID: '1',
        target: { locURI: msg.hdr.source.locURI }, source: { locURI: msg.hdr.target.locURI },
      },
      body: {
        commands: [
          { kind: 'Status', cmdID: '1', msgRef: msg.hdr.msgID, cmdRef: '0', cmd: 'SyncHdr', targetRefs: [msg.hdr.target.locURI], sourceRefs: [msg.hdr.source.locURI], code: 404, items: [] },
          { kind: 'Alert', cmdID: '2', code: 1223, items: [] },
        ],
        final: true,
      },
    };
    const enc = encodeMessage(reply, encoding);
    if (!enc.ok) return textResponse(404, 'unknown session');
    return { status: 200, contentType, body: enc.value, headers: {} };
  }

  private async applyEffects(effects: Effect[], state: SessionState, deviceId: string, remote: string | undefined, entries: Record<string, QueueEntry>): Promise<void> {
    const patch: AccountPatch = {};
    let patched = false;
    for (const ef of effects) {
      switch (ef.type) {
        case 'account':
          Object.assign(patch, ef.patch);
          patched = true;
          break;
        case 'chunk':
          await this.storage.appendChunk(state.key, ef.data);
          break;
        case 'chunk-discard':
          await this.storage.clearChunks(state.key);
          break;
        case 'lo-complete': {
          const bytes = await this.storage.readChunks(state.key);
          await this.storage.clearChunks(state.key);
          ef.item.data = ef.text ? utf8Decode(bytes) : bytes;
          break;
        }
        case 'entry-sent': {
          await this.storage.setEntryState(ef.entryId, 'sent');
          const e = entries[String(ef.entryId)];
          if (e && !this.storage.shared) this.entryCache.set(e.id, e);
          break;
        }
        case 'entry-requeue':
          await this.storage.setEntryState(ef.entryId, 'queued');
          this.entryCache.delete(ef.entryId);
          break;
        case 'entry-done': {
          await this.storage.setEntryState(ef.entryId, 'done', ef.outcomes);
          this.entryCache.delete(ef.entryId);
          const e = await this.storage.getEntry(ef.entryId);
          if (e) {
            await this.tell({ type: 'command-done', id: e.id, deviceId: e.deviceId });
            this.fire('command-done', e);
          }
          break;
        }
        case 'alert': {
          const a = await this.storage.addAlert({
            deviceId, code: ef.code, items: ef.items, sessionKey: state.key, receivedAt: Date.now(),
            ...(ef.correlator !== undefined ? { correlator: ef.correlator } : {}),
          });
          await this.tell({ type: 'alert', id: a.id, deviceId: a.deviceId });
          this.fire('alert', a);
          break;
        }
        case 'devinfo': {
          const acc = await this.storage.getAccount(deviceId);
          if (!acc) break;
          patch.devInfo = { ...(acc.devInfo ?? {}), ...ef.values };
          // The device reports where it listens for package 0 (e.g. ./DevDetail/Ext/NotifyPort).
          for (const [uri, v] of Object.entries(ef.values)) {
            if (NOTIFY_PORT_URI.test(uri) && /^[0-9]{1,5}$/.test(v.trim()) && Number(v) > 0 && Number(v) < 65536) {
              patch.notifyPort = Number(v);
              if (remote) patch.notifyHost = remote.replace(/^::ffff:/, '');
            }
          }
          patched = true;
          break;
        }
        case 'log':
          this.log(`[${deviceId}] ${ef.message}`);
          break;
        case 'ended':
          this.log(`[${deviceId}] session ${state.sessionId} ended: ${ef.reason}`);
          this.fire('session-end', { deviceId, key: state.key, reason: ef.reason });
          break;
      }
    }
    if (patched) await this.storage.updateAccount(deviceId, patch);
  }

  /**
   * Closes sessions idle longer than the TTL (their unanswered commands settle with status 0,
   * never-sent ones go back to the queue) and re-queues entries left 'sent' by a session that no
   * longer exists (e.g. after a crash).
   */
  async expireSessions(now = Date.now()): Promise<number> {
    const cutoff = now - this.sessionTtlMs;
    const stale = await this.storage.staleSessions(cutoff);
    let n = 0;
    for (const s of stale) {
      const st = fromJson<SessionState>(s.state);
      await this.withLock(st.deviceUri, async () => {
        // Re-read under the lock: a request may have used the session meanwhile.
        const cur = await this.storage.getSession(s.key);
        if (!cur || cur.updatedAt >= cutoff) return;
        if (!cur.ended) {
          const effects: Effect[] = [];
          const state = fromJson<SessionState>(cur.state);
          closeState(state, 'expired', effects);
          await this.applyEffects(effects, state, cur.deviceId, undefined, {});
        }
        await this.storage.deleteSession(cur.key);
        n++;
      });
    }
    return n;
  }

  /**
   * A device runs one session at a time: when it authenticates a new one, its older open
   * sessions (e.g. cut by a reboot) are closed now instead of at expiry.
   */
  private async supersedeSessions(deviceId: string, keep: string): Promise<void> {
    for (const s of await this.storage.openSessions(deviceId)) {
      if (s.key === keep) continue;
      const st = fromJson<SessionState>(s.state);
      const effects: Effect[] = [];
      closeState(st, 'superseded by a new session', effects);
      await this.applyEffects(effects, st, deviceId, undefined, {});
      await this.storage.putSession({ ...s, state: toJson(st), ended: true, updatedAt: Date.now() });
    }
  }

  /** After a restart: entries marked 'sent' whose session is gone go back to the queue. */
  async recoverEntries(): Promise<void> {
    for (const e of await this.storage.sentEntries()) {
      let live = false;
      // A live session lists the entry in its state.
      for (const s of await this.storage.staleSessions(Number.MAX_SAFE_INTEGER)) {
        if (!s.ended && fromJson<SessionState>(s.state).entries[String(e.id)]) { live = true; break; }
      }
      if (!live) await this.storage.setEntryState(e.id, 'queued');
    }
  }
}
