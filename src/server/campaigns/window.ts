// Maintenance windows: `{ "start": "HH:MM", "end": "HH:MM", "tz"?: "UTC" }`. Installs happen
// only while the local time of `tz` is in [start, end); a window with start > end crosses
// midnight (22:00-04:00). `tz` is "UTC" (default), a fixed offset "+02:00" / "-05:30", or an
// IANA zone name ("Europe/Paris", daylight saving applied) as the Node runtime knows it.
import type { MaintenanceWindow } from './types.js';

const HHMM = /^([01][0-9]|2[0-3]):([0-5][0-9])$/;
const OFFSET = /^([+-])([01][0-9]|2[0-3]):([0-5][0-9])$/;

function minutes(s: string): number {
  const m = HHMM.exec(s)!;
  return Number(m[1]) * 60 + Number(m[2]);
}

/** A valid window, or a one-line reason. */
export function parseWindow(v: unknown): MaintenanceWindow | string {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return '"window" must be an object { "start": "HH:MM", "end": "HH:MM", "tz"?: "UTC" }';
  const w = v as Record<string, unknown>;
  if (typeof w.start !== 'string' || !HHMM.test(w.start)) return '"window.start" must be "HH:MM" (00:00..23:59)';
  if (typeof w.end !== 'string' || !HHMM.test(w.end)) return '"window.end" must be "HH:MM" (00:00..23:59)';
  if (w.start === w.end) return '"window.start" and "window.end" must differ';
  const tz = w.tz === undefined ? 'UTC' : w.tz;
  if (typeof tz !== 'string' || tz.length > 64) return '"window.tz" must be "UTC", an offset like "+02:00" or an IANA zone name';
  if (tz !== 'UTC' && !OFFSET.test(tz)) {
    try { new Intl.DateTimeFormat('en-GB', { timeZone: tz }); } catch { return `"window.tz": unknown time zone ${tz}`; }
  }
  return { start: w.start, end: w.end, tz };
}

/** Minutes after local midnight in `tz` at `now`. */
export function localMinutes(now: number, tz: string): number {
  if (tz === 'UTC') { const d = new Date(now); return d.getUTCHours() * 60 + d.getUTCMinutes(); }
  const off = OFFSET.exec(tz);
  if (off) {
    const shift = (off[1] === '-' ? -1 : 1) * (Number(off[2]) * 60 + Number(off[3]));
    const d = new Date(now + shift * 60_000);
    return d.getUTCHours() * 60 + d.getUTCMinutes();
  }
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(now));
  const h = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const m = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  return (h % 24) * 60 + m;
}

export function inWindow(w: MaintenanceWindow, now: number): boolean {
  const t = localMinutes(now, w.tz);
  const s = minutes(w.start), e = minutes(w.end);
  return s < e ? t >= s && t < e : t >= s || t < e;
}
