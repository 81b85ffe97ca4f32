// Shallow copies for the DM layer: commands, items and Meta from the tree or the host are
// shared, so the engine rewrites copies instead (ES5: no Object.assign on the smallest engines).

/** Copies the own enumerable properties of `from` onto `into` (in `from`'s order); returns `into`. */
export function copyFields<T>(into: T, from: object): T {
  const keys = Object.keys(from);
  for (let i = 0; i < keys.length; i++) (into as any)[keys[i]] = (from as any)[keys[i]];
  return into;
}
