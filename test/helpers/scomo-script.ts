// A scripted DM client session against the SCOMO server's DmServer: opens a session (Alert 1201
// + DevInfo, Basic credentials), answers every server command with `answer`, and returns what
// the server sent. Used where the tests need exact control of statuses, results and alerts.
import type { Command, Item, SyncML } from '../../src/codec/model.js';
import type { DmServer } from '../../src/server/dm/server.js';
import { ScriptClient, DEV, alert, basic, commandsOf, devInfoReplace, results, status } from './server-fixtures.js';

export interface Answer { code: number; results?: Item[] }

let seq = 0x100;

export async function scriptedSession(dm: DmServer, opts: {
  extra?: Command[];
  answer?: (c: Command) => Answer;
  deviceId?: string;
  encoding?: 'xml' | 'wbxml';
} = {}): Promise<{ seen: Command[]; replies: SyncML[] }> {
  const c = new ScriptClient(dm, opts.encoding ?? 'xml', opts.deviceId ?? DEV, (seq++).toString(16).toUpperCase());
  const answer = opts.answer ?? ((cmd: Command): Answer => ({ code: cmd.kind === 'Exec' ? 202 : 200 }));
  const replies: SyncML[] = [];
  const seen: Command[] = [];
  let reply = await c.send(c.build([alert(1201), devInfoReplace(), ...(opts.extra ?? [])], { cred: basic('dev-user', 'dev-secret') }));
  replies.push(reply);
  for (let round = 0; round < 20; round++) {
    const cmds = commandsOf(reply).filter((x) => !(x.kind === 'Alert' && x.code === 1222));
    if (cmds.length === 0) break;
    seen.push(...cmds);
    const out: Command[] = [status(reply.hdr.msgID, '0', 'SyncHdr', 200)];
    for (const cmd of cmds) {
      const a = answer(cmd);
      out.push(status(reply.hdr.msgID, cmd.cmdID, cmd.kind, a.code));
      if (a.results) out.push(results(reply.hdr.msgID, cmd.cmdID, a.results));
    }
    reply = await c.send(c.build(out));
    replies.push(reply);
  }
  return { seen, replies };
}

export function finalAlert(correlator: string, resultCode: number, identifier: string, source = './SCOMO/Download/x/Operations/DownloadInstall', target = './SCOMO/Inventory/Deployed/x'): Command {
  return alert(1226, [{
    source: { locURI: source }, target: { locURI: target },
    meta: { type: 'urn:oma:at:scomo:1.0:OperationComplete', format: 'xml' },
    data: `<ResultCode>${resultCode}</ResultCode><Identifier>${identifier}</Identifier>`,
  }], correlator);
}

export function requestAlert(name: string, version?: string): Command {
  return alert(1226, [{
    source: { locURI: './SCOMO' }, meta: { type: 'org.openscomo.request-component', format: 'xml' },
    data: `<Request><Name>${name}</Name>${version ? `<Version>${version}</Version>` : ''}</Request>`,
  }]);
}

/** StructData items of a SCOMO subtree at `root` with the given deployed components. */
export function treeItems(root: string, deployed: { node: string; id: string; name: string; version: string; active: boolean }[], withRootType = true): Item[] {
  const items: Item[] = [
    { source: { locURI: '.' }, meta: { format: 'node' } },
    { source: { locURI: './DevInfo' }, meta: { format: 'node' } },
    { source: { locURI: root }, meta: { format: 'node', ...(withRootType ? { type: 'urn:oma:mo:oma-scomo:1.0' } : {}) } },
    { source: { locURI: root + '/Inventory' }, meta: { format: 'node' } },
    { source: { locURI: root + '/Inventory/Deployed' }, meta: { format: 'node' } },
  ];
  for (const d of deployed) {
    const b = root + '/Inventory/Deployed/' + d.node;
    items.push({ source: { locURI: b }, meta: { format: 'node' } });
    for (const [k, v] of [['ID', d.id], ['Name', d.name], ['Version', d.version], ['State', d.active ? '20' : '10'], ['Status', '10']]) {
      items.push({ source: { locURI: b + '/' + k }, meta: { format: k === 'State' || k === 'Status' ? 'int' : 'chr' }, data: v });
    }
  }
  return items;
}

export { DEV };

/** The first item's target of a command ('' when it has none). */
export const targetOf = (c: Command): string => ('items' in c ? c.items[0]?.target?.locURI ?? '' : '');

/** Polls `f` until it holds; throws after `ms`. */
export async function until(f: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Job planning is asynchronous: waits until the job's commands are in the device's queue. */
export async function queued(e: { srv: { storage: { entriesByTag(tag: string): Promise<unknown[]> | unknown[] } } }, jobId: string): Promise<void> {
  await until(async () => (await e.srv.storage.entriesByTag(jobId)).length === 1, 'entry of ' + jobId);
}
