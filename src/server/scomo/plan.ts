// The DM commands of a SCOMO job (facts §1.2, the device engine src/scomo/engine.ts), as pure
// functions of the job, the SCOMO root and the package. Node names under Download/ and
// Inventory/Delivered/ are the job id, so two jobs never collide and a job's node is known
// after a restart.
import type { Command, Item } from '../../codec/model.js';
import type { Job } from './types.js';

export interface PackageRef {
  pkgId: string;
  name: string;
  version: string;
  type: string;
  /** Alternate download: the URL the device fetches (the repository's /dl/<pkgId>). */
  url?: string;
  /** DM delivery: the package bytes. */
  bytes?: Uint8Array;
  /** `<alg>:<base64>` when the package is signed (src/scomo/signature.ts). */
  signature?: string;
  /** The package's download descriptor (the repository's /dl/<pkgId>.dd); PkgURL of a signed package. */
  ddUrl?: string;
}

/** Leaf of our extension carrying the package signature, under Download/<X> or Inventory/Delivered/<X>. */
export const SIGNATURE_LEAF = '/Ext/Signature';

/**
 * Commands whose refusal does not fail the job: the signature leaf is an extension a
 * third-party device may refuse (405, 404...), and a device that needs the signature also
 * finds it in the DD, or fails the job itself (result 1407).
 */
export function isOptionalCommand(c: Command): boolean {
  return c.kind === 'Add' && c.items.length === 1 && (c.items[0].target?.locURI ?? '').endsWith(SIGNATURE_LEAF);
}

function signatureAdd(base: string, pkg: PackageRef): Command[] {
  return pkg.signature === undefined ? [] : [addLeaves([leaf(base + SIGNATURE_LEAF, pkg.signature)])];
}

function leaf(uri: string, value: string): Item {
  return { target: { locURI: uri }, meta: { format: 'chr', type: 'text/plain' }, data: value };
}

function addNode(uri: string): Command {
  return { kind: 'Add', cmdID: '0', items: [{ target: { locURI: uri }, meta: { format: 'node' } }] };
}

function addLeaves(items: Item[]): Command {
  return { kind: 'Add', cmdID: '0', items };
}

export function execCmd(uri: string, correlator: string): Command {
  return { kind: 'Exec', cmdID: '0', correlator, items: [{ target: { locURI: uri } }] };
}

export function getCmd(uri: string): Command {
  return { kind: 'Get', cmdID: '0', items: [{ target: { locURI: uri } }] };
}

/** Discovery: the whole tree with its leaf values (the device hides what the server may not read): finds the root whose Type is the SCOMO MO id, and gives the inventory in the same round trip. */
export const DISCOVERY_URI = './?list=StructData';

export function inventoryUri(root: string): string {
  return root + '/Inventory?list=StructData';
}

/**
 * Alternate download (facts §1.2): Add Download/<X> with PkgID, Name, PkgURL, PkgType, then Exec
 * Operations/<op>. One leaf per Add so a refused leaf is reported on its own.
 * A signed package: PkgURL is its DD (size, SHA-256 and signature in one document), and the
 * signature also goes to Download/<X>/Ext/Signature, in its own Add, for a device that takes
 * PkgURL without reading a DD.
 */
export function alternateDownload(root: string, node: string, pkg: PackageRef, op: 'Download' | 'DownloadInstall' | 'DownloadInstallInactive', correlator: string): { commands: Command[]; execUri: string } {
  const base = `${root}/Download/${node}`;
  const execUri = `${base}/Operations/${op}`;
  return {
    execUri,
    commands: [
      addNode(base),
      addLeaves([
        leaf(base + '/PkgID', pkg.pkgId),
        leaf(base + '/Name', pkg.name),
        leaf(base + '/PkgURL', pkgUrl(pkg)),
        leaf(base + '/Description', `${pkg.name} ${pkg.version}`),
        leaf(base + '/PkgType', pkg.type),
      ]),
      ...signatureAdd(base, pkg),
      execCmd(execUri, correlator),
    ],
  };
}

function pkgUrl(pkg: PackageRef): string {
  if (pkg.signature === undefined) return pkg.url ?? '';
  return pkg.ddUrl ?? (pkg.url ? pkg.url + '.dd' : '');
}

/**
 * Delivery over DM: Add Inventory/Delivered/<X> + leaves + Data (Format b64; sent as a large
 * object when it does not fit one message), then Exec Install/InstallInactive unless `install`
 * is undefined. A signed package's signature goes to Inventory/Delivered/<X>/Ext/Signature, in
 * its own Add before the Data, so the device has it when the last chunk arrives.
 */
export function dmDelivery(root: string, node: string, pkg: PackageRef, install: 'Install' | 'InstallInactive' | undefined, correlator: string): { commands: Command[]; execUri?: string } {
  const base = `${root}/Inventory/Delivered/${node}`;
  const commands: Command[] = [
    addNode(base),
    addLeaves([
      leaf(base + '/PkgID', pkg.pkgId),
      leaf(base + '/Name', pkg.name),
      leaf(base + '/Description', `${pkg.name} ${pkg.version}`),
      leaf(base + '/PkgType', pkg.type),
    ]),
    ...signatureAdd(base, pkg),
    // Always b64 text (Format b64), on XML and WBXML alike: the device decodes it as it streams
    // to storage, and the DM layer splits text into large-object chunks at any point while the
    // chunks of binary data over XML currently lose their Meta Format b64 (see report). The cost
    // is a third more bytes on WBXML.
    { kind: 'Add', cmdID: '0', items: [{ target: { locURI: base + '/Data' }, meta: { format: 'b64', type: 'application/octet-stream' }, data: b64(pkg.bytes ?? new Uint8Array(0)) }] },
  ];
  if (!install) return { commands };
  const execUri = `${base}/Operations/${install}`;
  commands.push(execCmd(execUri, correlator));
  return { commands, execUri };
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function jobNodeName(job: Job): string {
  return job.jobId.replace(/[^A-Za-z0-9._~-]/g, '_');
}
