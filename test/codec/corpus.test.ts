// Every corpus message (test/fixtures/corpus) must survive XML -> model -> XML -> model and
// model -> WBXML -> model unchanged, and XML and WBXML must carry the same model.
import test from 'ava';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decodeMessage, encodeMessage, SyncML, Command } from '../../src/codec/index.js';

const dir = fileURLToPath(new URL('../fixtures/corpus/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.xml')).sort();

function load(f: string): SyncML {
  const r = decodeMessage(new Uint8Array(readFileSync(dir + f)));
  if (!r.ok) throw new Error(`${f}: ${r.error.kind} ${r.error.message} at ${r.error.line}:${r.error.column}`);
  if (r.value.encoding !== 'xml') throw new Error('not detected as XML');
  return r.value.msg;
}

function kinds(cmds: Command[], out: string[] = []): string[] {
  for (const c of cmds) {
    out.push(c.kind === 'Alert' ? `Alert:${c.code}` : c.kind === 'Status' ? `Status:${c.code}` : c.kind);
    if (c.kind === 'Atomic' || c.kind === 'Sequence') kinds(c.commands, out);
  }
  return out;
}

test('the corpus has at least 30 messages', (t) => {
  t.true(files.length >= 30, `${files.length} files`);
});

test('the corpus covers every DM command, the alert codes and the auth statuses', (t) => {
  const seen = new Set<string>();
  for (const f of files) for (const k of kinds(load(f).body.commands)) seen.add(k);
  const need = ['Add', 'Replace', 'Delete', 'Copy', 'Get', 'Exec', 'Atomic', 'Sequence', 'Results',
    'Alert:1100', 'Alert:1101', 'Alert:1102', 'Alert:1103', 'Alert:1104', 'Alert:1200', 'Alert:1201',
    'Alert:1222', 'Alert:1223', 'Alert:1224', 'Alert:1225', 'Alert:1226',
    'Status:200', 'Status:202', 'Status:212', 'Status:213', 'Status:401', 'Status:407', 'Status:424'];
  t.deepEqual(need.filter((k) => !seen.has(k)), []);
});

for (const f of files) {
  test(`corpus ${f}: XML -> model -> XML -> model`, (t) => {
    const m = load(f);
    for (const opts of [{}, { indent: true, doctype: true }, { declaration: false }]) {
      const x = encodeMessage(m, 'xml', opts);
      if (!x.ok) return t.fail(x.error.message);
      const back = decodeMessage(x.value);
      t.deepEqual(back, { ok: true, value: { msg: m, encoding: 'xml' } });
    }
  });

  test(`corpus ${f}: model -> WBXML -> model, and XML and WBXML agree`, (t) => {
    const m = load(f);
    const w = encodeMessage(m, 'wbxml');
    if (!w.ok) return t.fail(w.error.message);
    t.true(w.value[0] <= 3);
    const back = decodeMessage(w.value);
    t.deepEqual(back, { ok: true, value: { msg: m, encoding: 'wbxml' } });
    // WBXML -> model -> XML reads back as the original XML's model.
    if (!back.ok) return;
    const x = encodeMessage(back.value.msg, 'xml');
    t.deepEqual(x.ok && decodeMessage(x.value), { ok: true, value: { msg: m, encoding: 'xml' } });
  });
}

test('corpus details: CDATA and escaped SCOMO alert data decode to the same text', (t) => {
  const a = load('pkg1-scomo-generic-alert-1226-cdata.xml').body.commands[2];
  const b = load('pkg3-scomo-generic-alert-1226-escaped.xml').body.commands[2];
  t.is(a.kind === 'Alert' && a.items[0].data, '<ResultCode>1200</ResultCode><Identifier>com.example.app1</Identifier>');
  t.is(b.kind === 'Alert' && b.items[0].data, '<ResultCode>1200</ResultCode><Identifier>com.example.app1</Identifier>');
  t.is(a.kind === 'Alert' && a.correlator, 'job-0042');
  const e = load('pkg3-results-tnds-escaped.xml').body.commands[3];
  const c = load('pkg3-results-tnds-cdata.xml').body.commands[2];
  t.is(e.kind === 'Results' && e.items[0].data, c.kind === 'Results' ? c.items[0].data : 'x');
  t.regex(String(e.kind === 'Results' && e.items[0].data), /^<MgmtTree xmlns="syncml:dmddf1\.2">.*&quot;beta&quot;/);
});

test('corpus details: UTF-8 4-byte characters, whitespace in leaves and prefixed MetInf', (t) => {
  const r = load('pkg3-utf8-emoji-cjk.xml').body.commands[2];
  if (r.kind !== 'Results') return t.fail();
  t.is(r.items[0].data, 'Zoë Ångström — 東京 🚀📦 😀😀');
  t.is(r.items[1].data, '  leading and trailing spaces, tab\tand line\n    break kept  ');
  t.is(r.items[2].source?.locURI, './DevInfo/Ext/Emoji😀Node');
  const p = load('pkg2-prefixed-metinf-comments-pi.xml');
  t.deepEqual(p.hdr.meta, { maxMsgSize: '8192', maxObjSize: '65536' });
  const rep = p.body.commands[1];
  t.deepEqual(rep.kind === 'Replace' && rep.items[0].meta, { format: 'chr', type: 'text/plain' });
  t.is(rep.kind === 'Replace' && rep.items[0].data, 'Quoted "text" \'here\' <ok>');
});

test('corpus details: auth challenge, large object chunk and header fields', (t) => {
  const c = load('pkg2-challenge-401-md5.xml').body.commands[0];
  t.deepEqual(c.kind === 'Status' && c.chal, { meta: { type: 'syncml:auth-md5', format: 'b64', nextNonce: 'Tm9uY2U=' } });
  const md5 = load('pkg1-client-init-md5.xml').hdr;
  t.deepEqual(md5.cred, { meta: { format: 'b64', type: 'syncml:auth-md5' }, data: 'Zz6EivR3yeaaENcRN6lpAQ==' });
  t.is(md5.source.locName, 'Bruce2');
  const lo = load('pkg2-large-object-chunk1.xml');
  t.false(lo.body.final);
  const add = lo.body.commands[1];
  t.true(add.kind === 'Add' && add.items[0].moreData === true);
  t.is(add.kind === 'Add' && add.items[0].meta?.size, '2000');
  t.is(load('pkg2-212-next-nonce-respuri.xml').hdr.respURI, 'https://dm.example.com/dm?s=2A&sid=7f3a');
  const seq = load('pkg2-sequence-nested-atomic.xml').body.commands[1];
  t.deepEqual(seq.kind === 'Sequence' && seq.commands.map((x) => x.kind), ['Alert', 'Atomic', 'Exec']);
});

// An independent XML parser (libwbxml's, built on expat) must accept what our XML writer emits.
const XML2WBXML = ['/usr/bin/xml2wbxml', '/usr/local/bin/xml2wbxml'].find((p) => existsSync(p));
test('our XML output of every corpus message is accepted by libwbxml xml2wbxml and keeps its commands', (t) => {
  if (!XML2WBXML) return t.pass('xml2wbxml not installed (Debian libwbxml2-utils); skipped');
  const shape = (m: SyncML) => [m.hdr.sessionID, m.hdr.msgID, m.hdr.target.locURI, m.body.final, kinds(m.body.commands).join(' ')];
  for (const f of files) {
    const m = load(f);
    for (const opts of [{}, { doctype: true, indent: true }]) {
      const x = encodeMessage(m, 'xml', opts);
      if (!x.ok) return t.fail(x.error.message);
      let out: Buffer;
      try {
        out = execFileSync(XML2WBXML, ['-o', '-', '-'], { input: x.value, stdio: ['pipe', 'pipe', 'pipe'], timeout: 10000 });
      } catch (e) {
        return t.fail(`${f}: xml2wbxml rejected our XML: ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
      }
      const back = decodeMessage(new Uint8Array(out));
      if (!back.ok) return t.fail(`${f}: ${back.error.message}`);
      t.deepEqual(shape(back.value.msg), shape(m), f);
    }
  }
});
