// The tree's public surface: the ManagementTree contract, its implementation, plug-ins and MOs.
//
// Boot order (the agent):
//   let tree; const store = openStore(flash, { snapshot: (emit) => { tree.snapshot(emit); ... } });
//   tree = new DmTree({ store, clock, limits });
//   installStandardMOs(tree, deviceConfig); tree.define(...)/tree.mount(path, plugin) for other MOs;
//   tree.load();                          // replays the log over the built-ins
//   provisionDmAcc(tree, account);        // factory accounts; 418 once restored from the store
// Server commands go through the ManagementTree methods with the session's server id; the
// device's own DM client uses LOCAL_ID (no ACL, secrets readable) or readDmAccounts().
export * from './api.js';
export { DmTree, LOCAL_ID, type TreeOptions } from './tree.js';
export type { MoPlugin, TreeOp } from './plugin.js';
export type { TNode } from './node.js';
export { DEFAULT_URI_LIMITS, type UriLimits } from './uri.js';
export { aclValid, aclAllows, ROOT_ACL, type AclCommand } from './acl.js';
export { TNDS_TYPE, TNDS_WBXML_TYPE } from './tnds.js';
export { DDF_PUBLIC_ID, exportDdf } from './ddf.js';
export {
  installStandardMOs, provisionDmAcc, readDmAccounts, setAuthNonce,
  DEVINFO_URN, DEVDETAIL_URN, DMACC_URN,
  type DeviceConfig, type DmAccConfig, type AppAuthConfig, type DmAccount,
} from './standard-mos.js';
