/*
 * scomo_host.h — the SCOMO agent's host ABI in C.
 *
 * The C mirror of src/agent/host.ts (Host) and src/agent/api.ts (Agent); integrators read
 * targets/host-abi.md. Two directions:
 *
 *   host -> agent  the scomo_* functions below: boot, events (timer fired, HTTP response
 *                  chunk, installer finished, package 0 received) and queries (idle, status).
 *   agent -> host  the function pointers in `scomo_host`, filled in by the integrator.
 *
 * Synchronous host functions (flash, package storage, clock, random, log, install_status) must
 * be complete when they return: the store's power-safety argument relies on it.
 * Asynchronous ones (http_request, set_timer, install, component_op, verify_package) return at
 * once and complete later by the host calling the matching scomo_on_* function with the same id.
 *
 * Threading: one agent is used from one thread. Host callbacks may be invoked from inside any
 * scomo_* call; a host must NOT call scomo_* functions from inside a host callback (queue the
 * event and deliver it from the event loop instead).
 *
 * Pointers passed to host callbacks are valid only during the call: copy what you keep.
 */
#ifndef SCOMO_HOST_H
#define SCOMO_HOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Log levels, as in Host.log. */
typedef enum { SCOMO_LOG_DEBUG = 0, SCOMO_LOG_INFO = 1, SCOMO_LOG_WARN = 2, SCOMO_LOG_ERROR = 3 } scomo_log_level;

/* One HTTP header. Response header names must be given in lower case. */
typedef struct {
  const char *name;
  const char *value;
} scomo_header;

/* PackageStorage results (StorageStatus: 'ok' | 'no-space' | 'error'). */
typedef enum { SCOMO_STORAGE_OK = 0, SCOMO_STORAGE_NO_SPACE = 1, SCOMO_STORAGE_ERROR = 2 } scomo_storage_status;

/* Host.install's request (InstallRequest). Optional strings are NULL when absent. */
typedef struct {
  const char *pkg_id;
  const char *pkg_type;
  const char *env_type;       /* optional */
  const char *install_params; /* optional */
  const char *storage_key;    /* key of the delivered package in package storage */
  double size;                /* package bytes */
  int activate;               /* 1: activate after install; 0: leave inactive */
  const char *component_id;   /* optional: the component this package updates */
} scomo_install_request;

/* Host.install's result (InstallResult). id == NULL: no component identity reported. */
typedef struct {
  int result_code; /* SCOMO result code: 1200 ok; 1405 install failed; 1413 unsupported env ... */
  const char *id, *name, *version, *description; /* description optional */
} scomo_install_result;

/* Host.verifyPackage's request (VerifyRequest): a detached signature over the whole delivered
 * package, checked before install. Only sha256 may be NULL; a field the agent left out arrives
 * as "" (complete such a request with 1407). */
typedef struct {
  const char *pkg_id;
  const char *storage_key;   /* key of the delivered package in package storage (read it with pkg_read) */
  double size;               /* package bytes */
  /* Lower case: "ecdsa-p256-sha256" (DER, as `openssl dgst -sha256 -sign` writes it),
   * "rsa-pkcs1-sha256" or "rsa-pss-sha256" (MGF1-SHA-256, salt length 32). Each signs the
   * SHA-256 of the package bytes. Unknown algorithms fail (1407). */
  const char *alg;
  const char *signature_b64; /* the signature, standard base64 with padding */
  const char *sha256;        /* optional: lower-case hex SHA-256 the agent computed while downloading */
} scomo_verify_request;

/*
 * What the host provides. Every function gets `ctx` back. Return conventions: int functions
 * return 0 on success and -1 on failure (the agent sees a thrown error).
 */
typedef struct scomo_host {
  void *ctx;

  /* --- flash partition of the record store (NOR semantics: program only erased bytes) --- */
  uint32_t flash_size;       /* total bytes, a whole number of blocks */
  uint32_t flash_block_size; /* erase-block bytes */
  int (*flash_read)(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len);
  int (*flash_program)(void *ctx, uint32_t offset, const uint8_t *buf, uint32_t len);
  int (*flash_erase)(void *ctx, uint32_t block_index); /* to 0xFF */

  /* --- package storage: one growable area per key, separate from the flash store --- */
  /* Prepares the area for key, keeping bytes already there (a resumed download needs them). */
  scomo_storage_status (*pkg_open)(void *ctx, const char *key);
  /* Appends at the end; SCOMO_STORAGE_NO_SPACE makes the agent fail the download with 1404. */
  scomo_storage_status (*pkg_append)(void *ctx, const char *key, const uint8_t *buf, uint32_t len);
  double (*pkg_size)(void *ctx, const char *key); /* bytes stored; 0 when none */
  scomo_storage_status (*pkg_truncate)(void *ctx, const char *key, double length); /* keep the first length bytes */
  scomo_storage_status (*pkg_sync)(void *ctx, const char *key); /* every appended byte durable */
  /* Reads up to len bytes at offset into buf; returns bytes read (short at the end), or -1. */
  int64_t (*pkg_read)(void *ctx, const char *key, double offset, uint8_t *buf, uint32_t len);
  void (*pkg_remove)(void *ctx, const char *key);

  /* --- clock, randomness, log --- */
  double (*now_ms)(void *ctx); /* milliseconds since the epoch */
  int (*random_bytes)(void *ctx, uint8_t *buf, uint32_t n); /* cryptographic quality */
  void (*log)(void *ctx, scomo_log_level level, const char *message);

  /* --- asynchronous: complete through scomo_on_* with the same id --- */
  /* method is "GET", "POST" or "HEAD"; body may be NULL. Completes with scomo_on_http_response,
   * then scomo_on_http_chunk per received piece, then scomo_on_http_end — or scomo_on_http_error. */
  void (*http_request)(void *ctx, int id, const char *method, const char *url,
                       const scomo_header *headers, size_t n_headers, const uint8_t *body, size_t body_len);
  void (*http_cancel)(void *ctx, int id); /* no further events for id */
  void (*set_timer)(void *ctx, int id, double ms); /* completes with scomo_on_timer */
  void (*clear_timer)(void *ctx, int id);
  void (*install)(void *ctx, int id, const scomo_install_request *req); /* -> scomo_on_install_done */
  /* op is "activate", "deactivate" or "remove"; completes with scomo_on_component_op_done. */
  void (*component_op)(void *ctx, int id, const char *op, const char *component_id);
  /* Optional (NULL: not provided). After a reboot that interrupted an install: returns 1 and
   * fills *out when the install of pkg_id committed (A/B slot confirmed, directory swapped in;
   * out's strings must stay valid until the next call), 0 when it did not (the agent reports 1405). */
  int (*install_status)(void *ctx, const char *pkg_id, scomo_install_result *out);

  /* --- optional native hashes (NULL: the agent hashes in JavaScript, which on Duktape runs
   * SHA-256 at about 0.4 MB/s and MD5 at about 1.5 MB/s). Offered to the agent as
   * host.crypto = { createSha256, createMd5 } (src/crypto/provider.ts CryptoProvider). --- */
  /* Starts a hash; alg is "sha256" or "md5". NULL when unsupported. */
  void *(*hash_new)(void *ctx, const char *alg);
  void (*hash_update)(void *ctx, void *h, const uint8_t *buf, uint32_t len);
  /* Writes the digest (32 bytes SHA-256, 16 MD5) into out and frees h; out == NULL only frees. */
  void (*hash_end)(void *ctx, void *h, uint8_t *out);

  /* --- optional package signature check (NULL: no verifier; the agent then fails every signed
   * package with 1407, since the device cannot tell a genuine package from a forged one) ---
   * Checks req against the device's trusted keys and completes with scomo_on_verify_done(agent,
   * id, code): 1200 verified, 1407 not (or no trusted key matches). It may be called again for
   * the same package after a reboot that interrupted it, so it must not change anything. */
  void (*verify_package)(void *ctx, int id, const scomo_verify_request *req);
} scomo_host;

/* The agent: a JavaScript engine heap running the bundle. Opaque. */
typedef struct scomo_agent scomo_agent;

/*
 * Creates the engine heap, evaluates the bundle (dist/scomo-agent.es5.js), and calls
 * ScomoAgent.create(host, config). config_json is AgentConfig as JSON (src/agent/api.ts).
 * heap_limit: engine heap cap in bytes (0: none). `host` must outlive the agent.
 * Returns NULL on failure with a reason in err (when err != NULL).
 */
scomo_agent *scomo_create(const scomo_host *host, const char *bundle, size_t bundle_len,
                          const char *config_json, size_t heap_limit, char *err, size_t err_len);
void scomo_destroy(scomo_agent *a);

/*
 * Entry points: each calls the agent method of the same name. They return 0, or -1 when the
 * JavaScript threw (the error and its stack are logged through host->log; the agent stays usable).
 */
int scomo_boot(scomo_agent *a);
int scomo_connect(scomo_agent *a);
int scomo_on_package0(scomo_agent *a, const uint8_t *bytes, size_t len);
int scomo_on_timer(scomo_agent *a, int id);
int scomo_on_http_response(scomo_agent *a, int id, int status, const scomo_header *headers, size_t n_headers);
int scomo_on_http_chunk(scomo_agent *a, int id, const uint8_t *bytes, size_t len);
int scomo_on_http_end(scomo_agent *a, int id);
int scomo_on_http_error(scomo_agent *a, int id, const char *reason);
int scomo_on_install_done(scomo_agent *a, int id, const scomo_install_result *result);
/* The same, with InstallResult as JSON ({"resultCode":1200,"component":{...}}). Returns -2
 * without calling the agent when result_json is not a JSON object (report a result yourself). */
int scomo_on_install_done_json(scomo_agent *a, int id, const char *result_json);
int scomo_on_component_op_done(scomo_agent *a, int id, int result_code);
/* Completes verify_package: 1200 the signature verified; 1407 it did not. */
int scomo_on_verify_done(scomo_agent *a, int id, int result_code);

/* 1 when nothing is in flight or pending; 0 otherwise (also when idle() threw). */
int scomo_idle(scomo_agent *a);
/* status() as a JSON string (malloc'd; the caller frees), or NULL when it threw. */
char *scomo_status_json(scomo_agent *a);

/* Engine heap bytes: currently allocated and the peak since scomo_create. */
void scomo_heap_stats(const scomo_agent *a, size_t *current, size_t *peak);

#ifdef __cplusplus
}
#endif
#endif /* SCOMO_HOST_H */
