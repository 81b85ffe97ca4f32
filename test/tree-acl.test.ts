import test from 'ava';
import { aclAllows, aclValid } from '../src/tree/acl.js';
import { LOCAL_ID } from '../src/tree/tree.js';
import { makeTree } from './helpers/tree-setup.js';

test('ACL grammar', (t) => {
  t.true(aclValid(''));
  t.true(aclValid('Add=*&Get=*'));
  t.true(aclValid('Add=srv1+srv2&Delete=srv1&Exec=a&Get=*&Replace=b'));
  t.false(aclValid('Copy=*'));
  t.false(aclValid('Get='));
  t.false(aclValid('Get=a++b'));
  t.false(aclValid('Get=*&'));
  t.false(aclValid('get=*'));
  t.true(aclAllows('Get=a+b', 'Get', 'b'));
  t.false(aclAllows('Get=a+b', 'Get', 'c'));
  t.false(aclAllows('Get=a+b', 'Replace', 'a'));
  t.true(aclAllows('Replace=*', 'Replace', 'anyone'));
});

test('root default Add=*&Get=*: any server may add and get, not replace or delete', (t) => {
  const tree = makeTree();
  t.is(tree.get('x', '.?prop=ACL').items![0].data, 'Add=*&Get=*');
  t.is(tree.add('x', './Leaf', undefined, 'v'), 200);
  t.is(tree.get('y', './Leaf').code, 200, 'leaf inherits Get=* from the root');
  t.is(tree.replace('y', './Leaf', undefined, 'w'), 425);
  t.is(tree.delete('y', './Leaf'), 425);
});

test('inheritance: empty ACL inherits from the nearest ancestor with a value; ?prop=ACL shows the own value', (t) => {
  const tree = makeTree();
  tree.add(LOCAL_ID, './P/Q/R', undefined, 'v');
  t.is(tree.replace(LOCAL_ID, './P?prop=ACL', undefined, 'Get=a&Replace=a+b&Delete=b'), 200);
  t.is(tree.get('a', './P/Q/R').code, 200);
  t.is(tree.get('b', './P/Q/R').code, 425);
  t.is(tree.replace('b', './P/Q/R', undefined, 'w'), 200);
  t.is(tree.delete('a', './P/Q/R'), 425);
  t.is(tree.get('a', './P/Q/R?prop=ACL').items![0].data, '');
  // Not concatenated: a value on Q replaces P's entirely.
  t.is(tree.replace(LOCAL_ID, './P/Q?prop=ACL', undefined, 'Get=b'), 200);
  t.is(tree.get('a', './P/Q/R').code, 425);
  t.is(tree.get('b', './P/Q/R').code, 200);
  t.is(tree.replace('b', './P/Q/R', undefined, 'z'), 425);
});

test('Add is governed by the parent ACL; a creator without Replace on the parent gets rights on its interior node', (t) => {
  const tree = makeTree();
  tree.add(LOCAL_ID, './Box', { format: 'node' }, undefined);
  tree.replace(LOCAL_ID, './Box?prop=ACL', undefined, 'Add=a&Get=*');
  t.is(tree.add('b', './Box/x', undefined, '1'), 425);
  t.is(tree.add('a', './Box/x', undefined, '1'), 200);
  t.is(tree.add('a', './Box/Sub/leaf', undefined, '1'), 200);
  t.is(tree.get('a', './Box/Sub?prop=ACL').items![0].data, 'Add=a&Delete=a&Get=a&Replace=a');
  t.is(tree.get('a', './Box/Sub/leaf?prop=ACL').items![0].data, '', 'leaves keep an empty ACL');
  t.is(tree.delete('a', './Box/Sub'), 200);
});

test('changing ACLs: leaf ACL needs Replace on the parent, interior on itself or parent; bad ACL 400; root Add stays *', (t) => {
  const tree = makeTree();
  tree.add(LOCAL_ID, './M/leaf', undefined, 'v');
  tree.replace(LOCAL_ID, './M/leaf?prop=ACL', undefined, 'Replace=a&Get=a');
  tree.replace(LOCAL_ID, './M?prop=ACL', undefined, 'Get=*&Replace=b');
  t.is(tree.replace('a', './M/leaf?prop=ACL', undefined, 'Get=*'), 425, 'own Replace does not cover a leaf ACL');
  t.is(tree.replace('b', './M/leaf?prop=ACL', undefined, 'Get=*&Replace=b'), 200, 'parent Replace takes control');
  t.is(tree.replace('b', './M?prop=ACL', undefined, 'Get=*&Replace=b+c'), 200, 'interior: own Replace');
  t.is(tree.replace('b', './M?prop=ACL', undefined, 'Get=*&Copy=b'), 400);
  t.is(tree.replace('b', './M?prop=ACL', undefined, 'Get=&'), 400);
  t.is(tree.replace(LOCAL_ID, '.?prop=ACL', undefined, 'Add=a&Get=*'), 405);
  t.is(tree.replace(LOCAL_ID, '.?prop=ACL', undefined, ''), 400);
  t.is(tree.replace(LOCAL_ID, '.?prop=ACL', undefined, 'Add=*&Get=*&Replace=a'), 200);
  t.is(tree.replace('a', './M/leaf?prop=ACL', undefined, 'Get=*'), 425, 'root Replace does not reach grandchildren');
});

test('425 for each command when the server lacks the right', (t) => {
  const tree = makeTree();
  tree.add(LOCAL_ID, './K/leaf', undefined, 'v');
  tree.replace(LOCAL_ID, './K?prop=ACL', undefined, 'Get=owner');
  t.is(tree.get('x', './K/leaf').code, 425);
  t.is(tree.get('x', './K/leaf?prop=Format').code, 425);
  t.is(tree.get('x', './K?list=Struct').code, 425);
  t.is(tree.replace('x', './K/leaf', undefined, 'w'), 425);
  t.is(tree.delete('x', './K/leaf'), 425);
  t.is(tree.add('x', './K/new', undefined, 'w'), 425);
  t.is(tree.copy('x', './C', './K/leaf'), 425);
  t.is(tree.exec('x', './K/leaf', {}), 425);
  t.is(tree.get('owner', './K/leaf').code, 200);
});
