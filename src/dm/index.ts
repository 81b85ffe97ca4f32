// The DM client engine's public surface. A driver is a loop (see test/helpers/run-client-session.ts):
//
//   const s = createClientSession(config, tree, hooks);
//   let step = s.start({ package0, alerts });
//   while (step.kind === 'send') {
//     const reply = post(step.url, step.contentType, step.headers, step.body); // the host's HTTP
//     step = reply ? s.receive(reply.body, reply.headers) : s.fail('no answer');
//   }
//   // step.ok, step.reason
export { createClientSession } from './client-session.js';
export { nextRetryDelay, DEFAULT_RETRY_POLICY } from './retry-policy.js';
export type { RetryPolicy } from './retry-policy.js';
export * from './types.js';
