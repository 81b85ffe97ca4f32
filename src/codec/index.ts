// The codec entry point: DM message bytes <-> the SyncML model, in XML or WBXML.
// Everything else (device core, server, CLI) goes through decodeMessage / encodeMessage.
import { Result, CodecLimits, DEVICE_LIMITS, fail, ok } from './errors.js';
import { SyncML } from './model.js';
import { readXml } from './xml-reader.js';
import { writeXml } from './xml-writer.js';
import { readWbxml } from './wbxml-reader.js';
import { writeWbxml } from './wbxml-writer.js';
import { elementToMessage, messageToElement } from './message-map.js';
import { FPI_SYNCML_12 } from './wbxml-tables.js';

export * from './model.js';
export * from './errors.js';
export { readXml } from './xml-reader.js';
export { writeXml } from './xml-writer.js';
export { readWbxml } from './wbxml-reader.js';
export { writeWbxml } from './wbxml-writer.js';
export { elementToMessage, messageToElement } from './message-map.js';

export type Encoding = 'xml' | 'wbxml';

export { FPI_SYNCML_12 };
export const DTD_DM_12 = 'http://www.openmobilealliance.org/tech/DTD/OMA-TS-DM_1.2-DTD.dtd';

export interface EncodeOptions {
  /** XML: write the `<!DOCTYPE SyncML PUBLIC ...>` line. Default false: DM 1.2 peers identify
   *  the message by its xmlns, and a device saves ~120 bytes per message without it. */
  doctype?: boolean;
  /** XML: write the `<?xml ...?>` declaration. Default true. */
  declaration?: boolean;
  /** XML: indent (for people; default false). */
  indent?: boolean;
  /** WBXML version byte (default the WBXML writer's, 1.2). */
  wbxmlVersion?: number;
  /** WBXML public id (default 0x1201 for SyncML 1.2). */
  publicId?: number | string;
  /** WBXML: use the string table for repeated strings. */
  stringTable?: boolean;
}

/** WBXML starts with its version byte (0x00..0x03); XML starts with '<', a BOM or whitespace. */
export function detectEncoding(bytes: Uint8Array): Encoding {
  return bytes.length > 0 && bytes[0] <= 0x03 ? 'wbxml' : 'xml';
}

export function decodeMessage(bytes: Uint8Array, limits?: CodecLimits): Result<{ msg: SyncML; encoding: Encoding }> {
  const lim = limits || DEVICE_LIMITS;
  if (bytes.length === 0) return fail('truncated', 'empty message', 0);
  const encoding = detectEncoding(bytes);
  let root;
  if (encoding === 'wbxml') {
    const r = readWbxml(bytes, lim);
    if (!r.ok) return r;
    root = r.value.root;
  } else {
    const r = readXml(bytes, lim);
    if (!r.ok) return r;
    root = r.value;
  }
  const m = elementToMessage(root);
  return m.ok ? ok({ msg: m.value, encoding }) : m;
}

export function encodeMessage(msg: SyncML, encoding: Encoding, opts?: EncodeOptions): Result<Uint8Array> {
  const o = opts || {};
  const e = messageToElement(msg);
  if (!e.ok) return e;
  if (encoding === 'wbxml') return writeWbxml(e.value, { version: o.wbxmlVersion, publicId: o.publicId, stringTable: o.stringTable });
  return writeXml(e.value, {
    declaration: o.declaration !== false,
    doctype: o.doctype ? { name: 'SyncML', publicId: FPI_SYNCML_12, systemId: DTD_DM_12 } : undefined,
    indent: !!o.indent,
  });
}

/** HTTP Content-Type for a DM message (facts §2.10): `dm` family by default, `syncml` for DS-style peers. */
export function contentTypeFor(encoding: Encoding, family?: 'dm' | 'syncml'): string {
  return 'application/vnd.syncml' + (family === 'syncml' ? '' : '.dm') + (encoding === 'wbxml' ? '+wbxml' : '+xml');
}

/** Encoding named by a Content-Type of either family; parameters (`; charset=...`) are ignored. */
export function encodingFromContentType(ct: string): Encoding | undefined {
  const m = /^application\/vnd\.syncml(\.dm)?\+(wbxml|xml)$/.exec(ct.split(';')[0].trim().toLowerCase());
  return m ? (m[2] as Encoding) : undefined;
}
