// The client engine against the real management tree (src/tree), not the fake: DevInfo in
// package 1, ACL-checked commands, Atomic rollback and a large object in and back out.
import test from 'ava';
import { createClientSession } from '../src/dm/client-session.js';
import type { Command, Item, Results, SyncML } from '../src/codec/model.js';
import { makeTree } from './helpers/tree-setup.js';
import { baseConfig, enc, hdrStatus, item, sent, serverMsg, status, statusMap } from './helpers/dm-script.js';

for (const encoding of ['xml', 'wbxml'] as const) {
  test(`session against the real tree (${encoding})`, (t) => {
    const tree = makeTree();
    const s = createClientSession(baseConfig({ encoding }), tree);
    const p1 = sent(s.start()).msg;
    const rep = p1.body.commands[1] as Command & { kind: 'Replace' };
    t.is(rep.items.find((i) => i.source!.locURI === './DevInfo/Mod')!.data, 'Rocket');
    const sid = p1.hdr.sessionID;
    const r = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: 1, commands: [
      hdrStatus('1', 212),
      { kind: 'Add', cmdID: '2', items: [item('./Vendor/App/Level', '3', { format: 'int' })] },
      { kind: 'Replace', cmdID: '3', items: [item('./Vendor/App/Level', '4')] },
      { kind: 'Get', cmdID: '4', items: [item('./Vendor?list=Struct')] },
      { kind: 'Atomic', cmdID: '5', commands: [
        { kind: 'Add', cmdID: '6', items: [item('./Vendor/App/Tmp', 'x', { format: 'chr' })] },
        { kind: 'Replace', cmdID: '7', items: [item('./DevInfo/Nope', 'x')] },
      ] },
      { kind: 'Get', cmdID: '8', items: [item('./Vendor/App/Tmp')] },
      { kind: 'Replace', cmdID: '9', items: [item('./DevInfo/Man', 'Evil')] },
    ] }), encoding)));
    const st = statusMap(r.msg);
    t.deepEqual(st['2'], ['Add:200']);
    t.deepEqual(st['3'], ['Replace:200']);
    t.deepEqual(st['4'], ['Get:200']);
    t.deepEqual(st['5'], ['Atomic:507']);
    t.deepEqual(st['6'], ['Add:216']);
    t.deepEqual(st['8'], ['Get:404'], 'rolled back');
    t.true(st['9']![0] !== 'Replace:200', 'DevInfo is not writable by a server: ' + st['9']);
    t.is(tree.get('srv', './Vendor/App/Level').items![0].data, '4');
  });

  test(`large object into the real tree and back out in chunks (${encoding})`, (t) => {
    const tree = makeTree();
    const s = createClientSession(baseConfig({ encoding, maxMsgSize: 32768 }), tree);
    const sid = sent(s.start()).msg.hdr.sessionID;
    const size = 200 * 1024;
    const text = Array.from({ length: size }, (_, i) => String.fromCharCode(97 + (i * 7) % 26)).join('');
    const chunk = 25000;
    let msgID = 1;
    for (let off = 0; off < size; off += chunk) {
      const more = off + chunk < size;
      const it: Item = { target: { locURI: './Vendor/Blob' }, data: text.slice(off, off + chunk) };
      if (off === 0) it.meta = { size: String(size), format: 'chr' };
      if (more) it.moreData = true;
      const cmds: Command[] = msgID === 1 ? [hdrStatus('1', 212)] : [];
      cmds.push({ kind: 'Add', cmdID: '5', items: [it] });
      const m = sent(s.receive(enc(serverMsg({ sessionID: sid, msgID: msgID++, final: !more, commands: cmds }), encoding))).msg;
      t.deepEqual(statusMap(m)['5'], [more ? 'Add:213' : 'Add:200']);
    }
    // Get it back with a server that takes 8 KB messages.
    let step = s.receive(enc(serverMsg({ sessionID: sid, msgID: msgID++, meta: { maxMsgSize: '8192' }, commands: [{ kind: 'Get', cmdID: '2', items: [item('./Vendor/Blob')] }] }), encoding));
    const parts: string[] = [];
    let b64 = false;
    let last: SyncML | null = null;
    for (let guard = 0; step.kind === 'send' && guard < 100; guard++) {
      t.true(step.body.length <= 8192);
      last = sent(step).msg;
      const rs = last.body.commands.filter((c) => c.kind === 'Results') as Results[];
      for (const r of rs) {
        const d = r.items[0].data;
        if (parts.length === 0) b64 = r.items[0].meta?.format === 'b64';
        parts.push(typeof d === 'string' ? d : Buffer.from(d!).toString('utf8'));
      }
      if (last.body.final) break;
      const cmds: Command[] = [hdrStatus(last.hdr.msgID, 200)];
      if (rs.length) cmds.push(status(last.hdr.msgID, rs[0].cmdID, 'Results', 213, '3'));
      cmds.push({ kind: 'Alert', cmdID: '4', code: 1222, items: [] });
      step = s.receive(enc(serverMsg({ sessionID: sid, msgID: msgID++, final: false, commands: cmds }), encoding));
    }
    t.true(parts.length > 20);
    const got = b64 ? Buffer.from(parts.join(''), 'base64').toString('utf8') : parts.join('');
    t.true(got === text, 'the object comes back byte for byte');
  });
}
