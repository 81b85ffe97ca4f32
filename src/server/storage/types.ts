// The one storage interface of the server. Everything the server must remember across requests
// and restarts goes through it: device accounts and their nonces, DM sessions that span several
// HTTP requests, large-object chunks being received, the per-device command queue with the
// statuses/results routed back, and received alerts. SQLite implements it (sqlite.ts); the
// methods are async so a PostgreSQL implementation can sit behind the same interface later.
// SCOMO (jobs, packages, inventory) adds its own tables through `migrations` of the same store.
import type { Command, Item } from '../../codec/model.js';

/** How the client proves itself to the server (Cred in SyncHdr, or x-syncml-hmac). */
export type ClientAuthType = 'basic' | 'md5' | 'hmac';
/** How the server proves itself to the client; 'none' = send no Cred. */
export type ServerAuthType = 'basic' | 'md5' | 'hmac' | 'none';

export interface Account {
  deviceId: string;
  clientUser: string;
  clientSecret: string;
  serverId: string;
  serverSecret: string;
  authType: ClientAuthType;
  serverAuthType: ServerAuthType;
  /** b64: the nonce this server issued to the client; the client's next digest must use it. */
  serverNonce: string;
  /** b64: the nonce the client issued to this server (server Cred and package 0 digest). */
  clientNonce: string;
  /** Where package 0 goes; learned from sessions or provisioned. */
  notifyHost?: string;
  notifyPort?: number;
  /** Last DevInfo the device reported (URI → value). */
  devInfo?: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

export type AccountPatch = Partial<Omit<Account, 'deviceId' | 'createdAt'>>;

export interface StoredSession {
  /** Random token carried in RespURI (?s=key). */
  key: string;
  /** The account's device id. */
  deviceId: string;
  /** The client's SyncHdr Source (may differ from deviceId, e.g. libdmclient's "DMCtest"). */
  deviceUri: string;
  /** SyncHdr SessionID as the client sent it. */
  sessionId: string;
  /** JSON of the session state machine (dm/session.ts). */
  state: string;
  /** The last reply, for a client that retransmits the same MsgID. */
  lastReply?: { msgId: string; requestHash: string; body: Uint8Array; contentType: string; hmac?: string };
  ended: boolean;
  updatedAt: number;
}

export type QueueState = 'queued' | 'sent' | 'done';

/** What came back for one queued command. */
export interface CommandOutcome {
  /** The command's element name (Get, Replace, Exec, ...). */
  cmd: string;
  /** Status code; 0 when the session ended without one. */
  status: number;
  /** Results items for Get (data of chunked results reassembled). */
  results?: Item[];
  /** Outcomes of the children of Atomic / Sequence, in order. */
  children?: CommandOutcome[];
}

export interface QueueEntry {
  id: number;
  deviceId: string;
  /** Commands in the order they are sent; CmdIDs are assigned when sent. */
  commands: Command[];
  /** Free-form owner tag so a subscriber (e.g. a SCOMO job) finds its entries after a restart. */
  tag?: string;
  state: QueueState;
  outcomes?: CommandOutcome[];
  createdAt: number;
  updatedAt: number;
}

export interface ReceivedAlert {
  id: number;
  deviceId: string;
  /** 1226 Generic Alert, 1224 client event, ... */
  code: number;
  correlator?: string;
  items: Item[];
  sessionKey?: string;
  receivedAt: number;
}

/** An event one server process tells the others about (stores shared by several processes). */
export interface StorageEvent {
  type: 'command-done' | 'alert' | 'job' | 'campaign';
  /** Queue entry id, alert id, or job id. */
  id: number | string;
  deviceId?: string;
}

export interface Storage {
  getAccount(deviceId: string): Promise<Account | undefined>;
  /** The account whose clientUser is `user` (clients that identify by user, not device id). */
  findAccountByUser(user: string): Promise<Account | undefined>;
  /** Creates or replaces the account. */
  putAccount(a: Account): Promise<void>;
  updateAccount(deviceId: string, patch: AccountPatch): Promise<void>;
  listAccounts(): Promise<Account[]>;
  /**
   * Deletes the account and its DM sessions (with their large-object chunks), in one unit: the
   * device is unknown from then on. Its queue entries and alerts stay (history). False: no such account.
   */
  deleteAccount(deviceId: string): Promise<boolean>;

  getSession(key: string): Promise<StoredSession | undefined>;
  /** The latest session of the client whose SyncHdr Source is `deviceUri` (for clients that ignore RespURI). */
  findSession(deviceUri: string, sessionId: string): Promise<StoredSession | undefined>;
  putSession(s: StoredSession): Promise<void>;
  deleteSession(key: string): Promise<void>;
  /** Sessions of a device that have not ended. */
  openSessions(deviceId: string): Promise<StoredSession[]>;
  /** Sessions not touched since `before` (ms epoch). */
  staleSessions(before: number): Promise<StoredSession[]>;

  /** Large object being received: chunks appended in order, read back whole at the end. */
  appendChunk(sessionKey: string, data: Uint8Array): Promise<void>;
  readChunks(sessionKey: string): Promise<Uint8Array>;
  clearChunks(sessionKey: string): Promise<void>;

  enqueue(deviceId: string, commands: Command[], tag?: string): Promise<QueueEntry>;
  getEntry(id: number): Promise<QueueEntry | undefined>;
  /** Oldest queued entries of a device. */
  queuedEntries(deviceId: string, limit: number): Promise<QueueEntry[]>;
  entriesByTag(tag: string): Promise<QueueEntry[]>;
  setEntryState(id: number, state: QueueState, outcomes?: CommandOutcome[]): Promise<void>;
  /**
   * Marks entry `id` done with `outcomes` only if it is still queued, in one conditional update:
   * false when a session took it meanwhile (it went out and cannot be withdrawn).
   */
  withdrawEntry(id: number, outcomes: CommandOutcome[]): Promise<boolean>;
  /** Entries in state 'sent' (for recovery after a restart). */
  sentEntries(): Promise<QueueEntry[]>;

  addAlert(a: Omit<ReceivedAlert, 'id'>): Promise<ReceivedAlert>;
  listAlerts(deviceId?: string, afterId?: number): Promise<ReceivedAlert[]>;

  close(): Promise<void>;

  // ---- stores shared by several server processes (PostgreSQL); absent on SQLite ----

  /** True when other processes may use the same store at the same time. */
  readonly shared?: boolean;
  /**
   * Runs fn as one unit of work holding a lock on `key` across processes; storage calls made
   * inside fn belong to it (all applied, or none when the process dies).
   */
  exclusive?<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** Tells the other processes (delivered when the current unit of work commits). */
  publish?(e: StorageEvent): Promise<void>;
  /** Events published by other processes. */
  subscribe?(fn: (e: StorageEvent) => void): () => void;
  /** Of these entries, those in state 'done' (one query for many waiters). */
  doneEntries?(ids: number[]): Promise<QueueEntry[]>;
}
