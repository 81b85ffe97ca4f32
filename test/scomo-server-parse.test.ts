// What the SCOMO server reads from devices: final alert data, component requests, the SCOMO root
// by MO type, inventory from StructData. Untrusted input: odd or hostile items never throw.
import test from 'ava';
import type { Item } from '../src/codec/model.js';
import { findScomoRoot, isSuccessCode, parseComponentRequest, parseInventory, parseOperationComplete } from '../src/server/scomo/parse.js';
import { compareVersions } from '../src/server/scomo/engine.js';
import { treeItems } from './helpers/scomo-script.js';

const oc = (data: string | Uint8Array, type = 'urn:oma:at:scomo:1.0:OperationComplete'): Item[] => [{
  source: { locURI: './SCOMO/Download/a/Operations/Download' }, target: { locURI: './SCOMO/Inventory/Delivered/a' }, meta: { type, format: 'xml' }, data,
}];

test('final alert data: result code, identifier (escaped or CDATA), source and target', (t) => {
  t.deepEqual(parseOperationComplete(oc('<ResultCode>1200</ResultCode><Identifier>a&amp;b</Identifier>')), {
    resultCode: 1200, identifier: 'a&b', source: './SCOMO/Download/a/Operations/Download', target: './SCOMO/Inventory/Delivered/a',
  });
  t.is(parseOperationComplete(oc('<ResultCode> 1405 </ResultCode><Identifier><![CDATA[x<y]]></Identifier>'))?.identifier, 'x<y');
  t.is(parseOperationComplete(oc(new TextEncoder().encode('<ResultCode>1402</ResultCode>')))?.resultCode, 1402);
});

test('final alert data that is not a result code gives resultCode null; other alert types are not final alerts', (t) => {
  t.is(parseOperationComplete(oc('<ResultCode>OK</ResultCode>'))?.resultCode, null);
  t.is(parseOperationComplete(oc('garbage'))?.resultCode, null);
  t.is(parseOperationComplete(oc('<ResultCode>99999</ResultCode>'))?.resultCode, null);
  t.is(parseOperationComplete(oc('<ResultCode>1200</ResultCode>', 'x-other')), undefined);
  t.is(parseOperationComplete([{}]), undefined);
  t.is(parseOperationComplete(oc('<ResultCode>' + '1'.repeat(100000) + '</ResultCode>'))?.resultCode, null);
});

test('success is 1200..1299 only', (t) => {
  t.true(isSuccessCode(1200));
  t.true(isSuccessCode(1299));
  t.false(isSuccessCode(1300));
  t.false(isSuccessCode(1199));
  t.false(isSuccessCode(null));
});

test('component requests: name and optional version', (t) => {
  const req = (data: string): Item[] => [{ meta: { type: 'org.openscomo.request-component' }, data }];
  t.deepEqual(parseComponentRequest(req('<Request><Name>hello</Name><Version>1.0</Version></Request>')), { name: 'hello', version: '1.0' });
  t.deepEqual(parseComponentRequest(req('<Request><Name> hello </Name></Request>')), { name: 'hello' });
  t.is(parseComponentRequest(req('<Request><Version>1</Version></Request>')), undefined);
  t.is(parseComponentRequest([{ meta: { type: 'other' }, data: '<Request><Name>x</Name></Request>' }]), undefined);
});

test('the SCOMO root is the node whose Type is the SCOMO MO id', (t) => {
  t.is(findScomoRoot(treeItems('./Vendor/SCM', [])), './Vendor/SCM');
  t.is(findScomoRoot(treeItems('./SCOMO', [], false)), undefined);
  t.is(findScomoRoot([{ source: { locURI: 'Apps/SCOMO' }, meta: { type: ' urn:oma:mo:oma-scomo:1.0 ' } }]), './Apps/SCOMO');
});

test('inventory from StructData: deployed components with state, delivered packages', (t) => {
  const items = treeItems('./S', [
    { node: 'n1', id: 'com.a', name: 'A', version: '1', active: true },
    { node: 'n2', id: 'com.b', name: 'B', version: '2', active: false },
  ]);
  items.push(
    { source: { locURI: './S/Inventory/Delivered/d1' }, meta: { format: 'node' } },
    { source: { locURI: './S/Inventory/Delivered/d1/PkgID' }, data: 'pkg-1' },
    { source: { locURI: './S/Inventory/Delivered/d1/Name' }, data: 'a' },
    { source: { locURI: './S/Inventory/Delivered/d1/State' }, data: '20' },
    { source: { locURI: './Other/Inventory/Deployed/zz/ID' }, data: 'not-ours' },
    { source: { locURI: './S/Inventory/Deployed/n1/Operations/Activate' }, meta: { format: 'null' } },
  );
  const inv = parseInventory('./S', items, 5);
  t.deepEqual(inv.deployed.map((d) => [d.id, d.name, d.version, d.state, d.node]), [['com.a', 'A', '1', 'active', 'n1'], ['com.b', 'B', '2', 'inactive', 'n2']]);
  t.deepEqual(inv.delivered.map((d) => [d.pkgId, d.name, d.state, d.node]), [['pkg-1', 'a', 'installed', 'd1']]);
  t.is(inv.updatedAt, 5);
  t.deepEqual(parseInventory('./S', [{ source: { locURI: './S/Inventory/Deployed/__proto__/ID' }, data: 'p' }]).deployed.map((d) => d.id), ['p']);
});

test('versions compare numerically by dotted parts', (t) => {
  t.is(compareVersions('1.10', '1.9'), 1);
  t.is(compareVersions('1.0', '1.0'), 0);
  t.is(compareVersions('2', '10'), -1);
  t.is(compareVersions('1.0-beta', '1.0-alpha'), 1);
});
