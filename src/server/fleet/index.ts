// One call from "a server URL" to "a booted, provisioned simulated fleet": what `scomo simulate`,
// the campaign tests and the fleet benchmark share.
import { startFleet, RunningFleet, FleetOptions } from './simulator.js';
import { fleetSpecs, provisionFleet, SIM_TAG } from './provision.js';

export { startFleet, SIM_TAG };
export type { RunningFleet };
export type SimulatedFleet = RunningFleet & { bootOk: boolean };

export interface SimulateOptions {
  /** Server base URL (REST API and, with dmPath, the DM endpoint). */
  server: string;
  token: string;
  devices: number;
  prefix?: string;
  dmPath?: string;
  auth?: 'basic' | 'md5' | 'hmac';
  dataDir?: string;
  tags?: string[];
  /** Several server processes: device i talks DM to dmUrls[i % n] (the REST API stays on `server`). */
  dmUrls?: string[];
  fleet?: Partial<Omit<FleetOptions, 'dmUrl' | 'devices'>>;
}

export async function simulateFleet(o: SimulateOptions): Promise<SimulatedFleet> {
  const base = o.server.replace(/\/+$/, '');
  const specs = fleetSpecs(o.devices, o.prefix ?? 'sim-', o.auth ?? 'md5', o.dataDir);
  const fleet = await startFleet({ dmUrl: base + (o.dmPath ?? '/dm'), devices: specs, ...(o.dmUrls ? { dmUrls: o.dmUrls } : {}), ...o.fleet });
  try {
    await provisionFleet(base, o.token, specs, { host: o.fleet?.notifyHost ?? '127.0.0.1', ports: fleet.devices.map((d) => d.notifyPort) }, o.tags ?? [SIM_TAG]);
    const bootOk = await fleet.boot();
    return Object.assign(fleet, { bootOk });
  } catch (e) {
    await fleet.close();
    throw e;
  }
}
