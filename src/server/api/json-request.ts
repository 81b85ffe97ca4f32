// What every REST route needs to read a request: a JSON object body with a size bound, path
// segments decoded, and an error type that carries the HTTP status the route answers with.
import type { IncomingMessage } from 'node:http';
import { readBody, BodyTooLarge } from '../http.js';

export class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

/** Reads a JSON object body of at most `maxBytes`; an empty body is `{}` when `emptyIsObject`. */
export async function readJson(req: IncomingMessage, maxBytes: number, emptyIsObject = false): Promise<Record<string, unknown>> {
  let body: Uint8Array;
  try {
    body = await readBody(req, maxBytes);
  } catch (e) {
    if (e instanceof BodyTooLarge) throw new HttpError(413, `JSON body larger than ${maxBytes} bytes`);
    throw new HttpError(400, 'could not read the request body');
  }
  if (emptyIsObject && body.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'body must be a JSON object');
  return v as Record<string, unknown>;
}

export function decodeSeg(s: string): string {
  try { return decodeURIComponent(s); } catch { throw new HttpError(400, 'bad percent-encoding in the path'); }
}
