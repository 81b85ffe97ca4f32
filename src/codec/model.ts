// The SyncML DM 1.2 message model shared by the device core and the server.
// Field order in each interface follows the SyncML 1.2 DTD content models, which is also the
// order the encoders write. Identifiers that the DTD types as PCDATA (CmdID, MsgID, refs,
// SessionID) stay strings so a message round-trips byte for byte; codes (Status, Alert) are
// numbers because every DM code is a 3- or 4-digit integer and callers switch on them.

/** Target / Source / SourceParent / TargetParent. */
export interface Loc {
  locURI: string;
  locName?: string;
}

/** MetInf Mem element (DS-era, allowed in DM Meta). */
export interface MemInfo {
  sharedMem?: boolean;
  freeMem?: string;
  freeID?: string;
}

/** MetInf Anchor element (DS-era). */
export interface Anchor {
  last?: string;
  next?: string;
}

/**
 * Meta: the MetInf elements (namespace syncml:metinf, WBXML code page 1).
 * Numeric-looking values (Size, MaxMsgSize, MaxObjSize) stay strings for exact round trips;
 * use `metaInt` to read them.
 */
export interface Meta {
  format?: string;
  type?: string;
  mark?: string;
  size?: string;
  anchor?: Anchor;
  version?: string;
  nextNonce?: string;
  maxMsgSize?: string;
  maxObjSize?: string;
  emi?: string[];
  mem?: MemInfo;
  fieldLevel?: boolean;
}

export interface Cred {
  meta?: Meta;
  data: string;
}

export interface Chal {
  meta: Meta;
}

/**
 * Item Data is text (STR_I / STR_T / XML text or CDATA) or bytes (WBXML OPAQUE: binary
 * payloads, nested WBXML such as TNDS). XML cannot carry bytes that are not UTF-8 text, so
 * binary content over XML travels as Format b64 text; the XML encoder refuses raw binary.
 */
export type ItemData = string | Uint8Array;

export interface Item {
  target?: Loc;
  source?: Loc;
  sourceParent?: Loc;
  targetParent?: Loc;
  meta?: Meta;
  data?: ItemData;
  moreData?: boolean;
}

interface CmdBase {
  cmdID: string;
  noResp?: boolean;
}

export interface Add extends CmdBase { kind: 'Add'; cred?: Cred; meta?: Meta; items: Item[]; }
export interface Replace extends CmdBase { kind: 'Replace'; cred?: Cred; meta?: Meta; items: Item[]; }
export interface Delete extends CmdBase { kind: 'Delete'; archive?: boolean; sftDel?: boolean; cred?: Cred; meta?: Meta; items: Item[]; }
export interface Copy extends CmdBase { kind: 'Copy'; cred?: Cred; meta?: Meta; items: Item[]; }
export interface Get extends CmdBase { kind: 'Get'; lang?: string; cred?: Cred; meta?: Meta; items: Item[]; }
/** DTD: Exec (CmdID, NoResp?, Cred?, Meta?, Correlator?, Item). One item in DM; kept as a list for hostile input. */
export interface Exec extends CmdBase { kind: 'Exec'; cred?: Cred; meta?: Meta; correlator?: string; items: Item[]; }
/** DTD: Alert (CmdID, NoResp?, Cred?, Data?, Correlator?, Item*). `code` is the alert code carried in Data. */
export interface Alert extends CmdBase { kind: 'Alert'; cred?: Cred; code?: number; correlator?: string; items: Item[]; }
export interface Atomic extends CmdBase { kind: 'Atomic'; meta?: Meta; commands: Command[]; }
export interface Sequence extends CmdBase { kind: 'Sequence'; meta?: Meta; commands: Command[]; }

/** DTD: Status (CmdID, MsgRef, CmdRef, Cmd, TargetRef*, SourceRef*, Cred?, Chal?, Data, Item*). */
export interface Status {
  kind: 'Status';
  cmdID: string;
  msgRef: string;
  cmdRef: string;
  cmd: string;
  targetRefs: string[];
  sourceRefs: string[];
  cred?: Cred;
  chal?: Chal;
  code: number;
  items: Item[];
}

/** DTD: Results (CmdID, MsgRef?, CmdRef, Meta?, TargetRef*, SourceRef*, Item+). */
export interface Results {
  kind: 'Results';
  cmdID: string;
  msgRef?: string;
  cmdRef: string;
  meta?: Meta;
  targetRefs: string[];
  sourceRefs: string[];
  items: Item[];
}

/**
 * A SyncML command DM does not use (Sync, Map, Put, Search, ...). Kept deliberately, by name
 * and CmdID only, so a DM peer can answer it with 406 instead of the whole message failing;
 * its content is not modelled. Encoders refuse to write it.
 */
export interface UnsupportedCommand {
  kind: 'Unsupported';
  name: string;
  cmdID: string;
}

export type Command =
  | Add | Alert | Atomic | Copy | Delete | Exec | Get | Replace | Sequence | Status | Results
  | UnsupportedCommand;

export type CommandKind = Command['kind'];

/** DTD: SyncHdr (VerDTD, VerProto, SessionID, MsgID, Target, Source, RespURI?, NoResp?, Cred?, Meta?). */
export interface SyncHdr {
  verDTD: string;
  verProto: string;
  sessionID: string;
  msgID: string;
  target: Loc;
  source: Loc;
  respURI?: string;
  noResp?: boolean;
  cred?: Cred;
  meta?: Meta;
}

export interface SyncBody {
  commands: Command[];
  final: boolean;
}

export interface SyncML {
  hdr: SyncHdr;
  body: SyncBody;
}

/** Reads a numeric Meta value (Size, MaxMsgSize, MaxObjSize); undefined when absent or not a non-negative integer. */
export function metaInt(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = value.trim();
  if (!/^[0-9]{1,15}$/.test(t)) return undefined;
  return parseInt(t, 10);
}
