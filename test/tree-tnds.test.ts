import test from 'ava';
import { readXml } from '../src/codec/xml-reader.js';
import { writeWbxml } from '../src/codec/wbxml-writer.js';
import { LOCAL_ID } from '../src/tree/tree.js';
import { TNDS_TYPE } from '../src/tree/tnds.js';
import { exportDdf } from '../src/tree/ddf.js';
import { FakeStore, dump, makeTree } from './helpers/tree-setup.js';

const S = 'srv1';
const META = { format: 'xml', type: TNDS_TYPE };

const EMAIL = `<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>
  <Node><NodeName>E-Mail</NodeName>
    <RTProperties><Format><node/></Format><Type><DDFName>com.operatorX.dm/1.0/EMail</DDFName></Type></RTProperties>
    <Node><NodeName>POP3</NodeName>
      <Node><NodeName>POPServer</NodeName><RTProperties><Format><chr/></Format><Type><MIME>text/plain</MIME></Type></RTProperties><Value>mail.operatorx.com</Value></Node>
      <Node><NodeName>Port</NodeName><RTProperties><ACL>Get=*&amp;Replace=srv1</ACL><Format><int/></Format><Type><MIME>text/plain</MIME></Type></RTProperties><Value>110</Value></Node>
    </Node>
  </Node>
</MgmtTree>`;

test('Add with a TNDS object creates the subtree with formats, types and ACLs', (t) => {
  const tree = makeTree();
  t.is(tree.add(S, './OperatorX', META, EMAIL), 200);
  t.is(tree.get(S, './OperatorX/E-Mail?prop=Type').items![0].data, 'com.operatorX.dm/1.0/EMail');
  t.is(tree.get(S, './OperatorX/E-Mail/POP3/POPServer').items![0].data, 'mail.operatorx.com');
  t.is(tree.get(S, './OperatorX/E-Mail/POP3/Port').items![0].meta!.format, 'int');
  t.is(tree.get(S, './OperatorX/E-Mail/POP3/Port?prop=ACL').items![0].data, 'Get=*&Replace=srv1');
});

test('TNDS import is all or nothing', (t) => {
  const store = new FakeStore();
  const tree = makeTree({ store });
  const before = dump(tree);
  const bad = EMAIL.replace('<Value>110</Value>', '<Value>not-an-int</Value>');
  t.is(tree.add(S, './OperatorX', META, bad), 400);
  t.is(dump(tree), before);
  t.is(store.txs.length, 0);
  t.is(tree.add(S, './OperatorX', META, '<MgmtTree><Node>'), 400);
  t.is(tree.add(S, './OperatorX', META, '<SyncML/>'), 415);
  t.is(tree.add(S, './OperatorX', META, EMAIL.replace('<chr/>', '<weird/>')), 415);
  t.is(dump(tree), before);
});

test('Replace with TNDS updates values of an existing subtree and adds missing nodes', (t) => {
  const tree = makeTree();
  tree.add(S, './OperatorX', META, EMAIL);
  const upd = `<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>E-Mail</NodeName>
    <Node><NodeName>POP3</NodeName><Node><NodeName>POPServer</NodeName><Value>pop.new</Value></Node>
    <Node><NodeName>User</NodeName><Value>bob</Value></Node></Node></Node></MgmtTree>`;
  t.is(tree.replace(S, './OperatorX', META, upd), 200);
  t.is(tree.get(S, './OperatorX/E-Mail/POP3/POPServer').items![0].data, 'pop.new');
  t.is(tree.get(S, './OperatorX/E-Mail/POP3/User').items![0].data, 'bob');
});

test('TNDS export / import round trip (XML and WBXML)', (t) => {
  const tree = makeTree();
  tree.add(S, './OperatorX', META, EMAIL);
  tree.add(LOCAL_ID, './OperatorX/E-Mail/Bin', { format: 'bin' }, new Uint8Array([0xff, 0, 1]));
  const x = tree.get(LOCAL_ID, './OperatorX/E-Mail?list=TNDS+ACL').items![0].data as string;
  const snapshot = dump(tree);
  t.is(tree.delete(LOCAL_ID, './OperatorX/E-Mail'), 200);
  t.is(tree.add(LOCAL_ID, '.', META, x), 200, 'absolute Path in the document');
  // Binary values travel as b64 text in XML, so only that leaf differs.
  const strip = (s: string) => s.split('\n').filter((l) => !l.includes('/Bin|')).join('\n');
  t.is(strip(dump(tree)), strip(snapshot));
  t.is(tree.get(S, './OperatorX/E-Mail/Bin').items![0].data, '/wAB');
  // WBXML form of the same document.
  const el = readXml(EMAIL);
  t.true(el.ok);
  const wb = writeWbxml((el as any).value, { publicId: 0x1202 } as any);
  t.true(wb.ok, JSON.stringify(!wb.ok && wb.error));
  if (wb.ok) {
    const fresh = makeTree();
    t.is(fresh.add(S, './Op2', { format: 'xml', type: 'application/vnd.syncml.dmtnds+wbxml' }, wb.value), 200);
    t.is(fresh.get(S, './Op2/E-Mail/POP3/Port').items![0].data, '110');
  }
});

test('DDF export of the whole tree', (t) => {
  const tree = makeTree();
  tree.define('./Ops', 'node', 'urn:x:ops');
  tree.mount('./Ops', { exec: () => 200 });
  tree.add(S, './Dyn/leaf', { format: 'int' }, '3');
  const x = exportDdf(tree)!;
  t.true(x.startsWith('<?xml version="1.0" encoding="UTF-8"?>'));
  t.true(x.includes('<!DOCTYPE MgmtTree PUBLIC "-//OMA//DTD-DM-DDF 1.2//EN" "http://www.openmobilealliance.org/tech/DTD/DM_DDF-V1_2.dtd">'));
  const doc = readXml(x);
  t.true(doc.ok);
  const root = (doc as any).value;
  t.is(root.name, 'MgmtTree');
  t.is(root.ns, 'syncml:dmddf1.2');
  t.true(x.includes('<Man>Acme</Man>'));
  t.regex(x, /<NodeName>DevInfo<\/NodeName>\s*<DFProperties>\s*<AccessType>\s*<Get\/>\s*<\/AccessType>\s*<DFFormat>\s*<node\/>\s*<\/DFFormat>\s*<Scope>\s*<Permanent\/>\s*<\/Scope>\s*<DFType>\s*<DDFName>urn:oma:mo:oma-dm-devinfo:1.0<\/DDFName>/);
  t.regex(x, /<NodeName>leaf<\/NodeName>\s*<DFProperties>\s*<AccessType>\s*<Add\/>\s*<Delete\/>\s*<Get\/>\s*<Replace\/>\s*<\/AccessType>\s*<DFFormat>\s*<int\/>[\s\S]*?<Dynamic\/>[\s\S]*?<MIME>text\/plain<\/MIME>/);
  t.regex(x, /<NodeName>Ops<\/NodeName>\s*<DFProperties>\s*<AccessType>\s*<Exec\/>\s*<Get\/>/);
});
