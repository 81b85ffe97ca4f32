// The DM client session engine's public contract: configuration, host hooks and the steps it
// hands back. The engine is sans-I/O (DESIGN.md): the driver POSTs `Outgoing`, feeds the reply
// to `receive`, and stops at `Done`.
import type { Item } from '../codec/model.js';
import type { Encoding } from '../codec/index.js';
import type { Package0 } from './package0.js';

export type ClientAuthType = 'basic' | 'md5' | 'hmac';
/** 'none': the client does not ask the server to authenticate itself. */
export type ServerAuthType = 'none' | ClientAuthType;

export interface ClientSessionConfig {
  /** ./DevInfo/DevId, the SyncHdr Source (e.g. `IMEI:493005100592800`). */
  deviceId: string;
  /** DMAcc ServerID: the identity ACLs are checked against. */
  serverId: string;
  /** Where package 1 goes (DMAcc AppAddr); later messages follow RespURI. */
  serverUrl: string;
  /** CLCRED: how the client proves itself (AAuthName / AAuthSecret / AAuthData). */
  client: { authType: ClientAuthType; user: string; secret: string; nonce?: Uint8Array };
  /** SRVCRED: how the server must prove itself, and the nonce the client last issued to it. */
  server: { authType: ServerAuthType; user?: string; secret: string; nonce?: Uint8Array };
  encoding?: Encoding;
  /** Largest message the client accepts (advertised in SyncHdr Meta). Default 16384. */
  maxMsgSize?: number;
  /** Largest object the client accepts (advertised in SyncHdr Meta). Default 4 MB. */
  maxObjSize?: number;
  /** Server's MaxMsgSize assumed until it tells (libdmclient advertises 16384). Default 16384. */
  assumedServerMaxMsgSize?: number;
  /** 401/407 re-sends of package 1 before giving up. Default 3. */
  maxAuthRetries?: number;
  /** Times the client challenges a server that fails to authenticate before it gives up. Default 2. */
  maxServerChallenges?: number;
  /** SessionID of a client-initiated session (hex); generated when absent. */
  sessionId?: string;
  /** DevInfo leaf values for package 1; read from the tree's ./DevInfo when absent. */
  devInfo?: { [leaf: string]: string };
}

/** A client alert for the server: Generic Alert 1226 or client event 1224. */
export interface ClientAlert {
  code: number;
  correlator?: string;
  items: Item[];
  /** Opaque to the engine; handed back in onAlertStatus so the owner can match it. */
  tag?: unknown;
}

export interface UiAlertRequest {
  /** 1100 display, 1101 confirm, 1102 text input, 1103 single choice, 1104 multiple choice. */
  code: number;
  /** The first item's `&`-joined parameters (MINDT, MAXDT, DR, MAXLEN, IT, ET). */
  params: { [name: string]: string };
  /** The message text (second item). */
  text: string;
  /** The choices (items after the text) for 1103/1104. */
  choices: string[];
}

export interface UiAlertAnswer {
  /** 200 answered/accepted, 304 rejected (1101), 214 cancelled, 408 timeout, 416 cannot display. */
  code: number;
  /** Text input, or the chosen choice numbers (1-based) for 1103/1104. */
  data?: string[];
}

export interface ClientSessionHooks {
  /** A nonce to persist: 'client' = CLCRED AAuthData (from the server's Chal), 'server' = SRVCRED AAuthData (issued by us). */
  onNonce?(which: 'client' | 'server', nonce: Uint8Array): void;
  /** The server's Status for one of our alerts (e.g. 1226 delivered: 200/202). */
  onAlertStatus?(alert: ClientAlert, code: number): void;
  /** UI alerts 1100-1104; without this hook the engine answers per the DR parameter. */
  onUiAlert?(req: UiAlertRequest): UiAlertAnswer;
  /** ui-mode of a package 0 asking for user interaction (3) or informing (2); false declines the session. */
  confirmSession?(uiMode: number): boolean;
  /** Entropy for the nonces the client issues; Math.random is used (and logged) when absent. */
  randomBytes?(n: number): Uint8Array;
  log?(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
}

/** A message to POST. `headers` includes x-syncml-hmac under HMAC. */
export interface Outgoing {
  kind: 'send';
  url: string;
  body: Uint8Array;
  contentType: string;
  headers: { [name: string]: string };
}

export interface Done {
  kind: 'done';
  ok: boolean;
  reason: string;
}

export type SessionStep = Outgoing | Done;

export interface StartOptions {
  /** Package 0 as received (bytes, or already decoded); the engine verifies it before opening a session. */
  package0?: Uint8Array | Package0;
  /** Alerts to send in package 1 (1226 / 1224). */
  alerts?: ClientAlert[];
}

export interface ClientSession {
  start(opts?: StartOptions): SessionStep;
  /** Feeds the server's reply. `headers` keys are matched case-insensitively. Never throws. */
  receive(body: Uint8Array, headers?: { [name: string]: string }): SessionStep;
  /** Ends the session with Alert 1223; the next receive (or none) finishes it. */
  abort(reason: string): SessionStep;
  /** The transport gave up (no answer after the retry policy): the session ends, nothing is sent. */
  fail(reason: string): Done;
  /** Queues an alert for the next message of this session (e.g. a SCOMO job finished). */
  queueAlert(alert: ClientAlert): void;
  /** The session's SyncHdr SessionID. */
  readonly sessionId: string;
  /**
   * The largest server reply receive() decodes. A driver stops reading a reply that grows past it
   * (and fails the session), so a hostile or broken server cannot make it buffer without bound.
   */
  readonly maxReplyBytes: number;
}
