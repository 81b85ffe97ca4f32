// The standard MOs of DM 1.2 (OMA-TS-DM_StdObj 1.2): DevInfo, DevDetail and DMAcc in the 1.2
// layout (facts §2.9). DevInfo/DevDetail are permanent built-ins rebuilt from the host's config
// every boot (a firmware update changes FwV without any store record); DMAcc accounts are dynamic
// nodes provisioned once and persisted. AAuthSecret/AAuthData are never readable by a server.

import type { ItemData } from '../codec/model.js';
import { dataText } from './format.js';
import type { TNode } from './node.js';
import { DmTree, LOCAL_ID } from './tree.js';

export const DEVINFO_URN = 'urn:oma:mo:oma-dm-devinfo:1.0';
export const DEVDETAIL_URN = 'urn:oma:mo:oma-dm-devdetail:1.0';
export const DMACC_URN = 'urn:oma:mo:oma-dm-dmacc:1.0';

export interface DeviceConfig {
  devId: string;
  man: string;
  mod: string;
  dmV?: string;
  lang?: string;
  devTyp: string;
  oem: string;
  fwV: string;
  swV: string;
  hwV: string;
  /** ./DevDetail/LrgObj: large object support (default true). */
  lrgObj?: boolean;
}

const T = 'text/plain';

/** Defines ./DevInfo and ./DevDetail (URI limits taken from the tree) and mounts the DMAcc guard. */
export function installStandardMOs(tree: DmTree, c: DeviceConfig): void {
  tree.define('./DevInfo', 'node', DEVINFO_URN, undefined, 'Get=*');
  defineLeaves(tree, './DevInfo/', [
    ['DevId', c.devId], ['Man', c.man], ['Mod', c.mod], ['DmV', c.dmV || '1.2'], ['Lang', c.lang || 'en-US'],
  ]);
  tree.define('./DevDetail', 'node', DEVDETAIL_URN, undefined, 'Get=*');
  defineLeaves(tree, './DevDetail/', [
    ['URI/MaxDepth', String(tree.limits.maxDepth), 'int'],
    ['URI/MaxTotLen', String(tree.limits.maxTotLen), 'int'],
    ['URI/MaxSegLen', String(tree.limits.maxSegLen), 'int'],
    ['DevTyp', c.devTyp], ['OEM', c.oem], ['FwV', c.fwV], ['SwV', c.swV], ['HwV', c.hwV],
    ['LrgObj', c.lrgObj === false ? 'false' : 'true', 'bool'],
  ]);
  tree.define('./DMAcc', 'node', '', undefined, 'Get=*');
  tree.mount('./DMAcc', {
    hidden: function (rel) { return /^[^/]+\/AppAuth\/[^/]+\/(AAuthSecret|AAuthData)$/.test(rel); },
  });
}

/** Built-in text/plain leaves under `base`, in order: [relative path, value, format (default chr)]. */
function defineLeaves(tree: DmTree, base: string, leaves: Array<[string, string, string?]>): void {
  for (let i = 0; i < leaves.length; i++) tree.define(base + leaves[i][0], leaves[i][2] || 'chr', T, leaves[i][1]);
}

export interface AppAuthConfig {
  /** CLCRED: the client's credentials toward the server; SRVCRED: the server's toward the client (also Pkg0). */
  level: 'CLCRED' | 'SRVCRED';
  /** HTTP-BASIC, HTTP-DIGEST, BASIC, DIGEST, HMAC, ... */
  type: string;
  name: string;
  secret: string;
  /** Nonce bytes (AAuthData). */
  data?: Uint8Array;
}

export interface DmAccConfig {
  /** Node name of the account under ./DMAcc. */
  id: string;
  serverId: string;
  name?: string;
  prefConRef?: string;
  addr: string;
  addrType?: string;
  port?: number;
  aAuthPref?: string;
  auth: AppAuthConfig[];
}

/**
 * Creates ./DMAcc/<id> from a config object, all or nothing. Returns 200, 418 when the account
 * already exists (e.g. restored from the store at boot), or the failing command's code.
 */
export function provisionDmAcc(tree: DmTree, a: DmAccConfig): number {
  const b = './DMAcc/' + a.id;
  if (tree.find(b)) return 418;
  // [path relative to the account node, format, value, type (default text/plain for leaves)]
  const ops: Array<[string, string, ItemData | undefined, string?]> = [
    ['', 'node', undefined, DMACC_URN],
    ['/AppID', 'chr', 'w7'],
    ['/ServerID', 'chr', a.serverId],
    ['/Name', 'chr', a.name || ''],
    ['/PrefConRef', 'chr', a.prefConRef || ''],
    ['/AppAddr/1/Addr', 'chr', a.addr],
    ['/AppAddr/1/AddrType', 'chr', a.addrType || 'URI'],
  ];
  if (a.port !== undefined) ops.push(['/AppAddr/1/Port/1/PortNbr', 'int', String(a.port)]);
  ops.push(['/AAuthPref', 'chr', a.aAuthPref || (a.auth.length ? a.auth[0].type : '')]);
  for (let i = 0; i < a.auth.length; i++) {
    const u = a.auth[i];
    const p = '/AppAuth/' + u.level;
    ops.push([p + '/AAuthLevel', 'chr', u.level], [p + '/AAuthType', 'chr', u.type], [p + '/AAuthName', 'chr', u.name],
      [p + '/AAuthSecret', 'chr', u.secret], [p + '/AAuthData', 'bin', u.data || new Uint8Array(0), 'application/octet-stream']);
  }
  tree.begin();
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    const code = tree.add(LOCAL_ID, b + o[0], { format: o[1], type: o[3] || (o[1] === 'node' ? undefined : T) }, o[2]);
    if (code >= 300) { tree.rollback(); return code; }
  }
  // The account belongs to its server: it may read and update it, nobody else.
  const acl = 'Get=' + a.serverId + '&Replace=' + a.serverId;
  if (tree.replace(LOCAL_ID, b + '?prop=ACL', undefined, acl) >= 300) { tree.rollback(); return 500; }
  return tree.commit() ? 200 : 500;
}

export interface DmAccount {
  id: string;
  serverId: string;
  name: string;
  addr: string;
  addrType: string;
  port?: number;
  aAuthPref: string;
  auth: AppAuthConfig[];
}

function str(tree: DmTree, uri: string): string {
  return dataText(tree.readLocal(uri)) || '';
}

/** Children of the node at `uri`; none when it is absent or a leaf. */
function kidsOf(tree: DmTree, uri: string): TNode[] {
  const n = tree.find(uri);
  return n && n.kids ? n.kids : [];
}

/** Every DM account with its credentials, for the device's own DM client (privileged local read). */
export function readDmAccounts(tree: DmTree): DmAccount[] {
  const out: DmAccount[] = [];
  const ks = kidsOf(tree, './DMAcc');
  for (let i = 0; i < ks.length; i++) {
    const b = './DMAcc/' + ks[i].name;
    const acc: DmAccount = {
      id: ks[i].name, serverId: str(tree, b + '/ServerID'), name: str(tree, b + '/Name'),
      addr: '', addrType: 'URI', aAuthPref: str(tree, b + '/AAuthPref'), auth: [],
    };
    const addrs = kidsOf(tree, b + '/AppAddr');
    if (addrs.length) {
      const a = b + '/AppAddr/' + addrs[0].name;
      acc.addr = str(tree, a + '/Addr');
      acc.addrType = str(tree, a + '/AddrType') || 'URI';
      const ports = kidsOf(tree, a + '/Port');
      if (ports.length) acc.port = parseInt(str(tree, a + '/Port/' + ports[0].name + '/PortNbr'), 10);
    }
    const ak = kidsOf(tree, b + '/AppAuth');
    for (let j = 0; j < ak.length; j++) {
      const p = b + '/AppAuth/' + ak[j].name;
      const d = tree.readLocal(p + '/AAuthData');
      acc.auth.push({
        level: str(tree, p + '/AAuthLevel') as 'CLCRED' | 'SRVCRED', type: str(tree, p + '/AAuthType'),
        name: str(tree, p + '/AAuthName'), secret: str(tree, p + '/AAuthSecret'),
        data: d === undefined ? undefined : typeof d === 'string' ? bytesOf(d) : d,
      });
    }
    out.push(acc);
  }
  return out;
}

function bytesOf(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

/** Stores a new nonce (AAuthData) for an account's AppAuth entry; durable when it returns 200. */
export function setAuthNonce(tree: DmTree, accountId: string, authName: string, nonce: Uint8Array): number {
  return tree.replace(LOCAL_ID, './DMAcc/' + accountId + '/AppAuth/' + authName + '/AAuthData', { format: 'bin' }, nonce);
}
