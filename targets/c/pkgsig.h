/*
 * pkgsig.h — package signature verification with OpenSSL libcrypto, for the native agent's
 * host.verifyPackage (scomo_host.h verify_package). Streams the package: the caller feeds it
 * in chunks, so a 64 MB package never sits in memory.
 *
 * Algorithms (src/scomo/signature.ts): "ecdsa-p256-sha256" (DER signature, as
 * `openssl dgst -sha256 -sign` writes it), "rsa-pkcs1-sha256", "rsa-pss-sha256" (MGF1-SHA-256,
 * salt length 32). Every check uses all trusted keys of a matching type in one pass.
 */
#ifndef SCOMO_PKGSIG_H
#define SCOMO_PKGSIG_H

#include <stddef.h>
#include <stdint.h>

#define SCOMO_VERIFY_OK 1200
#define SCOMO_VERIFY_BAD 1407

/* The device's trusted keys. */
typedef struct scomo_trust scomo_trust;

scomo_trust *scomo_trust_new(void);
void scomo_trust_free(scomo_trust *t);
/* Adds every "PUBLIC KEY" and "CERTIFICATE" PEM block of path (a certificate contributes its
 * public key; its validity is not checked: the file is the trust decision). Returns the number of
 * keys added (>= 1), or -1 with a reason in err. */
int scomo_trust_add_file(scomo_trust *t, const char *path, char *err, size_t err_len);
size_t scomo_trust_count(const scomo_trust *t);

/* One verification in progress. */
typedef struct scomo_sigcheck scomo_sigcheck;

/*
 * Starts verifying: alg and sig_b64 as in VerifyRequest; sha256_hex (optional, NULL) is the
 * digest the agent computed while downloading — when given, the bytes fed here must hash to it
 * (the package changed in storage otherwise). Returns NULL with a reason in why when the request
 * fails at once (unknown algorithm, bad base64, no trusted key of that type): the result is 1407.
 */
scomo_sigcheck *scomo_sigcheck_begin(const scomo_trust *t, const char *alg, const char *sig_b64,
                                     const char *sha256_hex, char *why, size_t why_len);
void scomo_sigcheck_update(scomo_sigcheck *c, const uint8_t *buf, size_t len);
/* Finishes and frees c: SCOMO_VERIFY_OK when a trusted key verifies the signature, else
 * SCOMO_VERIFY_BAD with a reason in why. */
int scomo_sigcheck_end(scomo_sigcheck *c, char *why, size_t why_len);
/* Frees c without a result (the request was abandoned). */
void scomo_sigcheck_free(scomo_sigcheck *c);

/* Strict standard base64 (whole quads, '=' padding only at the end, no blanks): decoded bytes,
 * or -1. out must hold 3 * (strlen(in) / 4) bytes. Exposed for tests. */
long scomo_base64_decode(const char *in, uint8_t *out, size_t out_len);

#endif /* SCOMO_PKGSIG_H */
