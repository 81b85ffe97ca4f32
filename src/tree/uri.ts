// DM URI rules (DM TND 1.2 §6: URIs are "./"-rooted paths of node names; no "." or ".." segments,
// no empty segments; the query part carries ?prop= or ?list=). Limits are the values this device
// reports in ./DevDetail/URI/{MaxDepth,MaxTotLen,MaxSegLen} (0 = unlimited); exceeding one is 414.

export interface UriLimits {
  maxDepth: number;
  maxTotLen: number;
  maxSegLen: number;
}

export const DEFAULT_URI_LIMITS: UriLimits = { maxDepth: 16, maxTotLen: 255, maxSegLen: 64 };

export interface ParsedUri {
  /** Node names below the root; [] is the root ".". */
  segs: string[];
  /** "./A/B" form. */
  path: string;
  /** Value of ?prop= */
  prop?: string;
  /** Value of ?list= */
  list?: string;
}

/** Parses a DM URI; returns a status code (400 bad, 406 unknown query, 414 too long) on failure. */
export function parseUri(uri: string, lim: UriLimits): ParsedUri | number {
  let q: string | undefined;
  const qi = uri.indexOf('?');
  if (qi >= 0) {
    q = uri.substring(qi + 1);
    uri = uri.substring(0, qi);
  }
  if (uri === '.' || uri === './' || uri === '') uri = '';
  else if (uri.substring(0, 2) === './') uri = uri.substring(2);
  else if (uri.charAt(0) === '/') return 400;
  // One trailing slash is tolerated (some servers send "./DMAcc/").
  if (uri.length > 1 && uri.charAt(uri.length - 1) === '/') uri = uri.substring(0, uri.length - 1);
  const segs = uri === '' ? [] : uri.split('/');
  if (lim.maxTotLen && uri.length + 2 > lim.maxTotLen) return 414;
  if (lim.maxDepth && segs.length > lim.maxDepth) return 414;
  for (let i = 0; i < segs.length; i++) {
    const c = validSegment(segs[i], lim);
    if (c !== 200) return c;
  }
  const r: ParsedUri = { segs, path: segs.length ? './' + segs.join('/') : '.' };
  if (q !== undefined) {
    const m = /^(prop|list)=(.+)$/.exec(q);
    if (!m) return 406;
    if (m[1] === 'prop') r.prop = m[2];
    else r.list = m[2];
  }
  return r;
}

/** A single node name as accepted in a URI segment (used for Name replacement and TNDS NodeName). */
export function validSegment(s: string, lim: UriLimits): number {
  if (s === '' || s === '.' || s === '..' || /[\u0000-\u001f\u007f?\/]/.test(s)) return 400;
  if (lim.maxSegLen && s.length > lim.maxSegLen) return 414;
  return 200;
}
