// The OMA DM 1.2 client session state machine (facts §2.5-§2.8), in libdmclient's shape: the
// driver POSTs what start()/receive() return and feeds back the reply until Done. Sans-I/O:
// no timers, no sockets; every durable fact (nonces) goes out through hooks before it is used.
import type { Alert, Chal, Command, Item, Meta, Replace, Status, SyncHdr } from '../codec/model.js';
import { metaInt } from '../codec/model.js';
import { contentTypeFor, decodeMessage, DEVICE_LIMITS } from '../codec/index.js';
import type { CodecLimits, Encoding } from '../codec/index.js';
import { base64Encode } from '../codec/base64.js';
import { formatCodecError } from '../codec/errors.js';
import type { ManagementTree } from '../tree/api.js';
import { ZERO_NONCE } from './credentials.js';
import { decodePackage0, sessionIdToHex, verifyPackage0 } from './package0.js';
import type { Package0 } from './package0.js';
import type {
  ClientAlert, ClientAuthType, ClientSession, ClientSessionConfig, ClientSessionHooks, Done,
  Outgoing, SessionStep, StartOptions,
} from './types.js';
import {
  abandonLargeObject, commandName, executeCommand, makeStatus,
} from './command-executor.js';
import { copyFields } from './copy-fields.js';
import type { ExecContext, IncomingLargeObject } from './command-executor.js';
import { buildMessage } from './message-builder.js';
import type { Pending } from './message-builder.js';
import {
  authTypeOf, chalNonce, clientCred, HMAC_HEADER, hmacHeader, makeChal, verifyServer,
} from './session-auth.js';
import * as C from './codes.js';

const DEVINFO = './DevInfo/';
const DEVINFO_LEAVES = ['DevId', 'Man', 'Mod', 'DmV', 'Lang'];

interface SentAlert { msgID: string; cmdID: string; alert: ClientAlert }

function randomBytesFallback(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(Math.random() * 256);
  return b;
}

/** An Alert without items (package 1 session type, 1222 next message, 1223 abort). */
function plainAlert(code: number): Alert {
  return { kind: 'Alert', cmdID: '', code, items: [] };
}

function header(headers: { [name: string]: string } | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const k = Object.keys(headers);
  for (let i = 0; i < k.length; i++) if (k[i].toLowerCase() === name) return headers[k[i]];
  return undefined;
}

export function createClientSession(config: ClientSessionConfig, tree: ManagementTree, hooks?: ClientSessionHooks): ClientSession {
  const h: ClientSessionHooks = hooks || {};
  const encoding: Encoding = config.encoding || 'xml';
  const maxMsgSize = config.maxMsgSize || 16384;
  const maxReplyBytes = Math.max(DEVICE_LIMITS.maxBytes, maxMsgSize * 2);
  const maxObjSize = config.maxObjSize || 4 * 1024 * 1024;
  const maxAuthRetries = config.maxAuthRetries === undefined ? 3 : config.maxAuthRetries;
  const maxServerChallenges = config.maxServerChallenges === undefined ? 2 : config.maxServerChallenges;
  const serverUser = config.server.user || config.serverId;

  let phase: 'new' | 'open' | 'aborting' | 'done' = 'new';
  let doneStep: Done = { kind: 'done', ok: false, reason: 'not started' };
  let abortReason = '';
  let sessionId = '';
  let url = config.serverUrl;
  let msgID = 0;
  let lastServerMsgID = 0;
  let serverMaxMsgSize = config.assumedServerMaxMsgSize || 16384;
  let serverMaxObjSize = Number.MAX_VALUE;

  let authType: ClientAuthType = config.client.authType;
  let clientNonce: Uint8Array = config.client.nonce || ZERO_NONCE;
  /** 212 received: no more credentials this session. */
  let clientAccepted = false;
  let authRetries = 0;
  let triedZeroNonce = false;

  let serverNonce: Uint8Array = config.server.nonce || ZERO_NONCE;
  /** The nonce before our last rotation: a server may finish the session with it. */
  let prevServerNonce: Uint8Array | null = null;
  let serverTrusted = config.server.authType === 'none';
  let serverChallenges = 0;

  let package1: Command[] = [];
  let queue: Pending[] = [];
  const alertsToSend: { cmd: Alert; alert: ClientAlert }[] = [];
  const sentAlerts: SentAlert[] = [];
  let lo: IncomingLargeObject | null = null;

  function log(level: 'debug' | 'info' | 'warn' | 'error', m: string): void {
    if (h.log) {
      try { h.log(level, m); } catch (e) { /* a host logger must not break the session */ }
    }
  }

  function persistNonce(which: 'client' | 'server', n: Uint8Array): void {
    if (!h.onNonce) return;
    try { h.onNonce(which, n); } catch (e) { log('error', 'onNonce hook threw'); }
  }

  function random(n: number): Uint8Array {
    if (h.randomBytes) {
      try {
        const b = h.randomBytes(n);
        if (b && b.length === n) return b;
      } catch (e) { /* fall through */ }
    }
    return randomBytesFallback(n);
  }

  /** Discards an unfinished incoming object (its sink frees what it buffered). */
  function dropLargeObject(): void {
    if (lo) {
      lo.sink.abort();
      lo = null;
    }
  }

  function finish(ok: boolean, reason: string): Done {
    if (phase !== 'done') {
      phase = 'done';
      doneStep = { kind: 'done', ok, reason };
      dropLargeObject();
      log(ok ? 'info' : 'warn', 'session ' + sessionId + ' ended: ' + reason);
    }
    return doneStep;
  }

  function fail(reason: string): Done {
    return finish(false, reason);
  }

  function ourHeader(): SyncHdr {
    msgID++;
    const hdr: SyncHdr = {
      verDTD: '1.2', verProto: 'DM/1.2', sessionID: sessionId, msgID: String(msgID),
      target: { locURI: config.serverUrl },
      source: { locURI: config.deviceId, locName: config.client.user },
      meta: { maxMsgSize: String(maxMsgSize), maxObjSize: String(maxObjSize) },
    };
    // Until 212, credentials go in every message (DOC-24: 200 means "send them again").
    if (!clientAccepted) {
      const cred = clientCred(authType, config.client.user, config.client.secret, clientNonce);
      if (cred) hdr.cred = cred;
    }
    return hdr;
  }

  function alertCommand(a: ClientAlert): Alert {
    const cmd: Alert = prepareForEncoding({ kind: 'Alert', cmdID: '', code: a.code, items: a.items.slice() });
    if (a.correlator !== undefined) cmd.correlator = a.correlator;
    alertsToSend.push({ cmd, alert: a });
    return cmd;
  }

  /** Encodes and returns the next message; `fixed` leads it (header Status, Alert 1222). */
  function send(fixed: Command[], wantFinal: boolean): SessionStep {
    const hdr = ourHeader();
    const limit = Math.min(serverMaxMsgSize, 16 * 1024 * 1024);
    const built = buildMessage(hdr, fixed, queue, limit, encoding, wantFinal);
    if (!built.ok) return fail('cannot encode message: ' + built.message);
    const cmds = built.value.commands;
    for (let i = alertsToSend.length - 1; i >= 0; i--) {
      if (cmds.indexOf(alertsToSend[i].cmd) >= 0) {
        sentAlerts.push({ msgID: hdr.msgID, cmdID: alertsToSend[i].cmd.cmdID, alert: alertsToSend[i].alert });
        alertsToSend.splice(i, 1);
      }
    }
    const out: Outgoing = { kind: 'send', url, body: built.value.body, contentType: contentTypeFor(encoding), headers: {} };
    if (authType === 'hmac') {
      out.headers[HMAC_HEADER] = hmacHeader(config.client.user, config.client.secret, clientNonce, built.value.body);
    }
    return out;
  }

  function devInfoReplace(): Replace {
    const items: Item[] = [];
    for (let i = 0; i < DEVINFO_LEAVES.length; i++) {
      const leaf = DEVINFO_LEAVES[i];
      let v: string | Uint8Array | undefined = config.devInfo ? config.devInfo[leaf] : undefined;
      if (v === undefined) {
        try {
          const r = tree.get(config.serverId, DEVINFO + leaf);
          if (C.isSuccess(r.code) && r.items && r.items.length > 0) v = r.items[0].data;
        } catch (e) { /* a leaf the tree cannot read is left out */ }
      }
      if (v === undefined && leaf === 'DevId') v = config.deviceId;
      if (v !== undefined) items.push({ source: { locURI: DEVINFO + leaf }, data: v });
    }
    // Leaves beyond the standard ones (e.g. Ext/NotifyPort, where package 0 reaches this device).
    if (config.devInfo) {
      for (const k in config.devInfo) {
        if (DEVINFO_LEAVES.indexOf(k) < 0) items.push({ source: { locURI: DEVINFO + k }, data: config.devInfo[k] });
      }
    }
    return prepareForEncoding({ kind: 'Replace', cmdID: '', items } as Replace);
  }

  function queuePackage1(): void {
    queue = [];
    for (let i = 0; i < package1.length; i++) queue.push({ cmd: package1[i] });
    // Alerts not yet acknowledged travel again with the re-sent package 1.
    for (let i = 0; i < sentAlerts.length; i++) alertCommand(sentAlerts[i].alert);
    sentAlerts.length = 0;
    for (let i = 0; i < alertsToSend.length; i++) queue.push({ cmd: alertsToSend[i].cmd });
  }

  function start(opts?: StartOptions): SessionStep {
    if (phase !== 'new') return fail('start called twice');
    const o = opts || {};
    let alertCode = C.AL_CLIENT_INITIATED_MGMT;
    if (o.package0) {
      let pkg: Package0;
      if (o.package0 instanceof Uint8Array) {
        const p = decodePackage0(o.package0);
        if (!p.ok) return fail('package 0 rejected: ' + formatCodecError(p.error));
        pkg = p.value;
      } else {
        pkg = o.package0;
      }
      if (pkg.serverId !== config.serverId) return fail('package 0 from unknown server ' + JSON.stringify(pkg.serverId));
      if (!verifyPackage0(pkg, serverUser, config.server.secret, serverNonce)) {
        // DOC-61: after a failed digest the server may fall back to the zero nonce.
        if (!verifyPackage0(pkg, serverUser, config.server.secret, ZERO_NONCE)) {
          return fail('package 0 digest mismatch (ignored)');
        }
        log('info', 'package 0 verified with the zero nonce');
      }
      if ((pkg.uiMode === 2 || pkg.uiMode === 3) && h.confirmSession) {
        let yes = true;
        try { yes = h.confirmSession(pkg.uiMode); } catch (e) { yes = false; }
        if (!yes) return fail('session declined by the user');
      }
      sessionId = sessionIdToHex(pkg.sessionId);
      alertCode = C.AL_SERVER_INITIATED_MGMT;
    } else {
      const r = random(2);
      sessionId = config.sessionId || sessionIdToHex(((r[0] << 8) | r[1]) || 1);
    }
    phase = 'open';
    package1 = [plainAlert(alertCode), devInfoReplace()];
    const alerts = o.alerts || [];
    for (let i = 0; i < alerts.length; i++) alertCommand(alerts[i]);
    queuePackage1();
    return send([], true);
  }

  function hdrStatus(hdr: SyncHdr, code: number, chal?: Chal): Status {
    const s = makeStatus(hdr.msgID, '0', 'SyncHdr', code, hdr.target.locURI, hdr.source.locURI);
    if (chal) s.chal = chal;
    return s;
  }

  function issueServerNonce(): Uint8Array {
    prevServerNonce = serverNonce;
    serverNonce = random(16);
    persistNonce('server', serverNonce);
    return serverNonce;
  }

  /** Status on our SyncHdr: the server's verdict on our credentials. Returns a failure reason or ''. */
  function onHeaderStatus(s: Status): 'retry' | 'fail' | '' {
    const chal = s.chal;
    const n = chalNonce(chal);
    if (n) {
      clientNonce = n;
      // DOC-51: use the latest nonce even from an unauthenticated peer, but only store one from a trusted peer.
      if (serverTrusted) persistNonce('client', n);
    }
    const chalType = chal ? authTypeOf(chal.meta.type) : undefined;
    if (s.code === C.ST_AUTH_ACCEPTED) { clientAccepted = true; return ''; }
    if (C.isSuccess(s.code)) return '';
    if (s.code !== C.ST_INVALID_CREDENTIALS && s.code !== C.ST_MISSING_CREDENTIALS) return 'fail';
    let changed = !!n;
    if (chalType && chalType !== authType) { authType = chalType; changed = true; }
    if (!changed && authType !== 'basic' && !triedZeroNonce) {
      // CM-SA: a server that lost our nonce resyncs on four zero bytes.
      triedZeroNonce = true;
      clientNonce = ZERO_NONCE;
      changed = true;
    }
    if (!changed || authRetries >= maxAuthRetries) return 'fail';
    authRetries++;
    return 'retry';
  }

  function onCommandStatus(s: Status): void {
    for (let i = 0; i < sentAlerts.length; i++) {
      const a = sentAlerts[i];
      if (a.msgID === s.msgRef && a.cmdID === s.cmdRef) {
        sentAlerts.splice(i, 1);
        if (h.onAlertStatus) {
          try { h.onAlertStatus(a.alert, s.code); } catch (e) { log('error', 'onAlertStatus hook threw'); }
        }
        return;
      }
    }
    if (C.isSuccess(s.code)) return;
    log('warn', 'server answered ' + s.cmd + ' ' + s.cmdRef + ' with ' + s.code);
    // A refused chunk ends that object: the rest of it is not sent (DM 1.2 §6.7).
    for (let i = 0; i < queue.length; i++) {
      if (queue[i].continuation && queue[i].cmd.kind === s.cmd) {
        queue.splice(i, 1);
        log('warn', 'dropped the rest of a large ' + s.cmd);
        return;
      }
    }
  }

  function receive(body: Uint8Array, headers?: { [name: string]: string }): SessionStep {
    try {
      return receiveUnsafe(body, headers);
    } catch (e) {
      // A bug or a hook failing in an unexpected place must end the session, not the driver.
      return fail('internal error: ' + (e && (e as Error).message ? (e as Error).message : String(e)));
    }
  }

  function receiveUnsafe(body: Uint8Array, headers?: { [name: string]: string }): SessionStep {
    if (phase === 'done') return doneStep;
    if (phase === 'new') return fail('receive before start');
    if (phase === 'aborting') return fail('aborted: ' + abortReason);
    if (!(body instanceof Uint8Array)) return fail('reply is not bytes');
    // The device limits, with room for a reply as large as twice our MaxMsgSize.
    const limits = copyFields({} as CodecLimits, DEVICE_LIMITS);
    limits.maxBytes = maxReplyBytes;
    limits.maxStringBytes = Math.max(limits.maxStringBytes, maxReplyBytes);
    limits.maxOpaqueBytes = Math.max(limits.maxOpaqueBytes, maxReplyBytes);
    const d = decodeMessage(body, limits);
    if (!d.ok) return fail('malformed server message: ' + formatCodecError(d.error));
    const msg = d.value.msg;
    const hdr = msg.hdr;
    const cmds = msg.body.commands;
    if (hdr.verProto.trim() !== 'DM/1.2' || hdr.verDTD.trim() !== '1.2') {
      return fail('unsupported protocol ' + hdr.verProto + ' / DTD ' + hdr.verDTD);
    }
    if (hdr.sessionID.trim().toUpperCase() !== sessionId.toUpperCase()) {
      return fail('reply for unknown SessionID ' + JSON.stringify(hdr.sessionID));
    }
    const mid = metaInt(hdr.msgID);
    if (mid === undefined || mid <= lastServerMsgID) {
      return fail('out-of-order or duplicate server MsgID ' + JSON.stringify(hdr.msgID));
    }
    lastServerMsgID = mid;

    // Server authentication comes first: nothing from an unauthenticated server is acted on.
    let hdrCode = C.ST_OK;
    let chal: Chal | undefined;
    const st = config.server.authType;
    if (st !== 'none' && !(serverTrusted && st !== 'hmac' && !hdr.cred)) {
      const hv = header(headers, HMAC_HEADER);
      let v = verifyServer(st, serverUser, config.server.secret, serverNonce, hdr.cred, hv, body);
      if (v === 'bad' && serverTrusted && st === 'md5' && prevServerNonce) {
        v = verifyServer(st, serverUser, config.server.secret, prevServerNonce, hdr.cred, hv, body);
      }
      if (v !== 'ok') {
        serverChallenges++;
        if (serverChallenges > maxServerChallenges) return fail('server failed to authenticate');
        log('warn', 'server credentials ' + v + '; challenging');
        hdrCode = v === 'missing' ? C.ST_MISSING_CREDENTIALS : C.ST_INVALID_CREDENTIALS;
        const chalOut = makeChal(st, st === 'basic' ? undefined : issueServerNonce());
        const fixed: Command[] = [hdrStatus(hdr, hdrCode, chalOut)];
        queue = [];
        for (let i = 0; i < cmds.length; i++) {
          const c = cmds[i];
          if (c.kind !== 'Status' && c.kind !== 'Results') {
            queue.push({ cmd: makeStatus(hdr.msgID, c.cmdID, commandName(c), hdrCode) });
          }
        }
        return send(fixed, true);
      }
      const first = !serverTrusted;
      serverTrusted = true;
      hdrCode = st === 'hmac' ? C.ST_OK : first ? C.ST_AUTH_ACCEPTED : C.ST_OK;
      // A fresh nonce for the server's next credentials: every message under HMAC (DOC-51),
      // once per session under MD5. Only issued in a reply that is certain to be sent.
      if (st === 'hmac' || (st === 'md5' && first)) chal = makeChal(st, undefined);
    }

    if (hdr.respURI !== undefined && hdr.respURI.trim() !== '') url = hdr.respURI.trim();
    if (hdr.meta) {
      const mm = metaInt(hdr.meta.maxMsgSize);
      if (mm !== undefined && mm >= 512) serverMaxMsgSize = mm;
      const mo = metaInt(hdr.meta.maxObjSize);
      if (mo !== undefined && mo > 0) serverMaxObjSize = mo;
    }

    let retryAuth = false;
    let aborted = false;
    for (let i = 0; i < cmds.length; i++) if (cmds[i].kind === 'Alert' && (cmds[i] as Alert).code === C.AL_SESSION_ABORT) aborted = true;
    for (let i = 0; i < cmds.length; i++) {
      const c = cmds[i];
      if (c.kind !== 'Status') continue;
      if (c.cmdRef.trim() === '0') {
        const authFailed = c.code === C.ST_INVALID_CREDENTIALS || c.code === C.ST_MISSING_CREDENTIALS;
        // A server that refuses our credentials and aborts has given up: no retry.
        const r = aborted && authFailed ? 'fail' : onHeaderStatus(c);
        if (r === 'fail') {
          return fail((authFailed ? 'authentication failed (' : 'server refused the session (') + c.code + ')');
        }
        if (r === 'retry') retryAuth = true;
      } else {
        onCommandStatus(c);
      }
    }
    if (retryAuth) {
      // DOC-24: after a failed authentication the server sends only Status; re-send package 1.
      log('info', 'authentication challenge; re-sending package 1 (' + authType + ')');
      queuePackage1();
      return send([hdrStatus(hdr, hdrCode, withNonce(chal))], true);
    }

    const ctx: ExecContext = {
      tree, serverId: config.serverId, hooks: h, msgRef: hdr.msgID, maxObjSize, serverMaxObjSize,
      out: [], lo, nextMessage: false, serverAbort: false,
    };
    const loBefore = lo;
    const loReceived = lo ? lo.received : 0;
    let hasCommands = false;
    for (let i = 0; i < cmds.length; i++) {
      const c = cmds[i];
      if (c.kind === 'Status' || c.kind === 'Results') continue;
      if (!(c.kind === 'Alert' && c.code === C.AL_NEXT_MESSAGE)) hasCommands = true;
      try {
        executeCommand(ctx, c, false, false);
      } catch (e) {
        log('error', 'command ' + c.kind + ' failed: ' + String(e));
        ctx.out.push(makeStatus(hdr.msgID, c.cmdID, commandName(c), C.ST_COMMAND_FAILED));
      }
      if (ctx.serverAbort) break;
    }
    if (ctx.serverAbort) {
      lo = ctx.lo;
      return fail('server aborted the session (1223)');
    }
    // Chunks come in consecutive messages: a message that does not continue the object ends it.
    if (loBefore && ctx.lo === loBefore && loBefore.received === loReceived) abandonLargeObject(ctx, true);
    lo = ctx.lo;
    // Answers to this message go before the rest of an object we are still sending: nothing
    // may follow a chunk in its message (DM 1.2 §6.7).
    let at = 0;
    while (at < queue.length && !queue[at].continuation) at++;
    for (let i = 0; i < ctx.out.length; i++) queue.splice(at++, 0, { cmd: prepareForEncoding(ctx.out[i]) });
    for (let i = 0; i < alertsToSend.length; i++) {
      if (!queuedCommand(alertsToSend[i].cmd)) queue.push({ cmd: alertsToSend[i].cmd });
    }

    const fixed: Command[] = [];
    let wantFinal = true;
    if (lo || (!msg.body.final && !ctx.nextMessage)) {
      // The server's package continues (a chunked object or more messages): ask for the rest.
      wantFinal = false;
    } else if (queue.length === 0 && !hasCommands && !ctx.nextMessage) {
      // DOC-23: a server package with nothing to answer ends the session; no Status-only reply.
      return finish(true, 'session completed');
    }
    fixed.push(hdrStatus(hdr, hdrCode, withNonce(chal)));
    if (!wantFinal) fixed.push(plainAlert(C.AL_NEXT_MESSAGE));
    return send(fixed, wantFinal);
  }

  function withNonce(chal: Chal | undefined): Chal | undefined {
    if (!chal) return undefined;
    chal.meta.nextNonce = base64Encode(issueServerNonce());
    return chal;
  }

  function queuedCommand(c: Command): boolean {
    for (let i = 0; i < queue.length; i++) if (queue[i].cmd === c) return true;
    return false;
  }

  // XML cannot carry raw bytes: binary data travels as Format b64 text.
  function prepareForEncoding<T extends Command>(c: T): T {
    if (encoding !== 'xml' || !('items' in c)) return c;
    // The items array may belong to the tree or the host: rewrite a copy.
    const items = c.items.slice();
    (c as { items: Item[] }).items = items;
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (it.data instanceof Uint8Array) {
        const copy = copyFields({} as Item, it);
        copy.data = base64Encode(it.data);
        const meta = it.meta ? copyFields({} as Meta, it.meta) : {} as Meta;
        meta.format = 'b64';
        copy.meta = meta;
        items[i] = copy;
      }
    }
    return c;
  }

  function abort(reason: string): SessionStep {
    if (phase !== 'open') return fail('aborted: ' + reason);
    abortReason = reason;
    dropLargeObject();
    queue = [];
    const step = send([plainAlert(C.AL_SESSION_ABORT)], true);
    if (phase === 'open') phase = 'aborting';
    return step;
  }

  function queueAlert(a: ClientAlert): void {
    if (phase === 'done') return;
    alertCommand(a);
  }

  /** `run` as an entry point: an exception from a bug or a hook ends the session, not the driver. */
  function guarded<A>(run: (arg: A) => SessionStep): (arg: A) => SessionStep {
    return function (arg: A): SessionStep {
      try { return run(arg); } catch (e) { return fail('internal error: ' + String(e)); }
    };
  }

  return {
    start: guarded(start),
    receive,
    abort: guarded(abort),
    fail,
    queueAlert,
    get sessionId() { return sessionId; },
    maxReplyBytes,
  };
}
