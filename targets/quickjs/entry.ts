// Bundle entry for QuickJS: the agent as one global. An explicit object (not esbuild's
// --global-name export helpers) so the same entry also works on ES5 engines.
import { createAgent } from '../../src/agent/agent.js';

(globalThis as unknown as { ScomoAgent: unknown }).ScomoAgent = { create: createAgent, version: '0.1.0' };
