// SCOMO result codes the download path produces (facts §1.4, TS 20081024-C §8.7).
//
// | outcome of the download                                        | code |
// |----------------------------------------------------------------|------|
// | package complete, size and SHA-256 verified, storage finalised | 1200 |
// | 4xx other than 401/403/407; 3xx without usable Location, too    | 1402 |
// |   many redirects; bad download descriptor; storage I/O error;   |      |
// |   unusable response                                             |      |
// | 401, 403 or 407 from the download server                        | 1403 |
// | package storage full (append/sync/finalize said no-space)       | 1404 |
// | size or SHA-256 mismatch (Content-Length, Content-Range total,  | 1407 |
// |   DD size, more bytes than expected, final digest); the SCOMO   |      |
// |   layer also uses 1407 for a failed package signature           |      |
// | 5xx, retries exhausted (last failure was an HTTP 5xx)           | 1500 |
// | no response / connection refused / reset, retries exhausted     | 1501 |
// | cancelled (the job was cancelled; the SCOMO layer decides       | 1401 |
// |   whether to report it)                                         |      |
export const RC_SUCCESS = 1200;
export const RC_USER_CANCELLED = 1401;
export const RC_DOWNLOAD_FAILED = 1402;
export const RC_AUTH_FAILURE = 1403;
export const RC_OUT_OF_STORAGE = 1404;
export const RC_VALIDATION_FAILED = 1407;
export const RC_SERVER_ERROR = 1500;
export const RC_SERVER_UNAVAILABLE = 1501;
