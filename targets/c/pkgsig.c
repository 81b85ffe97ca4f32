/*
 * pkgsig.c — package signature verification with OpenSSL libcrypto (see pkgsig.h).
 *
 * One EVP_DigestVerify context per trusted key of the algorithm's key type, all fed the same
 * chunks, so several trusted keys cost one read of the package. OpenSSL's error queue is
 * cleared after every failing call: it is per thread and would otherwise grow.
 */
#include "pkgsig.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/core_names.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRUSTED 16
/* An RSA-8192 signature is 1,024 bytes; SIGNATURE_ALGS accept at most 2,048 base64 characters. */
#define MAX_SIG_B64 2048
#define MIN_RSA_BITS 2048

struct scomo_trust {
  EVP_PKEY *keys[MAX_TRUSTED];
  size_t n;
};

typedef enum { ALG_ECDSA_P256, ALG_RSA_PKCS1, ALG_RSA_PSS } sig_alg;

struct scomo_sigcheck {
  EVP_MD_CTX *ctx[MAX_TRUSTED];
  size_t n;
  EVP_MD_CTX *sha; /* the plain SHA-256, compared with the agent's sha256 when given */
  uint8_t want_sha[32];
  int have_want_sha;
  uint8_t sig[MAX_SIG_B64 / 4 * 3];
  size_t sig_len;
};

static void set_why(char *why, size_t n, const char *fmt, const char *arg) {
  if (why && n) snprintf(why, n, fmt, arg ? arg : "");
}

scomo_trust *scomo_trust_new(void) { return calloc(1, sizeof(scomo_trust)); }

void scomo_trust_free(scomo_trust *t) {
  if (!t) return;
  for (size_t i = 0; i < t->n; i++) EVP_PKEY_free(t->keys[i]);
  free(t);
}

size_t scomo_trust_count(const scomo_trust *t) { return t ? t->n : 0; }

int scomo_trust_add_file(scomo_trust *t, const char *path, char *err, size_t err_len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    set_why(err, err_len, "cannot read trusted key file %s", path);
    return -1;
  }
  BIO *bio = BIO_new_fp(f, BIO_CLOSE);
  if (!bio) {
    fclose(f);
    set_why(err, err_len, "out of memory reading %s", path);
    return -1;
  }
  int added = 0, bad = 0;
  for (;;) {
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    if (!PEM_read_bio(bio, &name, &header, &data, &len)) break; /* end of file (or garbage) */
    const unsigned char *p = data;
    EVP_PKEY *k = NULL;
    if (!strcmp(name, "PUBLIC KEY")) {
      k = d2i_PUBKEY(NULL, &p, len);
    } else if (!strcmp(name, "CERTIFICATE")) {
      X509 *x = d2i_X509(NULL, &p, len);
      if (x) k = X509_get_pubkey(x);
      X509_free(x);
    } else {
      bad = 1; /* e.g. a private key given by mistake: refuse rather than ignore */
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (bad) break;
    if (!k) {
      bad = 1;
      break;
    }
    if (t->n == MAX_TRUSTED) {
      EVP_PKEY_free(k);
      BIO_free(bio);
      ERR_clear_error();
      set_why(err, err_len, "more than 16 trusted keys (at %s)", path);
      return -1;
    }
    t->keys[t->n++] = k;
    added++;
  }
  BIO_free(bio);
  ERR_clear_error();
  if (bad || !added) {
    set_why(err, err_len, "%s: expected PEM \"PUBLIC KEY\" or \"CERTIFICATE\" blocks", path);
    return -1;
  }
  return added;
}

/* ---- base64 ---- */

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

long scomo_base64_decode(const char *in, uint8_t *out, size_t out_len) {
  size_t n = strlen(in);
  if (n == 0 || n % 4 || n / 4 * 3 > out_len) return -1;
  size_t pad = in[n - 1] == '=' ? (in[n - 2] == '=' ? 2 : 1) : 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int last = i + 4 == n;
    int v[4];
    for (int j = 0; j < 4; j++) {
      /* '=' only in the last quad's padding positions. */
      if (last && j >= 4 - (int)pad) {
        v[j] = 0;
        continue;
      }
      v[j] = b64_value((unsigned char)in[i + j]);
      if (v[j] < 0) return -1;
    }
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    out[o++] = (uint8_t)(w >> 16);
    if (!last || pad < 2) out[o++] = (uint8_t)(w >> 8);
    if (!last || pad < 1) out[o++] = (uint8_t)w;
  }
  return (long)o;
}

/* ---- verification ---- */

static int parse_alg(const char *alg, sig_alg *out) {
  if (!strcmp(alg, "ecdsa-p256-sha256")) *out = ALG_ECDSA_P256;
  else if (!strcmp(alg, "rsa-pkcs1-sha256")) *out = ALG_RSA_PKCS1;
  else if (!strcmp(alg, "rsa-pss-sha256")) *out = ALG_RSA_PSS;
  else return -1;
  return 0;
}

static int is_p256(EVP_PKEY *k) {
  if (EVP_PKEY_base_id(k) != EVP_PKEY_EC) return 0;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  char group[64];
  size_t glen = 0;
  if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen)) {
    ERR_clear_error();
    return 0;
  }
  return !strcmp(group, "prime256v1") || !strcmp(group, "P-256");
#else
  return EVP_PKEY_bits(k) == 256;
#endif
}

/* Whether key k can check signatures of alg. */
static int key_fits(EVP_PKEY *k, sig_alg alg) {
  if (alg == ALG_ECDSA_P256) return is_p256(k);
  int id = EVP_PKEY_base_id(k);
  if (id == EVP_PKEY_RSA_PSS) return alg == ALG_RSA_PSS && EVP_PKEY_bits(k) >= MIN_RSA_BITS;
  return id == EVP_PKEY_RSA && EVP_PKEY_bits(k) >= MIN_RSA_BITS;
}

static int hex_nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void scomo_sigcheck_free(scomo_sigcheck *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) EVP_MD_CTX_free(c->ctx[i]);
  EVP_MD_CTX_free(c->sha);
  free(c);
}

scomo_sigcheck *scomo_sigcheck_begin(const scomo_trust *t, const char *alg, const char *sig_b64,
                                     const char *sha256_hex, char *why, size_t why_len) {
  sig_alg a;
  if (!alg || parse_alg(alg, &a) != 0) {
    set_why(why, why_len, "unknown signature algorithm \"%s\"", alg);
    return NULL;
  }
  if (!sig_b64 || strlen(sig_b64) > MAX_SIG_B64) {
    set_why(why, why_len, "signature missing or longer than 2048 base64 characters%s", NULL);
    return NULL;
  }
  scomo_sigcheck *c = calloc(1, sizeof *c);
  if (!c) {
    set_why(why, why_len, "out of memory%s", NULL);
    return NULL;
  }
  long sl = scomo_base64_decode(sig_b64, c->sig, sizeof c->sig);
  if (sl <= 0) {
    set_why(why, why_len, "signature is not base64%s", NULL);
    scomo_sigcheck_free(c);
    return NULL;
  }
  c->sig_len = (size_t)sl;
  if (sha256_hex) {
    size_t hl = strlen(sha256_hex);
    int ok = hl == 64;
    for (size_t i = 0; ok && i < 32; i++) {
      int hi = hex_nibble(sha256_hex[2 * i]), lo = hex_nibble(sha256_hex[2 * i + 1]);
      if (hi < 0 || lo < 0) ok = 0;
      else c->want_sha[i] = (uint8_t)(hi << 4 | lo);
    }
    if (!ok) {
      set_why(why, why_len, "sha256 is not 64 hex digits: %s", sha256_hex);
      scomo_sigcheck_free(c);
      return NULL;
    }
    c->have_want_sha = 1;
    c->sha = EVP_MD_CTX_new();
    if (!c->sha || EVP_DigestInit_ex(c->sha, EVP_sha256(), NULL) != 1) {
      ERR_clear_error();
      set_why(why, why_len, "cannot start SHA-256%s", NULL);
      scomo_sigcheck_free(c);
      return NULL;
    }
  }
  for (size_t i = 0; t && i < t->n; i++) {
    if (!key_fits(t->keys[i], a)) continue;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = m && EVP_DigestVerifyInit(m, &pctx, EVP_sha256(), NULL, t->keys[i]) == 1;
    if (ok && a == ALG_RSA_PSS) {
      ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) > 0;
    } else if (ok && a == ALG_RSA_PKCS1) {
      ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
    }
    if (!ok) { /* e.g. an RSA-PSS key restricted to other parameters: this key cannot check it */
      ERR_clear_error();
      EVP_MD_CTX_free(m);
      continue;
    }
    c->ctx[c->n++] = m;
  }
  if (!c->n) {
    set_why(why, why_len, "no trusted key for %s", alg);
    scomo_sigcheck_free(c);
    return NULL;
  }
  return c;
}

void scomo_sigcheck_update(scomo_sigcheck *c, const uint8_t *buf, size_t len) {
  if (!len) return;
  for (size_t i = 0; i < c->n; i++) EVP_DigestVerifyUpdate(c->ctx[i], buf, len);
  if (c->sha) EVP_DigestUpdate(c->sha, buf, len);
}

int scomo_sigcheck_end(scomo_sigcheck *c, char *why, size_t why_len) {
  int code = SCOMO_VERIFY_BAD;
  if (c->have_want_sha) {
    uint8_t got[32];
    unsigned int gl = 0;
    if (EVP_DigestFinal_ex(c->sha, got, &gl) != 1 || gl != 32 || memcmp(got, c->want_sha, 32)) {
      ERR_clear_error();
      set_why(why, why_len, "the stored package does not match the downloaded package's SHA-256%s", NULL);
      scomo_sigcheck_free(c);
      return SCOMO_VERIFY_BAD;
    }
  }
  for (size_t i = 0; i < c->n && code != SCOMO_VERIFY_OK; i++) {
    if (EVP_DigestVerifyFinal(c->ctx[i], c->sig, c->sig_len) == 1) code = SCOMO_VERIFY_OK;
  }
  ERR_clear_error();
  if (code != SCOMO_VERIFY_OK) set_why(why, why_len, "signature does not verify with any trusted key%s", NULL);
  else set_why(why, why_len, "signature verified%s", NULL);
  scomo_sigcheck_free(c);
  return code;
}
