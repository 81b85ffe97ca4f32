// Provisioning a simulated fleet over the REST API (POST /api/devices, in batches), and the
// identities of the fleet (kept in `<data>/fleet.json` so a re-run reuses them).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimDeviceSpec } from './simulator.js';

export const SIM_TAG = 'sim';
const BATCH = 1000;

export interface FleetIdentity {
  serverId: string;
  serverSecret: string;
  clientSecret: string;
  auth: 'basic' | 'md5' | 'hmac';
}

/** N device specs `<prefix>0..N-1` sharing one set of secrets (fresh ones, or those saved in `dataDir`). */
export function fleetSpecs(n: number, prefix: string, auth: FleetIdentity['auth'], dataDir?: string): SimDeviceSpec[] {
  let id: FleetIdentity | undefined;
  const file = dataDir ? join(dataDir, 'fleet.json') : undefined;
  if (file && existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as FleetIdentity;
    if (saved.auth === auth && typeof saved.clientSecret === 'string') id = saved;
  }
  if (!id) {
    id = { serverId: 'scomo-server', serverSecret: randomBytes(12).toString('hex'), clientSecret: randomBytes(12).toString('hex'), auth };
    if (file) { mkdirSync(dataDir!, { recursive: true }); writeFileSync(file, JSON.stringify(id, null, 1) + '\n'); }
  }
  const width = String(Math.max(0, n - 1)).length;
  const out: SimDeviceSpec[] = [];
  for (let i = 0; i < n; i++) {
    const deviceId = prefix + String(i).padStart(width, '0');
    out.push({ deviceId, clientUser: deviceId, clientSecret: id.clientSecret, serverId: id.serverId, serverSecret: id.serverSecret, auth });
  }
  return out;
}

/**
 * Creates (or replaces) the accounts with their package 0 address and the `sim` tag. A new
 * device's SRVCRED nonce is the zero nonce (package 0 is signed with it until it issues another).
 */
export async function provisionFleet(apiBase: string, token: string, specs: SimDeviceSpec[], notify: { host: string; ports: number[] }, tags: string[] = [SIM_TAG]): Promise<void> {
  for (let i = 0; i < specs.length; i += BATCH) {
    const devices = specs.slice(i, i + BATCH).map((s, k) => ({
      deviceId: s.deviceId, clientUser: s.clientUser, clientSecret: s.clientSecret, serverId: s.serverId, serverSecret: s.serverSecret,
      authType: s.auth, clientNonce: 'AAAAAA==', notifyHost: notify.host, notifyPort: notify.ports[i + k], tags,
    }));
    const url = apiBase.replace(/\/+$/, '') + '/api/devices';
    let r: Response;
    try {
      r = await fetch(url, {
        method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ devices, replace: true }),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`provisioning failed: cannot reach ${url} (${cause?.code ?? cause?.message ?? (e as Error).message})`);
    }
    if (r.status !== 201) {
      const text = await r.text();
      let msg = text;
      try { msg = (JSON.parse(text) as { error?: string }).error ?? text; } catch { /* not JSON */ }
      throw new Error(`provisioning failed: HTTP ${r.status} ${msg}`);
    }
  }
}
