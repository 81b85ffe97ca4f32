// The whole project type-checks, and client code (src/ minus src/server) type-checks against
// ES2020 with no DOM or Node types, so a TextEncoder, atob, setTimeout or node: import there fails.
import test from 'ava';
import { execFileSync } from 'node:child_process';

function tsc(project: string): string {
  try {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', project], { encoding: 'utf8', stdio: 'pipe' });
    return '';
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return (err.stdout ?? '') + (err.stderr ?? '');
  }
}

test('project type-checks', (t) => {
  t.is(tsc('tsconfig.json'), '');
});

test('client code type-checks without Node or DOM globals', (t) => {
  t.is(tsc('tsconfig.client.json'), '');
});
