// Bundle entry for ES5 engines (Duktape, Espruino-class): the same global as the QuickJS entry.
// Set with a plain assignment: Espruino's closures see the last loop value, which breaks
// esbuild's export helpers (runtime notes §2).
import { createAgent } from '../../src/agent/agent.js';

declare const globalThis: { ScomoAgent: unknown };
globalThis.ScomoAgent = { create: createAgent, version: '0.1.0' };
