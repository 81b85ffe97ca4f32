/*
 * native_agent.c — scomo-native-agent: a SCOMO device as a Linux program. It embeds Duktape
 * (scomo_duktape.c), runs dist/scomo-agent.es5.js and implements the host (scomo_host.h):
 *   flash            a 0xFF-filled file DIR/flash.bin (NOR rules enforced, like FileFlash)
 *   package storage  files in DIR/packages
 *   HTTP             libcurl multi interface; each received piece is one onHttpChunk event
 *   package 0        a UDP socket on --notify-port
 *   installers       a shell hook (targets/host-abi.md, "Installer hook")
 *   signatures       OpenSSL libcrypto against --trust-key files (pkgsig.c), streamed from the
 *                    package file a slice per loop turn
 * One poll() loop (curl_multi_poll with the UDP socket and installer pipes as extra fds).
 * Events are never delivered from inside a host callback: requests made by the agent are
 * queued and started by the loop, so the agent is never re-entered.
 */
#define _GNU_SOURCE
#include "hashes.h"
#include "pkgsig.h"
#include "scomo_host.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ options */

typedef struct {
  const char *server, *id, *client_user, *client_secret, *server_id, *server_secret;
  const char *auth, *encoding, *data, *bundle, *hook, *ca;
  int notify_port; /* -1: no UDP socket */
  double poll_interval_s;
  int once, stats, debug, status_lines;
  double timeout_s;
  size_t heap_limit;
  unsigned long long max_package_bytes; /* 0: no cap beyond the disk */
  uint32_t flash_size, flash_block;
  const char *trust_keys[16]; /* --trust-key, repeatable */
  int n_trust_keys;
  int require_signature;
  long long download_retries, download_backoff_ms; /* -1: the agent's default */
} options;

static options opt;

static void usage(FILE *f) {
  fprintf(f,
          "usage: scomo-native-agent --server URL --id DEVICEID --client-user U --client-secret S\n"
          "         --server-id ID --server-secret S2 [--auth basic|md5|hmac] [--encoding xml|wbxml]\n"
          "         [--data DIR] [--notify-port N] [--poll-interval S] [--once] [--bundle PATH]\n"
          "         [--installer-hook SCRIPT] [--ca FILE] [--stats] [--timeout S] [--heap-limit BYTES]\n"
          "         [--flash-size BYTES] [--flash-block BYTES] [--max-package-bytes N] [--status-lines] [--debug]\n"
          "         [--trust-key FILE]... [--require-signature] [--download-retries N] [--download-backoff-ms MS]\n"
          "--download-retries N: alternate-download retries without progress before the job fails (default 5);\n"
          "--download-backoff-ms MS: the first wait between them (default 1000, doubling up to 60 s).\n"
          "SIGUSR1 opens a session now; SIGTERM/SIGINT stop (exit 0, or 1 with --once).\n");
}

/* ------------------------------------------------------------------ log */

static void logf_(const char *level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "scomo [%s] ", level);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void host_log(void *ctx, scomo_log_level level, const char *msg) {
  (void)ctx;
  static const char *names[] = {"debug", "info", "warn", "error"};
  if (level == SCOMO_LOG_DEBUG && !opt.debug) return;
  logf_(names[level & 3], "%s", msg);
}

/* ------------------------------------------------------------------ clock */

static double mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000.0 + t.tv_nsec / 1e6;
}

static double host_now(void *ctx) {
  (void)ctx;
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (double)t.tv_sec * 1000.0 + (double)(t.tv_nsec / 1000000);
}

static int host_random(void *ctx, uint8_t *buf, uint32_t n) {
  (void)ctx;
  uint32_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(buf + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    got += (uint32_t)r;
  }
  return 0;
}

/* ------------------------------------------------------------------ flash file */

static int flash_fd = -1;

static int full_pread(int fd, uint8_t *buf, size_t len, off_t off) {
  while (len) {
    ssize_t r = pread(fd, buf, len, off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    buf += r, len -= (size_t)r, off += r;
  }
  return 0;
}

static int full_pwrite(int fd, const uint8_t *buf, size_t len, off_t off) {
  while (len) {
    ssize_t r = pwrite(fd, buf, len, off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    buf += r, len -= (size_t)r, off += r;
  }
  return 0;
}

static int flash_open(const char *path) {
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    uint8_t *blank = malloc(opt.flash_block);
    if (!blank) return -1;
    memset(blank, 0xff, opt.flash_block);
    for (uint32_t i = 0; i < opt.flash_size / opt.flash_block; i++) {
      if (full_pwrite(fd, blank, opt.flash_block, (off_t)i * opt.flash_block) != 0) {
        free(blank);
        return -1;
      }
    }
    free(blank);
    fsync(fd);
  }
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size != (off_t)opt.flash_size) {
    logf_("error", "flash file %s has %lld bytes, expected %u", path, (long long)st.st_size, opt.flash_size);
    close(fd);
    return -1;
  }
  return fd;
}

static int host_flash_read(void *ctx, uint32_t off, uint8_t *buf, uint32_t len) {
  (void)ctx;
  return full_pread(flash_fd, buf, len, off);
}

static int host_flash_program(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len) {
  (void)ctx;
  uint8_t tmp[4096];
  for (uint32_t done = 0; done < len;) {
    uint32_t n = len - done < sizeof tmp ? len - done : (uint32_t)sizeof tmp;
    if (full_pread(flash_fd, tmp, n, off + done) != 0) return -1;
    for (uint32_t i = 0; i < n; i++) {
      if (tmp[i] != 0xff) {
        logf_("error", "flash: programming a non-erased byte at %u", off + done + i);
        return -1;
      }
    }
    done += n;
  }
  return full_pwrite(flash_fd, buf, len, off);
}

static int host_flash_erase(void *ctx, uint32_t block) {
  (void)ctx;
  uint8_t *blank = malloc(opt.flash_block);
  if (!blank) return -1;
  memset(blank, 0xff, opt.flash_block);
  int rc = full_pwrite(flash_fd, blank, opt.flash_block, (off_t)block * opt.flash_block);
  free(blank);
  return rc;
}

/* ------------------------------------------------------------------ package storage */

static char pkg_dir[PATH_MAX + 16];

/* DIR/packages/<key with every byte outside [A-Za-z0-9._-] as %XX>; -1 when too long. */
static int pkg_path(const char *key, char *out, size_t n) {
  int w = snprintf(out, n, "%s/", pkg_dir);
  if (w < 0 || (size_t)w >= n) return -1;
  size_t at = (size_t)w;
  if (!*key) return -1;
  for (const unsigned char *k = (const unsigned char *)key; *k; k++) {
    if (at + 4 >= n || k - (const unsigned char *)key > 200) return -1;
    if ((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') || *k == '_' || *k == '-' ||
        (*k == '.' && k != (const unsigned char *)key))
      out[at++] = (char)*k;
    else
      at += (size_t)snprintf(out + at, n - at, "%%%02X", *k);
  }
  out[at] = 0;
  return 0;
}

static scomo_storage_status host_pkg_open(void *ctx, const char *key) {
  (void)ctx;
  char p[PATH_MAX + 640];
  if (pkg_path(key, p, sizeof p) != 0) return SCOMO_STORAGE_ERROR;
  int fd = open(p, O_RDWR | O_CREAT, 0644);
  if (fd < 0) return errno == ENOSPC ? SCOMO_STORAGE_NO_SPACE : SCOMO_STORAGE_ERROR;
  close(fd);
  return SCOMO_STORAGE_OK;
}

static double host_pkg_size(void *ctx, const char *key) {
  (void)ctx;
  char p[PATH_MAX + 640];
  struct stat st;
  if (pkg_path(key, p, sizeof p) != 0 || stat(p, &st) != 0) return 0;
  return (double)st.st_size;
}

static scomo_storage_status host_pkg_append(void *ctx, const char *key, const uint8_t *buf, uint32_t len) {
  char p[PATH_MAX + 640];
  if (pkg_path(key, p, sizeof p) != 0) return SCOMO_STORAGE_ERROR;
  if (opt.max_package_bytes && host_pkg_size(ctx, key) + len > (double)opt.max_package_bytes) return SCOMO_STORAGE_NO_SPACE;
  int fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return SCOMO_STORAGE_ERROR;
  scomo_storage_status rc = SCOMO_STORAGE_OK;
  for (uint32_t done = 0; done < len;) {
    ssize_t r = write(fd, buf + done, len - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      rc = errno == ENOSPC || errno == EDQUOT || errno == EFBIG ? SCOMO_STORAGE_NO_SPACE : SCOMO_STORAGE_ERROR;
      break;
    }
    done += (uint32_t)r;
  }
  if (close(fd) != 0 && rc == SCOMO_STORAGE_OK) rc = SCOMO_STORAGE_ERROR;
  return rc;
}

static int64_t host_pkg_read(void *ctx, const char *key, double off, uint8_t *buf, uint32_t len) {
  (void)ctx;
  char p[PATH_MAX + 640];
  if (pkg_path(key, p, sizeof p) != 0) return -1;
  int fd = open(p, O_RDONLY);
  if (fd < 0) return errno == ENOENT ? 0 : -1; /* no area yet: no bytes, like an empty one */
  int64_t got = 0;
  while (got < len) {
    ssize_t r = pread(fd, buf + got, len - (size_t)got, (off_t)off + got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      got = -1;
      break;
    }
    if (r == 0) break;
    got += r;
  }
  close(fd);
  return got;
}

static scomo_storage_status host_pkg_truncate(void *ctx, const char *key, double len) {
  (void)ctx;
  char p[PATH_MAX + 640];
  if (pkg_path(key, p, sizeof p) != 0) return SCOMO_STORAGE_ERROR;
  return truncate(p, (off_t)len) == 0 ? SCOMO_STORAGE_OK : SCOMO_STORAGE_ERROR;
}

static scomo_storage_status host_pkg_sync(void *ctx, const char *key) {
  (void)ctx;
  char p[PATH_MAX + 640];
  if (pkg_path(key, p, sizeof p) != 0) return SCOMO_STORAGE_ERROR;
  int fd = open(p, O_RDONLY);
  if (fd < 0) return SCOMO_STORAGE_ERROR;
  int rc = fsync(fd);
  close(fd);
  return rc == 0 ? SCOMO_STORAGE_OK : SCOMO_STORAGE_ERROR;
}

static void host_pkg_remove(void *ctx, const char *key) {
  (void)ctx;
  char p[PATH_MAX + 640];
  if (pkg_path(key, p, sizeof p) == 0) unlink(p);
}

/* ------------------------------------------------------------------ native hashes */

static void *host_hash_new(void *ctx, const char *alg) {
  (void)ctx;
  int md5 = !strcmp(alg, "md5");
  if (!md5 && strcmp(alg, "sha256")) return NULL;
  scomo_hash *h = malloc(sizeof *h);
  if (h) scomo_hash_init(h, md5);
  return h;
}

static void host_hash_update(void *ctx, void *h, const uint8_t *buf, uint32_t len) {
  (void)ctx;
  scomo_hash_update(h, buf, len);
}

static void host_hash_end(void *ctx, void *h, uint8_t *out) {
  (void)ctx;
  if (out) scomo_hash_final(h, out);
  free(h);
}

/* ------------------------------------------------------------------ agent + deferred events */

static scomo_agent *agent;

/* Completions produced inside host callbacks, delivered from the loop. */
typedef struct deferred {
  int kind; /* 1 install done, 2 component op done, 3 verify done */
  int id, code;
  struct deferred *next;
} deferred;
static deferred *deferred_head, *deferred_tail;

static void defer(int kind, int id, int code) {
  deferred *d = calloc(1, sizeof *d);
  if (!d) abort();
  d->kind = kind, d->id = id, d->code = code;
  if (deferred_tail) deferred_tail->next = d;
  else deferred_head = d;
  deferred_tail = d;
}

/* ------------------------------------------------------------------ HTTP (libcurl multi) */

typedef struct http_req {
  int id;
  CURL *easy;
  struct curl_slist *req_headers;
  uint8_t *body;
  int added, cancelled, responded;
  scomo_header resp[64];
  size_t n_resp;
  struct http_req *next;
} http_req;

static CURLM *multi;
static http_req *http_list;

static void http_free(http_req *r) {
  if (r->added) curl_multi_remove_handle(multi, r->easy);
  curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->req_headers);
  free(r->body);
  for (size_t i = 0; i < r->n_resp; i++) {
    free((void *)r->resp[i].name);
    free((void *)r->resp[i].value);
  }
  free(r);
}

static void http_clear_resp(http_req *r) {
  for (size_t i = 0; i < r->n_resp; i++) {
    free((void *)r->resp[i].name);
    free((void *)r->resp[i].value);
  }
  r->n_resp = 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  http_req *r = ud;
  size_t len = size * n;
  if (len >= 5 && !memcmp(data, "HTTP/", 5)) { /* a new response (after 1xx): start over */
    http_clear_resp(r);
    return len;
  }
  const char *colon = memchr(data, ':', len);
  if (!colon || r->n_resp == 64) return len;
  size_t nl = (size_t)(colon - data);
  const char *v = colon + 1, *end = data + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
  char *name = strndup(data, nl), *value = strndup(v, (size_t)(end - v));
  if (!name || !value) {
    free(name);
    free(value);
    return 0;
  }
  for (char *c = name; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
  r->resp[r->n_resp].name = name;
  r->resp[r->n_resp].value = value;
  r->n_resp++;
  return len;
}

static void http_respond(http_req *r) {
  if (r->responded) return;
  r->responded = 1;
  long status = 0;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  scomo_on_http_response(agent, r->id, (int)status, r->resp, r->n_resp);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  http_req *r = ud;
  if (r->cancelled) return 0; /* aborts the transfer; reaped after perform */
  http_respond(r);
  if (r->cancelled) return 0;
  scomo_on_http_chunk(agent, r->id, (const uint8_t *)data, size * n);
  return size * n;
}

static void host_http_request(void *ctx, int id, const char *method, const char *url, const scomo_header *hs,
                              size_t nh, const uint8_t *body, size_t blen) {
  (void)ctx;
  http_req *r = calloc(1, sizeof *r);
  if (!r || !(r->easy = curl_easy_init())) abort();
  r->id = id;
  CURL *e = r->easy;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  if (opt.ca) curl_easy_setopt(e, CURLOPT_CAINFO, opt.ca);
  int has_ct = 0;
  char line[8192];
  for (size_t i = 0; i < nh; i++) {
    if (!strcasecmp(hs[i].name, "content-type")) has_ct = 1;
    snprintf(line, sizeof line, "%s: %s", hs[i].name, hs[i].value);
    r->req_headers = curl_slist_append(r->req_headers, line);
  }
  r->req_headers = curl_slist_append(r->req_headers, "Expect:"); /* no 100-continue round trip */
  if (!strcmp(method, "HEAD")) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (!strcmp(method, "POST") || body) {
    if (!has_ct) r->req_headers = curl_slist_append(r->req_headers, "Content-Type:");
    r->body = malloc(blen ? blen : 1);
    if (!r->body) abort();
    if (blen) memcpy(r->body, body, blen);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, (char *)r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    if (strcmp(method, "POST")) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->req_headers);
  r->next = http_list;
  http_list = r;
}

static void host_http_cancel(void *ctx, int id) {
  (void)ctx;
  for (http_req *r = http_list; r; r = r->next)
    if (r->id == id) r->cancelled = 1;
}

/* Starts queued requests and frees cancelled ones (never from inside a curl callback). */
static void http_reap_and_start(void) {
  for (http_req **pp = &http_list; *pp;) {
    http_req *r = *pp;
    if (r->cancelled) {
      *pp = r->next;
      http_free(r);
      continue;
    }
    if (!r->added) {
      curl_multi_add_handle(multi, r->easy);
      r->added = 1;
    }
    pp = &r->next;
  }
}

static void http_finish_done(void) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    http_req *r = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    CURLcode res = m->data.result;
    for (http_req **pp = &http_list; *pp; pp = &(*pp)->next) {
      if (*pp == r) {
        *pp = r->next;
        break;
      }
    }
    int id = r->id, cancelled = r->cancelled;
    if (!cancelled && res == CURLE_OK) http_respond(r);
    cancelled = r->cancelled;
    char reason[256];
    snprintf(reason, sizeof reason, "%s", curl_easy_strerror(res));
    http_free(r);
    if (cancelled) continue;
    if (res == CURLE_OK) scomo_on_http_end(agent, id);
    else scomo_on_http_error(agent, id, reason);
  }
}

/* ------------------------------------------------------------------ timers */

typedef struct timer {
  int id;
  double due;
  struct timer *next;
} timer;
static timer *timers;

static void host_clear_timer(void *ctx, int id) {
  (void)ctx;
  for (timer **pp = &timers; *pp; pp = &(*pp)->next) {
    if ((*pp)->id == id) {
      timer *t = *pp;
      *pp = t->next;
      free(t);
      return;
    }
  }
}

static void host_set_timer(void *ctx, int id, double ms) {
  host_clear_timer(ctx, id);
  timer *t = calloc(1, sizeof *t);
  if (!t) abort();
  t->id = id;
  t->due = mono_ms() + ms;
  t->next = timers;
  timers = t;
}

/* Fires the earliest due timer; 1 when one fired. */
static int fire_one_timer(void) {
  double now = mono_ms();
  timer **best = NULL;
  for (timer **pp = &timers; *pp; pp = &(*pp)->next)
    if ((*pp)->due <= now && (!best || (*pp)->due < (*best)->due)) best = pp;
  if (!best) return 0;
  timer *t = *best;
  *best = t->next;
  int id = t->id;
  free(t);
  scomo_on_timer(agent, id);
  return 1;
}

/* ------------------------------------------------------------------ installer hook */

typedef struct hook_run {
  int kind; /* 1 install, 2 component op */
  int id;
  char op[16];
  pid_t pid;
  int fd;
  char out[65536];
  size_t n;
  struct hook_run *next;
} hook_run;
static hook_run *hooks;
static char data_dir[PATH_MAX];

static void set_env(const char *k, const char *v) {
  if (v) setenv(k, v, 1);
  else unsetenv(k);
}

/* Spawns `hook arg1 arg2` with stdout on a pipe; env is set in the child by `child_env`. */
static hook_run *hook_spawn(int kind, int id, const char *arg1, const char *arg2, const scomo_install_request *req) {
  int p[2];
  if (pipe(p) != 0) return NULL;
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return NULL;
  }
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    set_env("SCOMO_DATA_DIR", data_dir);
    if (req) {
      char size[32];
      snprintf(size, sizeof size, "%.0f", req->size);
      set_env("SCOMO_PKG_ID", req->pkg_id);
      set_env("SCOMO_PKG_TYPE", req->pkg_type);
      set_env("SCOMO_ENV_TYPE", req->env_type);
      set_env("SCOMO_INSTALL_PARAMS", req->install_params);
      set_env("SCOMO_PACKAGE_FILE", arg2);
      set_env("SCOMO_PACKAGE_SIZE", size);
      set_env("SCOMO_ACTIVATE", req->activate ? "1" : "0");
      set_env("SCOMO_COMPONENT_ID", req->component_id);
    } else {
      set_env("SCOMO_COMPONENT_ID", arg2);
    }
    execl(opt.hook, opt.hook, arg1, arg2, (char *)NULL);
    fprintf(stderr, "scomo [error] installer hook %s: %s\n", opt.hook, strerror(errno));
    _exit(127);
  }
  close(p[1]);
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  fcntl(p[0], F_SETFD, FD_CLOEXEC);
  hook_run *h = calloc(1, sizeof *h);
  if (!h) abort();
  h->kind = kind, h->id = id, h->pid = pid, h->fd = p[0];
  snprintf(h->op, sizeof h->op, "%s", arg1);
  h->next = hooks;
  hooks = h;
  return h;
}

static void host_install(void *ctx, int id, const scomo_install_request *req) {
  (void)ctx;
  if (!opt.hook) {
    logf_("warn", "no --installer-hook: install %d of %s accepted without installing", id, req->storage_key);
    defer(1, id, 1200);
    return;
  }
  char p[PATH_MAX + 640];
  if (pkg_path(req->storage_key, p, sizeof p) != 0 || !hook_spawn(1, id, "install", p, req)) defer(1, id, 1405);
}

static void host_component_op(void *ctx, int id, const char *op, const char *component_id) {
  (void)ctx;
  int fail = !strcmp(op, "activate") ? 1409 : !strcmp(op, "deactivate") ? 1410 : 1408;
  if (!opt.hook) {
    defer(2, id, 1200);
    return;
  }
  if (!hook_spawn(2, id, op, component_id, NULL)) defer(2, id, fail);
}

/* Copies the string value of "key" from flat JSON; "" when absent. */
static void json_string_field(const char *json, const char *key, char *out, size_t n);
static char *last_json_line(char *out);

/* `hook install-status <pkgId>`: exit 0 with a JSON result line = committed. Synchronous. */
static int host_install_status(void *ctx, const char *pkg_id, scomo_install_result *out) {
  (void)ctx;
  static char buf[8192], id[256], name[256], version[128], description[512];
  int p[2];
  if (pipe(p) != 0) return 0;
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return 0;
  }
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    set_env("SCOMO_DATA_DIR", data_dir);
    set_env("SCOMO_PKG_ID", pkg_id);
    execl(opt.hook, opt.hook, "install-status", pkg_id, (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  size_t n = 0;
  for (;;) {
    ssize_t r = read(p[0], buf + n, sizeof buf - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
    if (n == sizeof buf - 1) break;
  }
  close(p[0]);
  buf[n] = 0;
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) return 0;
  char *json = last_json_line(buf);
  if (!json) return 0;
  const char *k = strstr(json, "\"resultCode\"");
  out->result_code = k && (k = strchr(k, ':')) ? (int)strtol(k + 1, NULL, 10) : 1200;
  json_string_field(json, "id", id, sizeof id);
  json_string_field(json, "name", name, sizeof name);
  json_string_field(json, "version", version, sizeof version);
  json_string_field(json, "description", description, sizeof description);
  out->id = id[0] ? id : NULL;
  out->name = name;
  out->version = version;
  out->description = description[0] ? description : NULL;
  return 1;
}

/* The last line of out that starts with '{' (in place), or NULL. */
static char *last_json_line(char *out) {
  char *found = NULL;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
    while (*line == ' ' || *line == '\t') line++;
    if (*line == '{') found = line;
  }
  return found;
}

static void hook_finished(hook_run *h) {
  int st = 0;
  while (waitpid(h->pid, &st, 0) < 0 && errno == EINTR) {
  }
  int exit_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  h->out[h->n] = 0;
  char *json = last_json_line(h->out);
  if (h->kind == 1) {
    int rc = json ? scomo_on_install_done_json(agent, h->id, json) : -2;
    if (rc == -2) {
      if (json) logf_("warn", "installer hook printed bad JSON: %s", json);
      scomo_install_result r = {exit_ok ? 1200 : 1405, NULL, NULL, NULL, NULL};
      scomo_on_install_done(agent, h->id, &r);
    }
  } else {
    int fail = !strcmp(h->op, "activate") ? 1409 : !strcmp(h->op, "deactivate") ? 1410 : 1408;
    int code = exit_ok ? 1200 : fail;
    const char *k = json ? strstr(json, "\"resultCode\"") : NULL;
    if (k && (k = strchr(k, ':'))) code = (int)strtol(k + 1, NULL, 10);
    scomo_on_component_op_done(agent, h->id, code);
  }
}

/* Reads a readable hook pipe; on EOF, completes the request. */
static void hook_read(hook_run *h) {
  for (;;) {
    char buf[4096];
    ssize_t r = read(h->fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return; /* EAGAIN */
    if (r == 0) break;
    size_t room = sizeof h->out - 1 - h->n; /* output beyond 64 KiB is dropped */
    size_t take = (size_t)r < room ? (size_t)r : room;
    memcpy(h->out + h->n, buf, take);
    h->n += take;
  }
  close(h->fd);
  for (hook_run **pp = &hooks; *pp; pp = &(*pp)->next) {
    if (*pp == h) {
      *pp = h->next;
      break;
    }
  }
  hook_finished(h);
  free(h);
}

/* ------------------------------------------------------------------ signature verification */

static scomo_trust *trust;

/* A verification in progress: the loop feeds it VERIFY_SLICE bytes per turn, so HTTP, timers
 * and package 0 keep flowing while a large package is checked, and only one chunk is in memory. */
typedef struct verify_job {
  int id;
  int fd;
  double size, done;
  char pkg_id[64]; /* for log lines */
  scomo_sigcheck *check;
  struct verify_job *next;
} verify_job;
static verify_job *verify_head, *verify_tail;

#define VERIFY_CHUNK (64 * 1024)
#define VERIFY_SLICE (1024 * 1024)

static void host_verify_package(void *ctx, int id, const scomo_verify_request *req) {
  (void)ctx;
  char why[256];
  if (!scomo_trust_count(trust)) {
    logf_("warn", "verify %d of package %s: no trusted key configured (--trust-key): 1407", id, req->pkg_id);
    defer(3, id, SCOMO_VERIFY_BAD);
    return;
  }
  scomo_sigcheck *c = scomo_sigcheck_begin(trust, req->alg, req->signature_b64, req->sha256, why, sizeof why);
  if (!c) {
    logf_("warn", "verify %d of package %s: %s: 1407", id, req->pkg_id, why);
    defer(3, id, SCOMO_VERIFY_BAD);
    return;
  }
  char p[PATH_MAX + 640];
  int fd = pkg_path(req->storage_key, p, sizeof p) == 0 ? open(p, O_RDONLY | O_CLOEXEC) : -1;
  if (fd < 0) {
    logf_("warn", "verify %d of package %s: cannot open stored package %s: 1407", id, req->pkg_id, req->storage_key);
    scomo_sigcheck_free(c);
    defer(3, id, SCOMO_VERIFY_BAD);
    return;
  }
  verify_job *j = calloc(1, sizeof *j);
  if (!j) abort();
  j->id = id, j->fd = fd, j->size = req->size, j->check = c;
  snprintf(j->pkg_id, sizeof j->pkg_id, "%s", req->pkg_id);
  if (verify_tail) verify_tail->next = j;
  else verify_head = j;
  verify_tail = j;
}

/* Feeds the first job one slice; completes it at the end of the file. 1 while jobs remain. */
static int verify_step(void) {
  static uint8_t buf[VERIFY_CHUNK];
  verify_job *j = verify_head;
  if (!j) return 0;
  int finished = 0, code = SCOMO_VERIFY_BAD;
  char why[256] = "read error";
  for (size_t fed = 0; fed < VERIFY_SLICE;) {
    ssize_t r = pread(j->fd, buf, sizeof buf, (off_t)j->done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      snprintf(why, sizeof why, "cannot read the stored package: %s", strerror(errno));
      scomo_sigcheck_free(j->check);
      finished = 1;
      break;
    }
    if (r == 0) {
      if (j->done != j->size) {
        snprintf(why, sizeof why, "stored package has %.0f bytes, expected %.0f", j->done, j->size);
        scomo_sigcheck_free(j->check);
      } else {
        code = scomo_sigcheck_end(j->check, why, sizeof why);
      }
      finished = 1;
      break;
    }
    scomo_sigcheck_update(j->check, buf, (size_t)r);
    j->done += (double)r;
    fed += (size_t)r;
  }
  if (!finished) return 1;
  verify_head = j->next;
  if (!verify_head) verify_tail = NULL;
  close(j->fd);
  logf_(code == SCOMO_VERIFY_OK ? "info" : "warn", "verify %d of package %s: %s: %d", j->id, j->pkg_id, why, code);
  int id = j->id;
  free(j);
  scomo_on_verify_done(agent, id, code); /* from the loop, never inside a host callback */
  return verify_head != NULL;
}

/* ------------------------------------------------------------------ package 0 (UDP) */

static int udp_fd = -1;

static int udp_open(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  sa.sin_port = htons((uint16_t)port);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  socklen_t sl = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &sl);
  opt.notify_port = ntohs(sa.sin_port);
  return fd;
}

static void udp_read(void) {
  uint8_t buf[2048]; /* package 0 is well under a datagram's usual MTU */
  for (;;) {
    ssize_t n = recv(udp_fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    scomo_on_package0(agent, buf, (size_t)n);
  }
}

/* ------------------------------------------------------------------ config JSON */

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
    else if (*c < 0x20) fprintf(f, "\\u%04x", *c);
    else fputc(*c, f);
  }
  fputc('"', f);
}

static char *config_json(void) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) abort();
  fputs("{\"deviceId\":", f);
  json_str(f, opt.id);
  fputs(",\"server\":{\"url\":", f);
  json_str(f, opt.server);
  fputs(",\"serverId\":", f);
  json_str(f, opt.server_id);
  fputs(",\"clientUser\":", f);
  json_str(f, opt.client_user);
  fputs(",\"clientSecret\":", f);
  json_str(f, opt.client_secret);
  fputs(",\"serverSecret\":", f);
  json_str(f, opt.server_secret);
  fputs(",\"auth\":", f);
  json_str(f, opt.auth);
  fputs("},\"encoding\":", f);
  json_str(f, opt.encoding);
  /* Like `scomo device`: optional fields only when given, DevInfo from the agent's defaults. */
  if (opt.poll_interval_s > 0) fprintf(f, ",\"pollIntervalMs\":%.0f", opt.poll_interval_s * 1000);
  if (opt.notify_port >= 0) fprintf(f, ",\"notifyPort\":%d", opt.notify_port);
  if (opt.require_signature) fputs(",\"requireSignature\":true", f);
  if (opt.download_retries >= 0 || opt.download_backoff_ms >= 0) {
    fputs(",\"download\":{", f);
    if (opt.download_retries >= 0) fprintf(f, "\"maxRetries\":%lld", opt.download_retries);
    if (opt.download_backoff_ms >= 0)
      fprintf(f, "%s\"backoffBaseMs\":%lld", opt.download_retries >= 0 ? "," : "", opt.download_backoff_ms);
    fputs("}", f);
  }
  fputs("}", f);
  fclose(f);
  return buf;
}

/* ------------------------------------------------------------------ main */

static volatile sig_atomic_t stop_signal, connect_signal;
static void on_signal(int s) { stop_signal = s; }
static void on_connect_signal(int s) { (void)s; connect_signal = 1; }

/* --status-lines: one JSON line on stdout whenever idle() changes (drivers such as tests wait on it). */
static void report_idle_change(void) {
  static int last = -1;
  int idle = scomo_idle(agent);
  if (idle == last) return;
  last = idle;
  char *st = scomo_status_json(agent);
  size_t cur, peak;
  scomo_heap_stats(agent, &cur, &peak);
  printf("{\"idle\":%s,\"peak_heap_bytes\":%zu,\"status\":%s}\n", idle ? "true" : "false", peak, st ? st : "null");
  fflush(stdout);
  free(st);
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 65536;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nb;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    if (r == 0) break;
    n += r;
  }
  fclose(f);
  *len = n;
  return buf;
}

static const char *default_bundle(void) {
  static char p[PATH_MAX + 64];
  const char *env = getenv("SCOMO_BUNDLE");
  if (env) return env;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return "dist/scomo-agent.es5.js";
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if (slash) *slash = 0;
  snprintf(p, sizeof p, "%s/../../../dist/scomo-agent.es5.js", exe); /* targets/c/build -> repo root */
  return p;
}

/* A numeric option's value, strictly: digits only (and one decimal point when `decimal`), so no
 * sign, blank, exponent, hex, inf or nan gets through strtod, and within [min, max] (min >= 0; max at most
 * 2^53, where doubles still hold every whole number). Otherwise one line and exit 2, before
 * anything starts. */
static double num_arg(const char *name, const char *v, int decimal, double min, double max) {
  const char *c = v;
  int digits = 0, points = 0;
  for (; *c; c++) {
    if (*c >= '0' && *c <= '9') digits++;
    else if (*c == '.' && decimal && !points++ && digits) continue;
    else break;
  }
  double d = !*c && digits && c[-1] != '.' ? strtod(v, NULL) : -1;
  if (d < min || d > max) {
    fprintf(stderr, "scomo-native-agent: %s must be a %s from %.0f to %.0f, got '%.40s'\n", name,
            decimal ? "number" : "whole number", min, max, v);
    exit(2);
  }
  return d;
}

#define MAX_EXACT 9007199254740991.0 /* 2^53 - 1 */
#define YEAR_S 31536000.0

static int parse_args(int argc, char **argv) {
  opt.auth = "md5";
  opt.encoding = "xml";
  opt.data = ".scomo-data/native";
  opt.notify_port = -1;
  opt.flash_size = 1024 * 1024;
  opt.flash_block = 4096;
  opt.download_retries = opt.download_backoff_ms = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VAL(name, field)                                      \
  if (!strcmp(a, name)) {                                     \
    if (!v) {                                                 \
      fprintf(stderr, "scomo-native-agent: %s needs a value\n", name); \
      return -1;                                              \
    }                                                         \
    field;                                                    \
    i++;                                                      \
    continue;                                                 \
  }
    VAL("--server", opt.server = v)
    VAL("--id", opt.id = v)
    VAL("--client-user", opt.client_user = v)
    VAL("--client-secret", opt.client_secret = v)
    VAL("--server-id", opt.server_id = v)
    VAL("--server-secret", opt.server_secret = v)
    VAL("--auth", opt.auth = v)
    VAL("--encoding", opt.encoding = v)
    VAL("--data", opt.data = v)
    VAL("--notify-port", opt.notify_port = (int)num_arg(a, v, 0, 0, 65535))
    VAL("--poll-interval", opt.poll_interval_s = num_arg(a, v, 1, 0, YEAR_S))
    VAL("--bundle", opt.bundle = v)
    VAL("--installer-hook", opt.hook = v)
    VAL("--ca", opt.ca = v)
    VAL("--timeout", opt.timeout_s = num_arg(a, v, 1, 0, YEAR_S))
    VAL("--heap-limit", opt.heap_limit = (size_t)num_arg(a, v, 0, 0, SIZE_MAX < MAX_EXACT ? (double)SIZE_MAX : MAX_EXACT))
    VAL("--max-package-bytes", opt.max_package_bytes = (unsigned long long)num_arg(a, v, 0, 0, MAX_EXACT))
    VAL("--flash-size", opt.flash_size = (uint32_t)num_arg(a, v, 0, 1, UINT32_MAX))
    VAL("--flash-block", opt.flash_block = (uint32_t)num_arg(a, v, 0, 1, 16 << 20))
    VAL("--download-retries", opt.download_retries = (long long)num_arg(a, v, 0, 0, 1000))
    VAL("--download-backoff-ms", opt.download_backoff_ms = (long long)num_arg(a, v, 0, 0, 3600000))
#undef VAL
    if (!strcmp(a, "--trust-key")) {
      if (!v) {
        fprintf(stderr, "scomo-native-agent: --trust-key needs a value\n");
        return -1;
      }
      if (opt.n_trust_keys == 16) {
        fprintf(stderr, "scomo-native-agent: at most 16 --trust-key files\n");
        return -1;
      }
      opt.trust_keys[opt.n_trust_keys++] = v;
      i++;
      continue;
    }
    if (!strcmp(a, "--once")) opt.once = 1;
    else if (!strcmp(a, "--require-signature")) opt.require_signature = 1;
    else if (!strcmp(a, "--stats")) opt.stats = 1;
    else if (!strcmp(a, "--debug")) opt.debug = 1;
    else if (!strcmp(a, "--status-lines")) opt.status_lines = 1;
    else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    } else {
      fprintf(stderr, "scomo-native-agent: unknown option %s\n", a);
      return -1;
    }
  }
  const char *missing = !opt.server ? "--server" : !opt.id ? "--id" : !opt.client_user ? "--client-user"
                        : !opt.client_secret ? "--client-secret" : !opt.server_id ? "--server-id"
                        : !opt.server_secret ? "--server-secret" : NULL;
  if (missing) {
    fprintf(stderr, "scomo-native-agent: %s is required\n", missing);
    return -1;
  }
  if (strcmp(opt.auth, "basic") && strcmp(opt.auth, "md5") && strcmp(opt.auth, "hmac")) {
    fprintf(stderr, "scomo-native-agent: --auth must be basic, md5 or hmac\n");
    return -1;
  }
  if (strcmp(opt.encoding, "xml") && strcmp(opt.encoding, "wbxml")) {
    fprintf(stderr, "scomo-native-agent: --encoding must be xml or wbxml\n");
    return -1;
  }
  if (opt.flash_size % opt.flash_block) {
    fprintf(stderr, "scomo-native-agent: --flash-size must be a multiple of --flash-block\n");
    return -1;
  }
  return 0;
}

static int mkdirs(const char *path) {
  char p[PATH_MAX + 640];
  snprintf(p, sizeof p, "%s", path);
  for (char *s = p + 1; *s; s++) {
    if (*s == '/') {
      *s = 0;
      if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
      *s = '/';
    }
  }
  return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Copies the string value of "key" from flat JSON (status); "" when absent. */
static void json_string_field(const char *json, const char *key, char *out, size_t n) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *s = strstr(json, pat);
  out[0] = 0;
  if (!s) return;
  s += strlen(pat);
  size_t i = 0;
  for (; *s && *s != '"' && i + 1 < n; s++) {
    if (*s == '\\' && s[1]) s++;
    out[i++] = *s;
  }
  out[i] = 0;
}

static int finish(int code, const char *reason) {
  if (reason) fprintf(stderr, "%s\n", reason);
  if (opt.stats && agent) {
    size_t cur, peak;
    scomo_heap_stats(agent, &cur, &peak);
    char *st = scomo_status_json(agent);
    printf("{\"peak_heap_bytes\":%zu,\"current_heap_bytes\":%zu,\"status\":%s}\n", peak, cur, st ? st : "null");
    fflush(stdout);
    free(st);
  }
  return code;
}

/* --once: 0 ok, 1 failed, -1 keep going. */
static int once_outcome(char *reason, size_t n) {
  char *st = scomo_status_json(agent);
  if (!st) {
    snprintf(reason, n, "once: failed: status() threw");
    return 1;
  }
  int ok = strstr(st, "\"lastSessionOk\":true") != NULL;
  int failed = strstr(st, "\"lastSessionOk\":false") != NULL && strstr(st, "\"inSession\":false") != NULL;
  int idle = scomo_idle(agent);
  int outcome = -1;
  if (failed || (idle && !ok)) {
    char err[400];
    json_string_field(st, "lastError", err, sizeof err);
    snprintf(reason, n, "once: failed: %s", err[0] ? err : failed ? "session failed" : "agent idle without a successful session");
    outcome = 1;
  } else if (idle && ok) {
    snprintf(reason, n, "once: ok");
    outcome = 0;
  }
  free(st);
  return outcome;
}

int main(int argc, char **argv) {
  if (parse_args(argc, argv) != 0) {
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGUSR1, on_connect_signal); /* kill -USR1: open a session now (Agent.connect) */

  if (mkdirs(opt.data) != 0 || !realpath(opt.data, data_dir)) return finish(1, "cannot create the --data directory");
  snprintf(pkg_dir, sizeof pkg_dir, "%s/packages", data_dir);
  if (mkdirs(pkg_dir) != 0) return finish(1, "cannot create the package directory");
  char flash_path[PATH_MAX + 16];
  snprintf(flash_path, sizeof flash_path, "%s/flash.bin", data_dir);
  if ((flash_fd = flash_open(flash_path)) < 0) return finish(1, "cannot open the flash file");

  if (opt.notify_port >= 0) {
    if ((udp_fd = udp_open(opt.notify_port)) < 0) return finish(1, "cannot bind the --notify-port UDP socket");
    logf_("info", "notify: listening on udp port %d", opt.notify_port);
  }

  const char *bundle_path = opt.bundle ? opt.bundle : default_bundle();
  size_t bundle_len = 0;
  char *bundle = read_file(bundle_path, &bundle_len);
  if (!bundle) {
    char r[PATH_MAX + 256];
    snprintf(r, sizeof r, "cannot read the bundle %s (run npm run build)", bundle_path);
    return finish(1, r);
  }

  if (!(trust = scomo_trust_new())) return finish(1, "out of memory");
  for (int i = 0; i < opt.n_trust_keys; i++) {
    char why[PATH_MAX + 128];
    int n = scomo_trust_add_file(trust, opt.trust_keys[i], why, sizeof why);
    if (n < 0) {
      char r[PATH_MAX + 160];
      snprintf(r, sizeof r, "cannot load --trust-key: %s", why);
      return finish(1, r);
    }
    logf_("info", "verify: trusting %d key(s) from %s", n, opt.trust_keys[i]);
  }

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(multi = curl_multi_init())) return finish(1, "cannot initialise libcurl");

  static scomo_host host;
  host.flash_size = opt.flash_size;
  host.flash_block_size = opt.flash_block;
  host.flash_read = host_flash_read;
  host.flash_program = host_flash_program;
  host.flash_erase = host_flash_erase;
  host.pkg_open = host_pkg_open;
  host.pkg_append = host_pkg_append;
  host.pkg_read = host_pkg_read;
  host.pkg_size = host_pkg_size;
  host.pkg_truncate = host_pkg_truncate;
  host.pkg_sync = host_pkg_sync;
  host.pkg_remove = host_pkg_remove;
  host.now_ms = host_now;
  host.random_bytes = host_random;
  host.log = host_log;
  host.http_request = host_http_request;
  host.http_cancel = host_http_cancel;
  host.set_timer = host_set_timer;
  host.clear_timer = host_clear_timer;
  host.install = host_install;
  host.component_op = host_component_op;
  host.install_status = opt.hook ? host_install_status : NULL;
  host.hash_new = host_hash_new;
  host.hash_update = host_hash_update;
  host.hash_end = host_hash_end;
  host.verify_package = host_verify_package;

  char err[1200];
  char *cfg = config_json();
  agent = scomo_create(&host, bundle, bundle_len, cfg, opt.heap_limit, err, sizeof err);
  free(cfg);
  free(bundle);
  if (!agent) {
    char r[1300];
    snprintf(r, sizeof r, "cannot start the agent: %s", err);
    return finish(1, r);
  }
  if (scomo_boot(agent) != 0) return finish(1, "boot() threw (see the log)");

  double deadline = opt.timeout_s > 0 ? mono_ms() + opt.timeout_s * 1000 : 0;
  char reason[512];
  for (;;) {
    if (stop_signal) return finish(opt.once ? 1 : 0, "stopped by a signal");
    /* Deliver what host callbacks produced, then timers; each may queue more work. */
    while (deferred_head) {
      deferred *d = deferred_head;
      deferred_head = d->next;
      if (!deferred_head) deferred_tail = NULL;
      if (d->kind == 1) {
        scomo_install_result r = {d->code, NULL, NULL, NULL, NULL};
        scomo_on_install_done(agent, d->id, &r);
      } else if (d->kind == 3) {
        scomo_on_verify_done(agent, d->id, d->code);
      } else {
        scomo_on_component_op_done(agent, d->id, d->code);
      }
      free(d);
    }
    while (fire_one_timer()) {
    }
    if (deferred_head) continue;
    if (connect_signal) {
      connect_signal = 0;
      scomo_connect(agent);
      continue;
    }
    if (opt.status_lines) report_idle_change();
    if (opt.once) {
      int o = once_outcome(reason, sizeof reason);
      if (o >= 0) return finish(o, reason);
    }
    if (deadline && mono_ms() > deadline) return finish(1, opt.once ? "once: failed: timeout" : "timeout");

    http_reap_and_start();
    struct curl_waitfd extra[65];
    hook_run *hook_of[65];
    unsigned nx = 0;
    if (udp_fd >= 0) {
      extra[nx].fd = udp_fd, extra[nx].events = CURL_WAIT_POLLIN, extra[nx].revents = 0;
      hook_of[nx++] = NULL;
    }
    for (hook_run *h = hooks; h && nx < 65; h = h->next) {
      extra[nx].fd = h->fd, extra[nx].events = CURL_WAIT_POLLIN, extra[nx].revents = 0;
      hook_of[nx++] = h;
    }
    int wait_ms = verify_head ? 0 : 1000; /* a verification in progress runs a slice per turn */
    double now = mono_ms();
    for (timer *t = timers; t; t = t->next) {
      double d = t->due - now;
      if (d < wait_ms) wait_ms = d < 0 ? 0 : (int)d + 1;
    }
    curl_multi_poll(multi, extra, nx, wait_ms, NULL);
    int running;
    curl_multi_perform(multi, &running);
    http_finish_done();
    http_reap_and_start();
    for (unsigned i = 0; i < nx; i++) {
      if (!extra[i].revents) continue;
      if (!hook_of[i]) udp_read();
      else hook_read(hook_of[i]);
    }
    verify_step();
  }
}
