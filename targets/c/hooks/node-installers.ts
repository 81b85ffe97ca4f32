// The Node device's reference installers (targets/node/installers.ts: ustar application
// directories and A/B firmware) behind the native agent's installer-hook contract
// (targets/host-abi.md, "Installer hook"), so the native device installs what `scomo device`
// installs and the end-to-end suite can run the same scenarios on both.
// Run through node-installers.sh. State lives in $SCOMO_DATA_DIR/components and /firmware,
// the same places NodeHost uses.
import { openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { AbFirmwareInstaller, DirectoryInstaller, RC_INSTALL_FAILED, type NodeInstaller } from '../../node/installers.js';
import type { InstallRequest, InstallResult } from '../../../src/agent/host.js';

const UNSUPPORTED_ENV = 1413;

function out(v: unknown): void {
  process.stdout.write(JSON.stringify(v) + '\n');
}

async function main(argv: string[]): Promise<number> {
  const dataDir = process.env.SCOMO_DATA_DIR;
  if (!dataDir) {
    process.stderr.write('node-installers: SCOMO_DATA_DIR is not set\n');
    return 2;
  }
  const installers: NodeInstaller[] = [
    new DirectoryInstaller(join(dataDir, 'components')),
    new AbFirmwareInstaller(join(dataDir, 'firmware')),
  ];
  const [cmd, arg] = argv;
  if (cmd === 'install') {
    const env = process.env;
    const req: InstallRequest = {
      pkgId: env.SCOMO_PKG_ID ?? '',
      pkgType: env.SCOMO_PKG_TYPE ?? '',
      ...(env.SCOMO_ENV_TYPE ? { envType: env.SCOMO_ENV_TYPE } : {}),
      ...(env.SCOMO_INSTALL_PARAMS ? { installParams: env.SCOMO_INSTALL_PARAMS } : {}),
      storageKey: arg,
      size: Number(env.SCOMO_PACKAGE_SIZE ?? 0),
      activate: env.SCOMO_ACTIVATE === '1',
      ...(env.SCOMO_COMPONENT_ID ? { componentId: env.SCOMO_COMPONENT_ID } : {}),
    };
    const inst = installers.find((i) => i.handles(req.pkgType));
    if (!inst) {
      process.stderr.write(`node-installers: no installer for PkgType ${req.pkgType}\n`);
      out({ resultCode: UNSUPPORTED_ENV });
      return 0;
    }
    let fd: number;
    try {
      fd = openSync(arg, 'r');
    } catch {
      out({ resultCode: RC_INSTALL_FAILED });
      return 0;
    }
    try {
      const read = (off: number, len: number): Uint8Array => {
        const b = new Uint8Array(len);
        const n = readSync(fd, b, 0, len, off);
        return n === len ? b : b.subarray(0, n);
      };
      let r: InstallResult;
      try {
        r = await inst.install(req, read);
      } catch (e) {
        process.stderr.write('node-installers: ' + (e instanceof Error ? e.message : String(e)) + '\n');
        r = { resultCode: RC_INSTALL_FAILED };
      }
      out(r);
    } finally {
      closeSync(fd);
    }
    return 0;
  }
  if (cmd === 'activate' || cmd === 'deactivate' || cmd === 'remove') {
    const inst = installers.find((i) => i.owns(arg));
    if (!inst) {
      out({ resultCode: cmd === 'remove' ? 1408 : cmd === 'activate' ? 1409 : 1410 });
      return 0;
    }
    out({ resultCode: await inst.componentOp(cmd, arg).catch(() => 1412) });
    return 0;
  }
  if (cmd === 'install-status') {
    for (const i of installers) {
      const r = i.installStatus(arg);
      if (r) {
        out(r);
        return 0;
      }
    }
    return 1;
  }
  process.stderr.write(`node-installers: unknown command ${cmd}\n`);
  return 64;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write('node-installers: ' + String(e) + '\n');
  process.exitCode = 70;
});
