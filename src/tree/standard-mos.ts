// The standard MOs of DM 1.2 (OMA-TS-DM_StdObj 1.2): DevInfo, DevDetail and DMAcc in the 1.2
// layout (facts §2.9). DevInfo/DevDetail are permanent built-ins rebuilt from the host's config
// every boot (a firmware update changes FwV without any store record); DMAcc accounts are dynamic
// nodes provisioned once and persisted. AAuthSecret/AAuthData are never readable by a server.

import type { ItemData } from '../codec/model.js';
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
  tree.define('./DevInfo/DevId', 'chr', T, c.devId);
  tree.define('./DevInfo/Man', 'chr', T, c.man);
  tree.define('./DevInfo/Mod', 'chr', T, c.mod);
  tree.define('./DevInfo/DmV', 'chr', T, c.dmV || '1.2');
  tree.define('./DevInfo/Lang', 'chr', T, c.lang || 'en-US');
  tree.define('./DevDetail', 'node', DEVDETAIL_URN, undefined, 'Get=*');
  tree.define('./DevDetail/URI/MaxDepth', 'int', T, String(tree.limits.maxDepth));
  tree.define('./DevDetail/URI/MaxTotLen', 'int', T, String(tree.limits.maxTotLen));
  tree.define('./DevDetail/URI/MaxSegLen', 'int', T, String(tree.limits.maxSegLen));
  tree.define('./DevDetail/DevTyp', 'chr', T, c.devTyp);
  tree.define('./DevDetail/OEM', 'chr', T, c.oem);
  tree.define('./DevDetail/FwV', 'chr', T, c.fwV);
  tree.define('./DevDetail/SwV', 'chr', T, c.swV);
  tree.define('./DevDetail/HwV', 'chr', T, c.hwV);
  tree.define('./DevDetail/LrgObj', 'bool', T, c.lrgObj === false ? 'false' : 'true');
  tree.define('./DMAcc', 'node', '', undefined, 'Get=*');
  tree.mount('./DMAcc', {
    hidden: function (rel) { return /^[^/]+\/AppAuth\/[^/]+\/(AAuthSecret|AAuthData)$/.test(rel); },
  });
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
  const ops: Array<[string, string, ItemData | undefined, string?]> = [
    [b, 'node', undefined, DMACC_URN],
    [b + '/AppID', 'chr', 'w7'],
    [b + '/ServerID', 'chr', a.serverId],
    [b + '/Name', 'chr', a.name || ''],
    [b + '/PrefConRef', 'chr', a.prefConRef || ''],
    [b + '/AppAddr/1/Addr', 'chr', a.addr],
    [b + '/AppAddr/1/AddrType', 'chr', a.addrType || 'URI'],
  ];
  if (a.port !== undefined) ops.push([b + '/AppAddr/1/Port/1/PortNbr', 'int', String(a.port)]);
  ops.push([b + '/AAuthPref', 'chr', a.aAuthPref || (a.auth.length ? a.auth[0].type : '')]);
  for (let i = 0; i < a.auth.length; i++) {
    const u = a.auth[i];
    const p = b + '/AppAuth/' + u.level;
    ops.push([p + '/AAuthLevel', 'chr', u.level], [p + '/AAuthType', 'chr', u.type], [p + '/AAuthName', 'chr', u.name],
      [p + '/AAuthSecret', 'chr', u.secret], [p + '/AAuthData', 'bin', u.data || new Uint8Array(0), 'application/octet-stream']);
  }
  tree.begin();
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    const code = tree.add(LOCAL_ID, o[0], { format: o[1], type: o[3] || (o[1] === 'node' ? undefined : T) }, o[2]);
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
  const v = tree.readLocal(uri);
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  let s = '';
  for (let i = 0; i < v.length; i++) s += String.fromCharCode(v[i]);
  return s;
}

/** Every DM account with its credentials, for the device's own DM client (privileged local read). */
export function readDmAccounts(tree: DmTree): DmAccount[] {
  const out: DmAccount[] = [];
  const root = tree.find('./DMAcc');
  const ks = root && root.kids ? root.kids : [];
  for (let i = 0; i < ks.length; i++) {
    const b = './DMAcc/' + ks[i].name;
    const acc: DmAccount = {
      id: ks[i].name, serverId: str(tree, b + '/ServerID'), name: str(tree, b + '/Name'),
      addr: '', addrType: 'URI', aAuthPref: str(tree, b + '/AAuthPref'), auth: [],
    };
    const addrs = tree.find(b + '/AppAddr');
    if (addrs && addrs.kids && addrs.kids.length) {
      const a = b + '/AppAddr/' + addrs.kids[0].name;
      acc.addr = str(tree, a + '/Addr');
      acc.addrType = str(tree, a + '/AddrType') || 'URI';
      const ports = tree.find(a + '/Port');
      if (ports && ports.kids && ports.kids.length) acc.port = parseInt(str(tree, a + '/Port/' + ports.kids[0].name + '/PortNbr'), 10);
    }
    const auths = tree.find(b + '/AppAuth');
    const ak = auths && auths.kids ? auths.kids : [];
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
