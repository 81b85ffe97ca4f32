// DM status and alert codes the engine uses, named as the spec names them (facts §2.3, §2.4).

export const ST_IN_PROGRESS = 101;
export const ST_OK = 200;
export const ST_ITEM_ADDED = 201;
export const ST_ACCEPTED = 202;
export const ST_AUTH_ACCEPTED = 212;
export const ST_CHUNK_BUFFERED = 213;
export const ST_CANCELLED = 214;
export const ST_NOT_EXECUTED = 215;
export const ST_ATOMIC_ROLLBACK_OK = 216;
export const ST_NOT_MODIFIED = 304;
export const ST_BAD_REQUEST = 400;
export const ST_INVALID_CREDENTIALS = 401;
export const ST_FORBIDDEN = 403;
export const ST_NOT_FOUND = 404;
export const ST_NOT_ALLOWED = 405;
export const ST_OPTIONAL_FEATURE_NOT_SUPPORTED = 406;
export const ST_MISSING_CREDENTIALS = 407;
export const ST_SIZE_REQUIRED = 411;
export const ST_INCOMPLETE_COMMAND = 412;
export const ST_ENTITY_TOO_LARGE = 413;
export const ST_CANNOT_DISPLAY = 416;
export const ST_SIZE_MISMATCH = 424;
export const ST_COMMAND_FAILED = 500;
export const ST_DTD_VERSION_NOT_SUPPORTED = 505;
export const ST_ATOMIC_FAILED = 507;
export const ST_PROTOCOL_VERSION_NOT_SUPPORTED = 513;
export const ST_ATOMIC_ROLLBACK_FAILED = 516;

export const AL_DISPLAY = 1100;
export const AL_CONFIRM_OR_REJECT = 1101;
export const AL_TEXT_INPUT = 1102;
export const AL_SINGLE_CHOICE = 1103;
export const AL_MULTIPLE_CHOICE = 1104;
export const AL_SERVER_INITIATED_MGMT = 1200;
export const AL_CLIENT_INITIATED_MGMT = 1201;
export const AL_NEXT_MESSAGE = 1222;
export const AL_SESSION_ABORT = 1223;
export const AL_CLIENT_EVENT = 1224;
export const AL_NO_END_OF_DATA = 1225;
export const AL_GENERIC_ALERT = 1226;

export function isSuccess(code: number): boolean {
  return code >= 200 && code < 300;
}
