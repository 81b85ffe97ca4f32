// The agent: composes store, tree, SCOMO engine and DM client sessions behind one Host port.
// It owns no I/O: HTTP, timers and installers are host requests with ids, completed by the
// host's events, which the agent routes to the DM session or the SCOMO engine.

import { concatBytes } from './bytes.js';
import type { Agent, AgentConfig, AgentStatus } from './api.js';
import type { Host, InstallResult } from './host.js';
import { splitFlash } from './partition.js';
import { openStore } from '../store/index.js';
import type { RecordStore } from '../store/api.js';
import { DmTree } from '../tree/tree.js';
import { installStandardMOs, provisionDmAcc, readDmAccounts, setAuthNonce } from '../tree/standard-mos.js';
import { createClientSession } from '../dm/client-session.js';
import type { ClientAlert, ClientSession, ClientSessionConfig, SessionStep } from '../dm/types.js';
import { nextRetryDelay } from '../dm/retry-policy.js';
import { ScomoEngine } from '../scomo/engine.js';
import { setCryptoProvider } from '../crypto/provider.js';

const ACCOUNT = 'scomo';
/** Retry policy for sessions that failed on the transport (bounded; then wait for the next trigger). */
const SESSION_RETRY = { baseMs: 2000, maxMs: 120000, factor: 2, maxRetries: 6 };

export function createAgent(host: Host, config: AgentConfig): Agent {
  let nextId = 1;
  if (host.crypto) setCryptoProvider(host.crypto);
  const newId = function (): number { return nextId++; };

  // ---- persistent state ----
  const parts = splitFlash(host.flash);
  let tree: DmTree;
  let scomo: ScomoEngine;
  const treeStore: RecordStore = openStore(parts.tree, { snapshot: function (emit) { tree.snapshot(emit); } });
  const journalStore: RecordStore = openStore(parts.journal, { snapshot: function (emit) { scomo.journal.snapshot(emit); } });
  tree = new DmTree({ clock: host.now, store: treeStore });

  const di = config.devInfo || {};
  installStandardMOs(tree, {
    devId: config.deviceId,
    man: di.man || 'OpenSCOMO',
    mod: di.mod || 'emulated',
    lang: di.lang,
    devTyp: di.devTyp || 'set-top box',
    oem: di.oem || 'OpenSCOMO',
    fwV: di.fwV || '1.0',
    swV: di.swV || '0.1.0',
    hwV: di.hwV || '1.0',
  });
  if (config.notifyPort) tree.define('./DevInfo/Ext/NotifyPort', 'int', 'text/plain', String(config.notifyPort));

  let inSession = false;
  let session: ClientSession | null = null;
  let sessionHttp = -1;
  let sessionChunks: Uint8Array[] = [];
  let sessionBytes = 0;
  let sessionHeaders: Record<string, string> = {};
  let sentTags: unknown[] = [];
  let wantSession = false;
  let pendingPkg0: Uint8Array | null = null;
  let sessions = 0;
  let lastOk: boolean | null = null;
  let lastError: string | undefined;
  let failures = 0;
  let retryTimer = -1;
  let pollTimer = -1;
  let kickTimer = -1;

  scomo = new ScomoEngine(tree, journalStore, {
    packages: host.packages,
    nextId: newId,
    httpRequest: function (id, req) { host.httpRequest(id, req); },
    httpCancel: function (id) { host.httpCancel(id); },
    setTimer: function (id, ms) { host.setTimer(id, ms); },
    clearTimer: function (id) { host.clearTimer(id); },
    install: function (id, req) { host.install(id, req); },
    componentOp: function (id, op, c) { host.componentOp(id, op, c); },
    installStatus: host.installStatus ? function (p) { return host.installStatus!(p); } : undefined,
    verifyPackage: host.verifyPackage ? function (id, req) { host.verifyPackage!(id, req); } : undefined,
    log: function (l, m) { host.log(l, m); },
    alertPending: function () { onAlertPending(); },
    nativeSha256: !!(host.crypto && host.crypto.createSha256),
  }, {
    requireSignature: !!config.requireSignature,
    maxRetries: config.download ? config.download.maxRetries : undefined,
    backoffBaseMs: config.download ? config.download.backoffBaseMs : undefined,
  });
  scomo.setup();
  tree.load();
  provisionDmAcc(tree, {
    id: ACCOUNT,
    serverId: config.server.serverId,
    addr: config.server.url,
    auth: [
      { level: 'CLCRED', type: authType(config.server.auth), name: config.server.clientUser, secret: config.server.clientSecret },
      { level: 'SRVCRED', type: authType(config.server.auth), name: config.server.serverId, secret: config.server.serverSecret },
    ],
  });

  function authType(a: string): string {
    return a === 'basic' ? 'BASIC' : a === 'hmac' ? 'HMAC' : 'DIGEST';
  }

  function sessionConfig(): ClientSessionConfig {
    const accs = readDmAccounts(tree);
    let acc = accs[0];
    for (let i = 0; i < accs.length; i++) if (accs[i].id === ACCOUNT) acc = accs[i];
    let cl = acc.auth[0], sv = acc.auth[0];
    for (let i = 0; i < acc.auth.length; i++) {
      if (acc.auth[i].level === 'CLCRED') cl = acc.auth[i];
      if (acc.auth[i].level === 'SRVCRED') sv = acc.auth[i];
    }
    const cfg: ClientSessionConfig = {
      deviceId: config.deviceId,
      serverId: acc.serverId,
      // A server that moved (the account's Addr replaced) is followed; the config is the fallback.
      serverUrl: acc.addr || config.server.url,
      client: { authType: config.server.auth, user: cl.name, secret: cl.secret, nonce: cl.data && cl.data.length ? cl.data : undefined },
      server: { authType: config.server.auth, user: sv.name, secret: sv.secret, nonce: sv.data && sv.data.length ? sv.data : undefined },
      encoding: config.encoding,
    };
    if (config.maxMsgSize) cfg.maxMsgSize = config.maxMsgSize;
    // Package Data streams to package storage chunk by chunk, so objects may be as large as it is.
    cfg.maxObjSize = config.maxObjSize || 1 << 30;
    if (config.notifyPort) cfg.devInfo = { 'Ext/NotifyPort': String(config.notifyPort) };
    return cfg;
  }

  // ---- sessions ----

  function onAlertPending(): void {
    if (inSession && session) {
      // "In the same session if it is still open": queue what the session has not carried yet.
      const alerts = scomo.pendingAlerts();
      for (let i = 0; i < alerts.length; i++) {
        if (sentTags.indexOf(alerts[i].tag) < 0) { sentTags.push(alerts[i].tag); session.queueAlert(alerts[i]); }
      }
      return;
    }
    kick();
  }

  /** Opens a session on the next turn of the host's loop (never re-entrantly from a callback). */
  function kick(): void {
    wantSession = true;
    if (inSession || kickTimer >= 0 || retryTimer >= 0) return;
    kickTimer = newId();
    host.setTimer(kickTimer, 0);
  }

  function openSession(): void {
    if (inSession) { wantSession = true; return; }
    wantSession = false;
    inSession = true;
    sessions++;
    const alerts: ClientAlert[] = scomo.pendingAlerts();
    sentTags = [];
    for (let i = 0; i < alerts.length; i++) sentTags.push(alerts[i].tag);
    session = createClientSession(sessionConfig(), tree, {
      onNonce: function (which, nonce) { setAuthNonce(tree, ACCOUNT, which === 'client' ? 'CLCRED' : 'SRVCRED', nonce); },
      onAlertStatus: function (alert, code) { scomo.onAlertStatus(alert, code); },
      randomBytes: function (n) { return host.random(n); },
      log: function (l, m) { host.log(l, m); },
    });
    const pkg0 = pendingPkg0;
    pendingPkg0 = null;
    const opts: { package0?: Uint8Array; alerts?: ClientAlert[] } = { alerts };
    if (pkg0) opts.package0 = pkg0;
    host.log('info', 'DM session ' + sessions + (pkg0 ? ' (package 0)' : '') + (alerts.length ? ', ' + alerts.length + ' alert(s)' : ''));
    step(session.start(opts));
  }

  function step(s: SessionStep): void {
    if (s.kind === 'done') {
      sessionEnded(s.ok, s.reason);
      return;
    }
    sessionHttp = newId();
    sessionChunks = [];
    sessionBytes = 0;
    sessionHeaders = {};
    const headers: Record<string, string> = {};
    for (const k in s.headers) headers[k] = s.headers[k];
    headers['Content-Type'] = s.contentType;
    headers['Accept'] = s.contentType;
    host.httpRequest(sessionHttp, { method: 'POST', url: s.url, headers, body: s.body });
  }

  function sessionEnded(ok: boolean, reason: string): void {
    inSession = false;
    session = null;
    sessionHttp = -1;
    lastOk = ok;
    lastError = ok ? undefined : reason;
    host.log(ok ? 'info' : 'warn', 'DM session ended: ' + (ok ? 'ok' : reason));
    if (ok) failures = 0;
    // Jobs accepted in the session run now that it is over.
    scomo.runJobs();
    if (pendingPkg0 || wantSession) { kick(); return; }
    const unsent = scomo.pendingAlerts().length > 0;
    if (!ok || unsent) {
      failures++;
      const d = nextRetryDelay(failures, SESSION_RETRY, host.random(1)[0] / 256);
      if (d >= 0) {
        retryTimer = newId();
        host.setTimer(retryTimer, d);
      } else {
        host.log('warn', 'giving up retrying sessions until the next trigger');
        failures = 0;
      }
    }
    schedulePoll();
  }

  function schedulePoll(): void {
    if (!config.pollIntervalMs) return;
    if (pollTimer >= 0) host.clearTimer(pollTimer);
    pollTimer = newId();
    host.setTimer(pollTimer, config.pollIntervalMs);
  }

  function status(): AgentStatus {
    const jobs: AgentStatus['jobs'] = [];
    const js = scomo.journal.jobs;
    for (let i = 0; i < js.length; i++) {
      const j = { id: js[i].id, operation: js[i].op, state: js[i].phase } as AgentStatus['jobs'][number];
      const p = scomo.progress(js[i].id);
      if (p) j.progress = p;
      jobs.push(j);
    }
    const st: AgentStatus = {
      sessions,
      inSession,
      lastSessionOk: lastOk,
      pendingAlerts: scomo.pendingAlerts().length,
      jobs,
      deployed: scomo.deployed(),
    };
    if (lastError) st.lastError = lastError;
    return st;
  }

  const agent: Agent = {
    boot: function () {
      scomo.boot();
      scomo.runJobs();
      kick();
    },
    connect: function () { kick(); },
    onPackage0: function (bytes) {
      pendingPkg0 = bytes;
      kick();
    },
    onTimer: function (id) {
      if (scomo.owns(id)) { scomo.onTimer(id); return; }
      if (id === kickTimer) { kickTimer = -1; if (!inSession) openSession(); return; }
      if (id === retryTimer) { retryTimer = -1; if (!inSession) openSession(); return; }
      if (id === pollTimer) { pollTimer = -1; if (!inSession) openSession(); else schedulePoll(); }
    },
    onHttpResponse: function (id, status, headers) {
      if (id === sessionHttp) {
        sessionHeaders = headers;
        if (status !== 200) {
          const s = session!;
          sessionHttp = -1;
          step(s.fail('HTTP ' + status));
        }
        return;
      }
      scomo.onHttpResponse(id, status, headers);
    },
    onHttpChunk: function (id, bytes) {
      if (id === sessionHttp) {
        const s = session!;
        sessionBytes += bytes.length;
        if (sessionBytes > s.maxReplyBytes) {
          // Counted as it arrives: a reply past what the session would decode is never held whole.
          host.httpCancel(id);
          sessionHttp = -1;
          sessionChunks = [];
          step(s.fail('server reply larger than ' + s.maxReplyBytes + ' bytes'));
          return;
        }
        sessionChunks.push(bytes);
        return;
      }
      scomo.onHttpChunk(id, bytes);
    },
    onHttpEnd: function (id) {
      if (id === sessionHttp) {
        const s = session!;
        sessionHttp = -1;
        // The pieces go as soon as they are joined: the session keeps only the joined reply.
        const body = concatBytes(sessionChunks);
        sessionChunks = [];
        step(s.receive(body, sessionHeaders));
        return;
      }
      scomo.onHttpEnd(id);
    },
    onHttpError: function (id, reason) {
      if (id === sessionHttp) {
        const s = session!;
        sessionHttp = -1;
        step(s.fail(reason));
        return;
      }
      scomo.onHttpError(id, reason);
    },
    onInstallDone: function (id, result: InstallResult) { scomo.onInstallDone(id, result); },
    onComponentOpDone: function (id, code) { scomo.onComponentOpDone(id, code); },
    onVerifyDone: function (id, code) { scomo.onVerifyDone(id, code); },
    requestComponent: function (name, version) { scomo.requestComponent(name, version); },
    idle: function () {
      return !inSession && !wantSession && !pendingPkg0 && kickTimer < 0 && retryTimer < 0 && !scomo.busy() && scomo.pendingAlerts().length === 0;
    },
    status,
  };
  return agent;
}
