// Preparing queued commands for the wire and tracking what comes back for them.
// A queue entry is a list of commands; each top-level command gets an outcome (Status code,
// Results items, children's outcomes for Atomic/Sequence). CmdIDs are assigned per message
// when a command is sent, and every CmdID (children too) maps back to its entry and position.
import type { Command, Item, Meta } from '../../codec/model.js';
import { base64Encode } from '../../codec/base64.js';
import type { CommandOutcome } from '../storage/types.js';

export type { Encoding } from '../../codec/index.js';
import type { Encoding } from '../../codec/index.js';

/** Where an outgoing CmdID's Status/Results go: entry id and index path (top-level, child...). */
export interface InflightCmd {
  entryId: number;
  path: number[];
  cmd: string;
  /** Set on a large-object chunk that is not the last one: its 213 is not the final status. */
  midChunk?: boolean;
}

/** Outcome skeleton: status -1 until the peer answers. */
export function outcomeSkeleton(c: Command): CommandOutcome {
  const o: CommandOutcome = { cmd: commandName(c), status: -1 };
  if (c.kind === 'Atomic' || c.kind === 'Sequence') o.children = c.commands.map(outcomeSkeleton);
  return o;
}

export function commandName(c: Command): string {
  return c.kind === 'Unsupported' ? c.name : c.kind;
}

export function outcomeAt(outcomes: CommandOutcome[], path: number[]): CommandOutcome | undefined {
  let list: CommandOutcome[] | undefined = outcomes;
  let o: CommandOutcome | undefined;
  for (const i of path) {
    if (!list) return undefined;
    o = list[i];
    list = o?.children;
  }
  return o;
}

/** True when every command (and child) has a final status. */
export function outcomesComplete(outcomes: CommandOutcome[]): boolean {
  return outcomes.every((o) => o.status >= 0 && (!o.children || outcomesComplete(o.children)));
}

/** Gives every still-unanswered command (and child) `code` (0 = no status received). */
export function settleOutcomes(outcomes: CommandOutcome[], code: number): void {
  for (const o of outcomes) {
    if (o.status < 0) o.status = code;
    if (o.children) settleOutcomes(o.children, code);
  }
}

/**
 * XML cannot carry raw bytes: binary item data travels as b64 text with Meta Format b64
 * (model.ts). WBXML carries it as OPAQUE unchanged.
 */
export function itemForWire(item: Item, encoding: Encoding): Item {
  if (encoding === 'xml' && item.data instanceof Uint8Array) {
    const meta: Meta = { ...(item.meta ?? {}), format: 'b64' };
    return { ...item, meta, data: base64Encode(item.data) };
  }
  return item;
}

/**
 * A copy of `c` with fresh CmdIDs from `nextId`, ready for `encoding`; `register` is called for
 * every CmdID with its index path under `path`.
 */
export function prepareCommand(c: Command, encoding: Encoding, nextId: () => string, path: number[], register: (cmdID: string, path: number[], cmd: string) => void): Command {
  const cmdID = nextId();
  register(cmdID, path, commandName(c));
  switch (c.kind) {
    case 'Atomic':
    case 'Sequence':
      return { ...c, cmdID, commands: c.commands.map((k, i) => prepareCommand(k, encoding, nextId, [...path, i], register)) };
    case 'Add': case 'Replace': case 'Delete': case 'Copy': case 'Get': case 'Exec': case 'Alert':
      return { ...c, cmdID, items: c.items.map((it) => itemForWire(it, encoding)) } as Command;
    default:
      return { ...c, cmdID };
  }
}
