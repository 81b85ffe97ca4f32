// Minimal option parser shared by the subcommands: --name value, --flag, positional args.
// Unknown options are errors, so a typo never silently changes behaviour.

export interface ParsedArgs {
  positional: string[];
  opts: Record<string, string | true>;
}

export class UsageError extends Error {}

/** `spec` maps option names (without --) to 'value' or 'flag'. Short aliases: `{ o: 'out' }`. */
export function parseArgs(args: string[], spec: Record<string, 'value' | 'flag'>, aliases: Record<string, string> = {}): ParsedArgs {
  const positional: string[] = [];
  const opts: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-') { positional.push(a); continue; }
    if (a.startsWith('-')) {
      let name = a.replace(/^--?/, '');
      let inline: string | undefined;
      const eq = name.indexOf('=');
      if (eq >= 0) { inline = name.slice(eq + 1); name = name.slice(0, eq); }
      if (aliases[name]) name = aliases[name];
      const kind = spec[name];
      if (!kind) throw new UsageError(`unknown option ${a}`);
      if (kind === 'flag') { opts[name] = true; continue; }
      const v = inline ?? args[++i];
      if (v === undefined) throw new UsageError(`option --${name} needs a value`);
      opts[name] = v;
    } else positional.push(a);
  }
  return { positional, opts };
}

export function optString(p: ParsedArgs, name: string): string | undefined {
  const v = p.opts[name];
  return typeof v === 'string' ? v : undefined;
}

export function optInt(p: ParsedArgs, name: string, dflt: number): number {
  const v = optString(p, name);
  if (v === undefined) return dflt;
  if (!/^[0-9]+$/.test(v)) throw new UsageError(`option --${name} needs a whole number, got '${v}'`);
  return parseInt(v, 10);
}
