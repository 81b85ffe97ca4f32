// The agent's public face: what a driver (Node emulated device, QuickJS glue, the C host on
// Duktape) calls. Every bundle sets `globalThis.ScomoAgent = { create(host, config) }`.

import type { Host, InstallResult } from './host.js';

export interface AgentServerConfig {
  /** DM server URL, e.g. http://127.0.0.1:8080/dm */
  url: string;
  /** The server's ServerID (DMAcc/<X>/ServerID). */
  serverId: string;
  /** CLCRED: how the device authenticates to the server. */
  clientUser: string;
  clientSecret: string;
  /** SRVCRED: how the server authenticates to the device (and signs package 0). */
  serverSecret: string;
  auth: 'basic' | 'md5' | 'hmac';
}

export interface AgentConfig {
  deviceId: string;
  server: AgentServerConfig;
  encoding: 'xml' | 'wbxml';
  devInfo?: { man?: string; mod?: string; lang?: string; fwV?: string; swV?: string; hwV?: string; devTyp?: string; oem?: string };
  /** Largest DM message the device accepts (SyncHdr MaxMsgSize). */
  maxMsgSize?: number;
  /** Largest object (SyncHdr MaxObjSize); default 1 GiB, as package Data streams to package storage. */
  maxObjSize?: number;
  /** Open a client-initiated session every this many ms (0: only on boot, package 0 and pending alerts). */
  pollIntervalMs?: number;
  /** UDP port the host listens on for package 0, reported to the server (DevDetail/Ext). */
  notifyPort?: number;
  /**
   * Refuse (1407) packages that carry no signature. Off by default: then only packages that
   * carry one are verified (through Host.verifyPackage).
   */
  requireSignature?: boolean;
  /** Alternate download: retries without progress before giving up (default 5), and the first back-off (ms, default 1000, doubling). */
  download?: { maxRetries?: number; backoffBaseMs?: number };
}

/** What the driver can show a user. JSON-serialisable. */
export interface AgentStatus {
  sessions: number;
  inSession: boolean;
  lastSessionOk: boolean | null;
  lastError?: string;
  pendingAlerts: number;
  jobs: { id: string; operation: string; state: string; progress?: { done: number; total: number } }[];
  deployed: { id: string; name: string; version: string; active: boolean }[];
}

export interface Agent {
  /** Replays the store, resumes or fails unfinished jobs, then opens a client-initiated session. */
  boot(): void;
  /** Opens a client-initiated session now (no-op while one runs; queued after it). */
  connect(): void;
  /** A package 0 datagram arrived. */
  onPackage0(bytes: Uint8Array): void;
  onTimer(id: number): void;
  onHttpResponse(id: number, status: number, headers: Record<string, string>): void;
  onHttpChunk(id: number, bytes: Uint8Array): void;
  onHttpEnd(id: number): void;
  onHttpError(id: number, reason: string): void;
  onInstallDone(id: number, result: InstallResult): void;
  onComponentOpDone(id: number, resultCode: number): void;
  /** Host.verifyPackage finished: 1200 verified, anything else refuses the package (reported as 1407 unless another failure code). */
  onVerifyDone(id: number, resultCode: number): void;
  /** Flow alternative 1: asks the server for a component (a Generic Alert in the next session). */
  requestComponent(name: string, version?: string): void;
  /** True when nothing is in flight and nothing is pending (no session, job, alert or timer). */
  idle(): boolean;
  status(): AgentStatus;
}

export type CreateAgent = (host: Host, config: AgentConfig) => Agent;
