// The DM server for bench/server.ts, in its own process so that the emulated devices' CPU is
// not charged to the server: startServer with SQLite in a temp dir, N device accounts, and an
// IPC command to queue the next session's command for a device.
// Messages: parent -> { setup: { devices: string[] } } | { queue: deviceId, id } | { stop: true };
//           child  -> { ready: dmUrl } | { queued: id } | { error: string }.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server/app.js';
import { getCmd } from '../src/server/scomo/plan.js';
import { SERVER_NONCE, CLIENT_NONCE, SECRETS } from './server-accounts.js';

let srv: RunningServer | undefined;
const dir = mkdtempSync(join(tmpdir(), 'scomo-bench-server-'));
const send = (m: unknown): void => { process.send?.(m); };

process.on('message', (m: { setup?: { devices: string[] }; queue?: string; id?: number; stop?: boolean }) => {
  (async () => {
    if (m.setup) {
      srv = await startServer({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'data') });
      for (const d of m.setup.devices) {
        await srv.addAccount({
          deviceId: d, clientUser: d, clientSecret: SECRETS.client, serverId: SECRETS.serverId, serverSecret: SECRETS.server,
          authType: 'md5', serverAuthType: 'md5', serverNonce: SERVER_NONCE, clientNonce: CLIENT_NONCE,
        });
      }
      send({ ready: srv.dmUrl });
    } else if (m.queue !== undefined) {
      await srv!.dm.queueCommands(m.queue, [getCmd('./DevInfo/Mod')]);
      send({ queued: m.id });
    } else if (m.stop) {
      await srv?.close();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  })().catch((e: unknown) => send({ error: String(e) }));
});
