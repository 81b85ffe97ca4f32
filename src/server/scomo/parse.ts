// Reading what devices send: the SCOMO root from a ?list=Struct Results, the inventory from a
// ?list=StructData Results of <root>/Inventory, and the data of the final alert (facts §1.5)
// and of the device's component request. Every parser takes untrusted items and never throws.
import type { Item } from '../../codec/model.js';
import { utf8Decode } from '../../codec/utf8.js';
import type { DeliveredPackage, DeployedComponent, Inventory } from './types.js';

export const SCOMO_MO_ID = 'urn:oma:mo:oma-scomo:1.0';
export const SCOMO_ALERT_TYPE = 'urn:oma:at:scomo:1.0:OperationComplete';
export const SCOMO_REQUEST_ALERT_TYPE = 'org.openscomo.request-component';
export const DEFAULT_ROOT = './SCOMO';

export function itemText(it: Item): string {
  const d = it.data;
  if (d === undefined) return '';
  return typeof d === 'string' ? d : utf8Decode(d);
}

function itemUri(it: Item): string {
  return it.source?.locURI ?? it.target?.locURI ?? '';
}

/** The first node whose Type is the SCOMO 1.0 MO id; undefined when there is none. */
export function findScomoRoot(items: Item[]): string | undefined {
  for (const it of items) {
    if (it.meta?.type?.trim() === SCOMO_MO_ID) {
      const u = itemUri(it);
      if (u) return u.startsWith('./') || u === '.' ? u : './' + u.replace(/^\/+/, '');
    }
  }
  return undefined;
}

function relTo(root: string, uri: string): string[] | undefined {
  const norm = (s: string): string => s.replace(/^\.\//, '').replace(/\/+$/, '');
  const r = norm(root), u = norm(uri);
  if (u !== r && !u.startsWith(r + '/')) return undefined;
  return u === r ? [] : u.slice(r.length + 1).split('/');
}

/** Inventory from the items of Get <root>/Inventory?list=StructData. */
export function parseInventory(root: string, items: Item[], now = Date.now()): Inventory {
  // Maps: node names come from the device ("__proto__" is a valid node name).
  const dep = new Map<string, Map<string, string>>();
  const dlv = new Map<string, Map<string, string>>();
  for (const it of items) {
    const rel = relTo(root + '/Inventory', itemUri(it));
    if (!rel || rel.length < 2) continue;
    const bag = rel[0] === 'Deployed' ? dep : rel[0] === 'Delivered' ? dlv : undefined;
    if (!bag) continue;
    const node = rel[1];
    let leaves = bag.get(node);
    if (!leaves) { leaves = new Map(); bag.set(node, leaves); }
    if (rel.length === 3 && it.data !== undefined) leaves.set(rel[2], itemText(it));
  }
  const num = (s: string | undefined): number | undefined => (s !== undefined && /^\s*[0-9]+\s*$/.test(s) ? Number(s) : undefined);
  const deployed: DeployedComponent[] = [...dep].map(([node, m]) => {
    const v = Object.fromEntries(m) as Record<string, string | undefined>;
    const d: DeployedComponent = {
      id: v.ID ?? node, name: v.Name ?? '', version: v.Version ?? '', node,
      state: num(v.State) === 20 ? 'active' : 'inactive',
    };
    const st = num(v.Status);
    if (st !== undefined) d.status = st;
    if (v.Description) d.description = v.Description;
    if (v.PkgIDRef) d.pkgIdRef = v.PkgIDRef;
    return d;
  });
  const delivered: DeliveredPackage[] = [...dlv].map(([node, m]) => {
    const v = Object.fromEntries(m) as Record<string, string | undefined>;
    const d: DeliveredPackage = { pkgId: v.PkgID ?? node, name: v.Name ?? '', node, state: num(v.State) === 20 ? 'installed' : 'delivered' };
    const st = num(v.Status);
    if (st !== undefined) d.status = st;
    return d;
  });
  return { deployed, delivered, updatedAt: now, root };
}

function tag(text: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>\\s*(?:<!\\[CDATA\\[([\\s\\S]*?)\\]\\]>|([^<]*))\\s*</${name}>`).exec(text);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1] : unescapeXml(m[2] ?? '');
}

function unescapeXml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

export interface OperationComplete {
  resultCode: number | null;
  identifier?: string;
  source?: string;
  target?: string;
}

/** The SCOMO OperationComplete item of a 1226 alert, or undefined when the alert is not one. */
export function parseOperationComplete(items: Item[]): OperationComplete | undefined {
  for (const it of items) {
    if (it.meta?.type?.trim() !== SCOMO_ALERT_TYPE) continue;
    const text = itemText(it).slice(0, 4096);
    const rc = tag(text, 'ResultCode');
    const out: OperationComplete = { resultCode: rc !== undefined && /^\s*[0-9]{1,4}\s*$/.test(rc) ? Number(rc) : null };
    const id = tag(text, 'Identifier');
    if (id !== undefined) out.identifier = id;
    if (it.source?.locURI) out.source = it.source.locURI;
    if (it.target?.locURI) out.target = it.target.locURI;
    return out;
  }
  return undefined;
}

/** Flow alternative 1: `<Request><Name>N</Name><Version>V</Version>?</Request>`. */
export function parseComponentRequest(items: Item[]): { name: string; version?: string } | undefined {
  for (const it of items) {
    if (it.meta?.type?.trim() !== SCOMO_REQUEST_ALERT_TYPE) continue;
    const text = itemText(it).slice(0, 4096);
    const name = tag(text, 'Name')?.trim();
    if (!name) return undefined;
    const version = tag(text, 'Version')?.trim();
    return version ? { name, version } : { name };
  }
  return undefined;
}

/** SCOMO result codes 1200-1299 are successes (facts §1.4). */
export function isSuccessCode(code: number | null): boolean {
  return code !== null && code >= 1200 && code <= 1299;
}
