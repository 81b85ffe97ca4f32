// Small HTTP helpers for the download engine: header lookup, Content-Range, Location
// resolution. No URL global on small engines, so relative references are resolved by hand
// (enough for what servers send: absolute URLs, absolute paths, and plain relative paths).

/** Case-insensitive header lookup. */
export function header(h: { [name: string]: string } | undefined, name: string): string | undefined {
  if (!h) return undefined;
  const want = name.toLowerCase();
  for (const k in h) {
    if (Object.prototype.hasOwnProperty.call(h, k) && k.toLowerCase() === want) return String(h[k]);
  }
  return undefined;
}

/** Media type without parameters, lower-case. */
export function mediaType(v: string | undefined): string {
  if (!v) return '';
  const semi = v.indexOf(';');
  return (semi >= 0 ? v.slice(0, semi) : v).replace(/^\s+|\s+$/g, '').toLowerCase();
}

/** A non-negative decimal integer header (Content-Length), or undefined. */
export function parseLength(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = v.replace(/^\s+|\s+$/g, '');
  return /^[0-9]{1,15}$/.test(t) ? parseInt(t, 10) : undefined;
}

export interface ContentRange {
  /** -1 for `bytes * / total` (the form of a 416). */
  start: number;
  end: number;
  /** -1 when the server wrote `*`. */
  total: number;
}

export function parseContentRange(v: string | undefined): ContentRange | null {
  if (!v) return null;
  let m = /^\s*bytes\s+([0-9]{1,15})-([0-9]{1,15})\/([0-9]{1,15}|\*)\s*$/i.exec(v);
  if (m) {
    const r = { start: parseInt(m[1], 10), end: parseInt(m[2], 10), total: m[3] === '*' ? -1 : parseInt(m[3], 10) };
    return r.end < r.start || (r.total >= 0 && r.end >= r.total) ? null : r;
  }
  m = /^\s*bytes\s+\*\/([0-9]{1,15})\s*$/i.exec(v);
  return m ? { start: -1, end: -1, total: parseInt(m[1], 10) } : null;
}

/** Path part of a URL without query or fragment (for the `.dd` suffix test). */
export function urlPath(url: string): string {
  let s = url;
  const h = s.indexOf('#');
  if (h >= 0) s = s.slice(0, h);
  const q = s.indexOf('?');
  if (q >= 0) s = s.slice(0, q);
  const scheme = s.indexOf('://');
  if (scheme >= 0) {
    const slash = s.indexOf('/', scheme + 3);
    s = slash >= 0 ? s.slice(slash) : '/';
  }
  return s;
}

export function isAbsoluteUrl(u: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(u);
}

/** Resolves `ref` against `base` (RFC 3986 §5.2, without dot-segment removal). */
export function resolveUrl(base: string, ref: string): string {
  if (isAbsoluteUrl(ref)) return ref;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:)(\/\/[^\/?#]*)?([^?#]*)/.exec(base);
  if (!m) return ref;
  const scheme = m[1];
  const authority = m[2] || '';
  if (ref.slice(0, 2) === '//') return scheme + ref;
  if (ref.charAt(0) === '/') return scheme + authority + ref;
  const p = m[3] || '/';
  if (ref === '') return base;
  if (ref.charAt(0) === '?' || ref.charAt(0) === '#') return scheme + authority + p + ref;
  return scheme + authority + p.slice(0, p.lastIndexOf('/') + 1) + ref;
}
