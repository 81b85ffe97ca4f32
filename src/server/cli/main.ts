// `scomo` command line: dispatches to one module per subcommand, loaded on demand so that
// `scomo codec` does not pay for the server's dependencies.

const commands: Record<string, { file: string; help: string }> = {
  codec: { file: './codec.js', help: 'codec to-xml|to-wbxml <file|-> [-o <file>]   convert a DM message' },
  server: { file: './server.js', help: 'server [--port 8080] [--dm-path /dm] [--data DIR]   run the SCOMO/DM server' },
  account: { file: './account.js', help: 'account add <deviceId> ...   provision a device account' },
  device: { file: './device.js', help: 'device --server <url> --id <deviceId> ...   run the emulated device' },
  package: { file: './package.js', help: 'package upload|list|delete ...   the package repository' },
  job: { file: './job.js', help: 'job create|show|wait ...   manage SCOMO jobs' },
  webhook: { file: './webhook.js', help: 'webhook add <url>|list|show|remove ...   push job outcomes to a URL' },
  campaign: { file: './campaign.js', help: 'campaign create|show|list|pause|resume|cancel|wait ...   roll out in waves' },
  simulate: { file: './simulate.js', help: 'simulate --server <url> --devices N [--prefix sim-]   run a simulated fleet' },
  inventory: { file: './inventory.js', help: 'inventory <deviceId>   show a device\'s software inventory' },
};

function usage(): string {
  return 'usage: scomo <command> [options]\n\ncommands:\n' +
    Object.values(commands).map((c) => '  ' + c.help).join('\n') + '\n';
}

export interface CliModule {
  run(args: string[]): Promise<number>;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`scomo: unknown command '${name}'\n` + usage());
    return 1;
  }
  let mod: CliModule;
  try {
    mod = (await import(cmd.file)) as CliModule;
  } catch (e) {
    // Only a missing module means the command is absent; anything else is a real fault to report.
    const err = e as { code?: string; message?: string };
    const missing = err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(cmd.file.replace('./', '').replace('.js', ''));
    process.stderr.write(missing ? `scomo: command '${name}' is not available in this build\n` : `scomo: cannot load command '${name}': ${err.message ?? String(e)}\n`);
    return 1;
  }
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    // Never a stack trace for the user: one line, non-zero exit.
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`scomo: ${msg}\n`);
    process.exitCode = 1;
  },
);
