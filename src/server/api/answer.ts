// The shared frame of every JSON API route: the bearer token first, then the handler; an
// HttpError becomes its status with `{ "error" }`, anything else is logged and answered 500 with
// no detail (never a stack trace for the client).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './json-request.js';
import { requireBearer, sendJson } from '../repo/api-packages.js';

export async function answerApi(req: IncomingMessage, res: ServerResponse, token: string, log: (line: string) => void, label: string, run: () => Promise<void>): Promise<true> {
  if (!requireBearer(req, res, token)) { req.resume(); return true; }
  try {
    await run();
  } catch (e) {
    req.resume();
    if (e instanceof HttpError) sendJson(res, e.status, { error: e.message });
    else {
      log(label + ' error: ' + (e instanceof Error ? e.stack ?? e.message : String(e)));
      if (!res.headersSent) sendJson(res, 500, { error: 'internal server error' });
      else res.end();
    }
  }
  return true;
}
