// Wire cost of a typical DM session, XML vs WBXML: dm.session.round_trips and
// dm.session.bytes.<xml|wbxml>, plus the session that reports the outcome
// (dm.report_session.*). Measured end to end: the real DM server with SQLite and the package
// repository on loopback, and the emulated Node device (targets/node/device.ts, the real agent).
//
// The typical session: the device opens a client-initiated session (Alert 1201 + DevInfo) while
// the server has queued: Get of 3 nodes, Replace of 1 node, and a SCOMO alternate-download
// DownloadInstall (Add Download/<X> + 5 leaves, Exec with a Correlator, as src/server/scomo/plan.ts
// builds it). The report session is the later client-initiated session carrying the final
// Generic Alert 1226. Bytes = DM message bodies both ways (HTTP headers not counted).
import { startDevice } from '../targets/node/device.js';
import { alternateDownload, getCmd } from '../src/server/scomo/plan.js';
import type { Command } from '../src/codec/model.js';
import { makeAppPackage } from '../test/helpers/packages.js';
import { startBenchRig, sessionsOf, resultCodeOf, ACCOUNT } from './e2e-rig.js';
import type { BenchOptions, BenchOutput } from './run.js';

/** The server side of the typical session. */
export function typicalCommands(pkg: { pkgId: string; url: string }, correlator: string): Command[] {
  // The agent's DM account is ./DMAcc/scomo (src/agent/agent.ts); its server may Replace its Name.
  const replace: Command = { kind: 'Replace', cmdID: '0', items: [{ target: { locURI: './DMAcc/scomo/Name' }, meta: { format: 'chr' }, data: 'Bench DM server' }] };
  return [
    getCmd('./DevInfo/Mod'),
    getCmd('./DevDetail/FwV'),
    getCmd('./DevDetail/SwV'),
    replace,
    ...alternateDownload('./SCOMO', 'bench1', { pkgId: pkg.pkgId, name: 'bench-app', version: '1.0.0', type: 'application/x-tar', url: pkg.url }, 'DownloadInstall', correlator).commands,
  ];
}

export interface SessionCost { roundTrips: number; bytes: number; up: number; down: number; reportRoundTrips: number; reportBytes: number; statuses: number[] }

export async function measureTypicalSession(encoding: 'xml' | 'wbxml'): Promise<SessionCost> {
  const rig = await startBenchRig('bench-dm-' + encoding);
  try {
    const pkg = await rig.upload(makeAppPackage({ id: 'bench-app', name: 'Bench App', version: '1.0.0' }), 'bench-app', '1.0.0');
    const device = await startDevice({
      server: rig.server.dmUrl, id: rig.deviceId, clientUser: rig.deviceId, clientSecret: ACCOUNT.clientSecret,
      serverId: ACCOUNT.serverId, serverSecret: ACCOUNT.serverSecret, auth: 'basic', encoding,
      dataDir: rig.dir + '/device', runtime: 'node',
    });
    try {
      await device.waitIdle(30_000); // the boot session
      const before = rig.exchanges.length;
      const h = await rig.server.dm.queueCommands(rig.deviceId, typicalCommands(pkg, 'bench-c1'));
      device.agent.connect();
      const done = await h.done;
      const statuses = (done.outcomes ?? []).map((o) => o.status);
      if (statuses.slice(0, 4).some((c) => c !== 200)) throw new Error('typical session: unexpected statuses ' + statuses.join(','));
      const alert = await rig.waitAlert('bench-c1', 60_000);
      if (resultCodeOf(alert) !== 1200) throw new Error('DownloadInstall did not succeed: ' + resultCodeOf(alert));
      await device.waitIdle(30_000);
      const sessions = sessionsOf(rig.exchanges.slice(before));
      if (sessions.length < 2) throw new Error(`expected a management and a report session, saw ${sessions.length}`);
      const [s, report] = sessions;
      return {
        roundTrips: s.roundTrips, bytes: s.bytes, up: s.up, down: s.down,
        reportRoundTrips: report.roundTrips, reportBytes: report.bytes,
        statuses,
      };
    } finally {
      await device.close();
    }
  } finally {
    await rig.close();
  }
}

export async function run(_opts: BenchOptions): Promise<BenchOutput> {
  const out: BenchOutput = {};
  const xml = await measureTypicalSession('xml');
  const wbxml = await measureTypicalSession('wbxml');
  const what = 'client-initiated session (Alert 1201 + DevInfo, basic auth) answering Get x3, Replace x1, Add Download/<X> + 5 leaves, Exec DownloadInstall; real server + SQLite + Node device on loopback';
  out['dm.session.round_trips'] = {
    value: xml.roundTrips,
    how: `HTTP POSTs in the ${what} (XML; WBXML: ${wbxml.roundTrips}); statuses ${xml.statuses.join(',')}`,
  };
  for (const [enc, c] of [['xml', xml], ['wbxml', wbxml]] as const) {
    out[`dm.session.bytes.${enc}`] = {
      value: c.bytes, unit: 'B',
      how: `DM message bodies both ways (${c.up} up + ${c.down} down, HTTP headers excluded) of that session in ${enc.toUpperCase()}`,
    };
    out[`dm.report_session.bytes.${enc}`] = {
      value: c.reportBytes, unit: 'B',
      how: `DM message bodies both ways of the later session carrying the DownloadInstall Generic Alert 1226 (${c.reportRoundTrips} round trips), ${enc.toUpperCase()}`,
    };
  }
  out['dm.report_session.round_trips'] = { value: xml.reportRoundTrips, how: `HTTP POSTs of the session reporting the DownloadInstall outcome (Generic Alert 1226), XML (WBXML: ${wbxml.reportRoundTrips})` };
  return out;
}
