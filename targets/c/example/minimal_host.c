/* A minimal SCOMO host: flash in RAM, timers, log, random; no network or installers (their
 * requests fail at once). Shows the shape of a port. Usage: minimal-host BUNDLE CONFIG_JSON */
#include "scomo_host.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FLASH_SIZE (64 * 1024)
#define BLOCK 4096
static uint8_t flash[FLASH_SIZE]; /* a real box: its NOR partition driver */

static int fl_read(void *c, uint32_t off, uint8_t *b, uint32_t n) { (void)c; memcpy(b, flash + off, n); return 0; }
static int fl_program(void *c, uint32_t off, const uint8_t *b, uint32_t n) {
  (void)c;
  for (uint32_t i = 0; i < n; i++) flash[off + i] &= b[i]; /* NOR: bits only go 1 -> 0 */
  return 0;
}
static int fl_erase(void *c, uint32_t blk) { (void)c; memset(flash + blk * BLOCK, 0xff, BLOCK); return 0; }

/* No package storage on this box. */
static scomo_storage_status pk_status(void *c, const char *k) { (void)c; (void)k; return SCOMO_STORAGE_ERROR; }
static scomo_storage_status pk_append(void *c, const char *k, const uint8_t *b, uint32_t n) { (void)c; (void)k; (void)b; (void)n; return SCOMO_STORAGE_NO_SPACE; }
static double pk_size(void *c, const char *k) { (void)c; (void)k; return 0; }
static scomo_storage_status pk_truncate(void *c, const char *k, double n) { (void)c; (void)k; (void)n; return SCOMO_STORAGE_ERROR; }
static int64_t pk_read(void *c, const char *k, double o, uint8_t *b, uint32_t n) { (void)c; (void)k; (void)o; (void)b; (void)n; return -1; }
static void pk_remove(void *c, const char *k) { (void)c; (void)k; }

static double now_ms(void *c) { (void)c; struct timespec t; clock_gettime(CLOCK_REALTIME, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1000000; }
static int rnd(void *c, uint8_t *b, uint32_t n) { /* use the SoC's TRNG on a real box */
  (void)c; FILE *f = fopen("/dev/urandom", "rb"); int ok = f && fread(b, 1, n, f) == n;
  if (f) { fclose(f); } return ok ? 0 : -1;
}
static void logm(void *c, scomo_log_level l, const char *m) { (void)c; fprintf(stderr, "[%d] %s\n", l, m); }

/* Completions are queued and delivered from the loop, never from inside a host callback. */
enum { EV_HTTP_ERROR, EV_INSTALL, EV_OP };
static struct { int kind, id; } q[64]; static int nq;
static void push(int kind, int id) { if (nq < 64) { q[nq].kind = kind; q[nq].id = id; nq++; } }

static struct { int id; double due; } timers[16]; static int ntimers;

static void http_req(void *c, int id, const char *m, const char *u, const scomo_header *h, size_t nh, const uint8_t *b, size_t bl) {
  (void)c; (void)m; (void)u; (void)h; (void)nh; (void)b; (void)bl;
  push(EV_HTTP_ERROR, id);
}
static void http_cancel(void *c, int id) { (void)c; (void)id; }
static void clear_timer(void *c, int id) {
  (void)c;
  for (int i = 0; i < ntimers; i++) if (timers[i].id == id) timers[i--] = timers[--ntimers];
}
static void set_timer(void *c, int id, double ms) {
  clear_timer(c, id);
  if (ntimers < 16) { timers[ntimers].id = id; timers[ntimers].due = now_ms(c) + ms; ntimers++; }
}
static void install(void *c, int id, const scomo_install_request *r) { (void)c; (void)r; push(EV_INSTALL, id); }
static void comp_op(void *c, int id, const char *op, const char *cid) { (void)c; (void)op; (void)cid; push(EV_OP, id); }

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: minimal-host BUNDLE CONFIG_JSON\n"); return 2; }
  static char bundle[1 << 20];
  FILE *f = fopen(argv[1], "rb");
  size_t len = f ? fread(bundle, 1, sizeof bundle, f) : 0;
  if (f) fclose(f);
  memset(flash, 0xff, sizeof flash);
  scomo_host host = {
    .flash_size = FLASH_SIZE, .flash_block_size = BLOCK, .flash_read = fl_read, .flash_program = fl_program, .flash_erase = fl_erase,
    .pkg_open = pk_status, .pkg_append = pk_append, .pkg_size = pk_size, .pkg_truncate = pk_truncate, .pkg_sync = pk_status,
    .pkg_read = pk_read, .pkg_remove = pk_remove, .now_ms = now_ms, .random_bytes = rnd, .log = logm,
    .http_request = http_req, .http_cancel = http_cancel, .set_timer = set_timer, .clear_timer = clear_timer,
    .install = install, .component_op = comp_op, /* .install_status, .verify_package: optional, not provided */
  };
  char err[512];
  scomo_agent *a = scomo_create(&host, bundle, len, argv[2], 0, err, sizeof err);
  if (!a) { fprintf(stderr, "%s\n", err); return 1; }
  scomo_boot(a);
  while (!scomo_idle(a)) {
    while (nq > 0) { /* deliver in order */
      int kind = q[0].kind, id = q[0].id;
      memmove(q, q + 1, sizeof q[0] * (size_t)--nq);
      scomo_install_result r = {1411, NULL, NULL, NULL, NULL}; /* 1411: not implemented */
      if (kind == EV_HTTP_ERROR) scomo_on_http_error(a, id, "no network on this host");
      else if (kind == EV_INSTALL) scomo_on_install_done(a, id, &r);
      else scomo_on_component_op_done(a, id, 1411);
    }
    for (int i = 0; i < ntimers; i++) {
      if (timers[i].due <= now_ms(NULL)) { int id = timers[i].id; clear_timer(NULL, id); scomo_on_timer(a, id); break; }
    }
    usleep(1000); /* a real box sleeps until its next interrupt or timer */
  }
  char *status = scomo_status_json(a);
  size_t cur, peak;
  scomo_heap_stats(a, &cur, &peak);
  printf("%s\npeak heap %zu bytes\n", status ? status : "null", peak);
  free(status);
  scomo_destroy(a);
  return 0;
}
