// ACL property grammar and checks (DM TND 1.2 §8.3.7.1): "Add=srv1+srv2&Get=*&Replace=srv1".
// Commands are Add, Delete, Exec, Get, Replace (Copy has no ACL entry). An empty ACL inherits from
// the nearest ancestor with a value; the root always has one (default "Add=*&Get=*").

export type AclCommand = 'Add' | 'Delete' | 'Exec' | 'Get' | 'Replace';

export const ROOT_ACL = 'Add=*&Get=*';

/** True when `acl` is empty or well formed: every command known, every entry with at least one id. */
export function aclValid(acl: string): boolean {
  if (acl === '') return true;
  const parts = acl.split('&');
  for (let i = 0; i < parts.length; i++) {
    const m = /^(Add|Delete|Exec|Get|Replace)=(.+)$/.exec(parts[i]);
    if (!m) return false;
    const ids = m[2].split('+');
    for (let j = 0; j < ids.length; j++) if (ids[j] === '' || /[=&\s]/.test(ids[j])) return false;
  }
  return true;
}

/** Server ids granted `cmd` by a non-empty ACL ('*' means everyone). */
export function aclIds(acl: string, cmd: AclCommand): string[] {
  const out: string[] = [];
  const parts = acl.split('&');
  for (let i = 0; i < parts.length; i++) {
    const eq = parts[i].indexOf('=');
    if (parts[i].substring(0, eq) === cmd) {
      const ids = parts[i].substring(eq + 1).split('+');
      for (let j = 0; j < ids.length; j++) out.push(ids[j]);
    }
  }
  return out;
}

export function aclAllows(acl: string, cmd: AclCommand, serverId: string): boolean {
  const ids = aclIds(acl, cmd);
  for (let i = 0; i < ids.length; i++) if (ids[i] === '*' || ids[i] === serverId) return true;
  return false;
}
