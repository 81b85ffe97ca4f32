// OMA download descriptor (OMA-DLOTA DD 1.0): the small XML document a PkgURL may point to
// instead of the package itself. The device reads it, then downloads `objectURI`.
//
//   <media xmlns="http://www.openmobilealliance.org/xmlns/dd">
//     <type>application/x-tar</type> <size>1234</size> <objectURI>http://h/dl/pkg-..</objectURI>
//     <name>..</name> <vendor>..</vendor> <description>..</description>
//     <installNotifyURI>..</installNotifyURI>
//     <x:sha256 xmlns:x="urn:x-scomo:dd-ext:1.0">hex</x:sha256>   (our extension)
//     <x:signature xmlns:x="urn:x-scomo:dd-ext:1.0">alg:base64</x:signature>   (our extension)
//   </media>
//
// DD 1.0 has no digest element. Our extension puts the package's lower-case hex SHA-256 in a
// `sha256` element of our own namespace DD_EXT_NS, which DD readers that do not know it ignore
// (unknown elements are skipped). This reader accepts `sha256` in any namespace. A signed package
// carries its detached signature the same way, in `signature` (format: ../signature.ts).
import { XElement, isElement } from '../../codec/element.js';
import { readXml } from '../../codec/xml-reader.js';
import { CodecLimits, formatCodecError } from '../../codec/errors.js';
import { parseSignature } from '../signature.js';

export const DD_NS = 'http://www.openmobilealliance.org/xmlns/dd';
export const DD_EXT_NS = 'urn:x-scomo:dd-ext:1.0';
export const DD_MIME = 'application/vnd.oma.dd+xml';
/** A DD is a few hundred bytes; anything much larger is refused before parsing. */
export const DD_MAX_BYTES = 16384;

const DD_LIMITS: CodecLimits = {
  maxBytes: DD_MAX_BYTES,
  maxDepth: 8,
  maxElements: 256,
  maxStringBytes: 4096,
  maxOpaqueBytes: 4096,
};

export interface DownloadDescriptor {
  objectURI: string;
  type?: string;
  size?: number;
  name?: string;
  vendor?: string;
  description?: string;
  installNotifyURI?: string;
  /** Lower-case hex, from our extension element. */
  sha256?: string;
  /** `<alg>:<base64>`, from our extension element (validated). */
  signature?: string;
}

export type DdResult = { ok: true; dd: DownloadDescriptor } | { ok: false; message: string };

function text(e: XElement): string {
  let s = '';
  for (let i = 0; i < e.children.length; i++) {
    const c = e.children[i];
    if (typeof c === 'string') s += c;
  }
  return s.replace(/^\s+|\s+$/g, '');
}

function bad(message: string): DdResult {
  return { ok: false, message: 'download descriptor: ' + message };
}

/** DD elements copied as text (others: DDVersion, nextURL, iconURI, infoURL, installParam... are not needed here). */
const TEXT_FIELDS = 'objectURI type name vendor description installNotifyURI'.split(' ');

/** Parses a DD document; every error is a value with a one-line message. */
export function parseDownloadDescriptor(bytes: Uint8Array): DdResult {
  const r = readXml(bytes, DD_LIMITS);
  if (!r.ok) return bad(formatCodecError(r.error));
  const root = r.value;
  if (root.name !== 'media') return bad('<' + root.name + '> is not <media>');
  const dd: DownloadDescriptor = { objectURI: '' };
  for (let i = 0; i < root.children.length; i++) {
    const c = root.children[i];
    if (!isElement(c)) continue;
    const v = text(c);
    const name = c.name;
    if (name === 'sha256') {
      if (!/^[0-9a-fA-F]{64}$/.test(v)) return bad('sha256 is not 64 hex digits');
      dd.sha256 = v.toLowerCase();
    } else if (name === 'signature' && c.ns === DD_EXT_NS) {
      const sig = parseSignature(v);
      if (!sig.ok) return bad(sig.message);
      dd.signature = sig.sig.alg + ':' + sig.sig.value;
    } else if (c.ns === DD_NS || c.ns === '') {
      if (name === 'size') {
        if (!/^[0-9]{1,15}$/.test(v)) return bad('size is not a byte count');
        dd.size = parseInt(v, 10);
      } else if (TEXT_FIELDS.indexOf(name) >= 0) (dd as unknown as { [k: string]: string })[name] = v;
    }
  }
  return dd.objectURI ? { ok: true, dd } : bad('no objectURI');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Writes a DD document (used by the repository server; kept here so writer and reader agree). */
export function writeDownloadDescriptor(dd: DownloadDescriptor): string {
  let s = '<?xml version="1.0" encoding="UTF-8"?>\n<media xmlns="' + DD_NS + '">\n';
  s += ' <DDVersion>1.0</DDVersion>\n';
  if (dd.name !== undefined) s += ' <name>' + esc(dd.name) + '</name>\n';
  if (dd.type !== undefined) s += ' <type>' + esc(dd.type) + '</type>\n';
  if (dd.size !== undefined) s += ' <size>' + dd.size + '</size>\n';
  s += ' <objectURI>' + esc(dd.objectURI) + '</objectURI>\n';
  if (dd.vendor !== undefined) s += ' <vendor>' + esc(dd.vendor) + '</vendor>\n';
  if (dd.description !== undefined) s += ' <description>' + esc(dd.description) + '</description>\n';
  if (dd.installNotifyURI !== undefined) s += ' <installNotifyURI>' + esc(dd.installNotifyURI) + '</installNotifyURI>\n';
  if (dd.sha256 !== undefined) s += ' <x:sha256 xmlns:x="' + DD_EXT_NS + '">' + esc(dd.sha256) + '</x:sha256>\n';
  if (dd.signature !== undefined) s += ' <x:signature xmlns:x="' + DD_EXT_NS + '">' + esc(dd.signature) + '</x:signature>\n';
  return s + '</media>\n';
}
