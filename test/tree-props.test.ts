import test from 'ava';
import { LOCAL_ID } from '../src/tree/tree.js';
import { isoStamp } from '../src/tree/format.js';
import { makeTree } from './helpers/tree-setup.js';

const S = 'srv1';

test('?prop= Get of every property', (t) => {
  const tree = makeTree({ clock: () => 994869497000 });
  tree.add(S, './A/L', { format: 'int', type: 'text/plain' }, '123');
  const p = (u: string) => tree.get(S, u).items![0].data;
  t.is(p('./A/L?prop=ACL'), '');
  t.is(p('./A/L?prop=Format'), 'int');
  t.is(p('./A/L?prop=Name'), 'L');
  t.is(p('./A/L?prop=Size'), '3');
  t.is(p('./A/L?prop=Title'), '');
  t.is(p('./A/L?prop=TStamp'), '20010711T163817Z');
  t.is(p('./A/L?prop=Type'), 'text/plain');
  t.is(p('./A/L?prop=VerNo'), '1');
  t.is(p('./DevDetail?prop=Type'), 'urn:oma:mo:oma-dm-devdetail:1.0');
  t.is(tree.get(S, './A?prop=Size').code, 406);
  t.is(tree.get(S, './A/L?prop=Bogus').code, 406);
  t.is(tree.get(S, './A/L?prop=Size').items![0].source!.locURI, './A/L?prop=Size');
});

test('VerNo increments and TStamp follows the injected clock on change', (t) => {
  let now = 0;
  const tree = makeTree({ clock: () => now });
  now = 86400000;
  tree.add(S, './A/L', undefined, 'a');
  now = 86400000 * 366;
  tree.replace(S, './A/L', undefined, 'b');
  t.is(tree.get(S, './A/L?prop=VerNo').items![0].data, '2');
  t.is(tree.get(S, './A/L?prop=TStamp').items![0].data, '19710102T000000Z');
  t.is(isoStamp(951782400000), '20000229T000000Z');
});

test('?prop= Replace: Title and Name replaceable, others 405, rename 418 on clash, permanent 405', (t) => {
  const tree = makeTree();
  tree.add(S, './A/L', undefined, 'a');
  tree.add(S, './A/M', undefined, 'm');
  t.is(tree.replace(S, './A/L?prop=Title', undefined, 'Hello'), 200);
  t.is(tree.get(S, './A/L?prop=Title').items![0].data, 'Hello');
  t.is(tree.replace(S, './A/L?prop=Format', undefined, 'int'), 405);
  t.is(tree.replace(S, './A/L?prop=Type', undefined, 'x/y'), 405);
  t.is(tree.replace(S, './A/L?prop=VerNo', undefined, '9'), 405);
  t.is(tree.replace(S, './A/L?prop=Nope', undefined, '9'), 406);
  t.is(tree.replace(S, './A/L?prop=Name', undefined, 'M'), 418);
  t.is(tree.replace(S, './A/L?prop=Name', undefined, 'a/b'), 400);
  t.is(tree.replace(S, './A/L?prop=Name', undefined, 'N'), 200);
  t.is(tree.get(S, './A/N').items![0].data, 'a');
  t.is(tree.get(S, './A/L').code, 404);
  t.is(tree.replace(LOCAL_ID, './DevInfo/Man?prop=Name', undefined, 'X'), 405);
});

test('?list=Struct and StructData with ACL filtering', (t) => {
  const tree = makeTree();
  tree.add(LOCAL_ID, './A/B/c', { format: 'int' }, '1');
  tree.add(LOCAL_ID, './A/d', undefined, 'dd');
  tree.add(LOCAL_ID, './A/Secret/s', undefined, 'ss');
  tree.replace(LOCAL_ID, './A/Secret?prop=ACL', undefined, 'Get=other');
  const s = tree.get(S, './A?list=Struct');
  t.is(s.code, 200);
  t.deepEqual(s.items!.map((i) => i.source!.locURI), ['./A', './A/B', './A/B/c', './A/d']);
  t.deepEqual(s.items![2].meta, { format: 'int', type: 'text/plain' });
  t.true(s.items!.every((i) => i.data === undefined));
  const d = tree.get(S, './A?list=StructData');
  t.deepEqual(d.items!.map((i) => i.data), [undefined, undefined, '1', 'dd']);
  t.is(tree.get(S, './A?list=Bogus').code, 406);
  t.is(tree.get(S, './A?list=Struct+Bogus').code, 406);
  t.is(tree.add(S, './A?list=Struct', undefined, 'x'), 405);
});

test('?list=TNDS returns a MgmtTree document with the TNDS type; +Prop/-Prop select properties', (t) => {
  const tree = makeTree();
  tree.add(LOCAL_ID, './A/B/c', { format: 'int' }, '1');
  tree.replace(LOCAL_ID, './A?prop=ACL', undefined, 'Get=*');
  const r = tree.get(S, './A?list=TNDS');
  t.is(r.code, 200);
  t.is(r.meta!.type, 'application/vnd.syncml.dmtnds+xml');
  const x = r.items![0].data as string;
  t.true(x.startsWith('<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>A</NodeName><Path>.</Path>'));
  t.true(x.includes('<NodeName>c</NodeName><RTProperties><Format><int/></Format><Type><MIME>text/plain</MIME></Type></RTProperties><Value>1</Value>'));
  t.false(x.includes('<ACL>'));
  const withAcl = tree.get(S, './A?list=TNDS+ACL-Value').items![0].data as string;
  t.true(withAcl.includes('<ACL>Get=*</ACL>'));
  t.false(withAcl.includes('<Value>'));
  const v = tree.get(S, './A?list=TNDS+VerNo+TStamp+Size').items![0].data as string;
  t.true(v.includes('<VerNo>1</VerNo>') && v.includes('<TStamp>') && v.includes('<Size>1</Size>'));
});
