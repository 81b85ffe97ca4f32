/*
 * scomo_verify.c — build/scomo-verify: checks a package file's signature exactly as the native
 * agent's verify_package does (pkgsig.c), for integrators signing packages and for tests.
 *   scomo-verify [--trust-key FILE]... [--sha256 HEX] ALG SIGNATURE_B64 PACKAGE_FILE
 * Prints the SCOMO result code (1200 or 1407) and the reason on stdout; exits 0 for 1200, 1 for
 * 1407, 2 on usage errors.
 */
#include "pkgsig.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  scomo_trust *t = scomo_trust_new();
  const char *sha = NULL, *pos[3];
  int npos = 0;
  char why[512];
  if (!t) return 2;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--trust-key") && i + 1 < argc) {
      if (scomo_trust_add_file(t, argv[++i], why, sizeof why) < 0) {
        fprintf(stderr, "scomo-verify: %s\n", why);
        return 2;
      }
    } else if (!strcmp(argv[i], "--sha256") && i + 1 < argc) {
      sha = argv[++i];
    } else if (npos < 3 && argv[i][0] != '-') {
      pos[npos++] = argv[i];
    } else {
      npos = -1;
      break;
    }
  }
  if (npos != 3) {
    fprintf(stderr, "usage: scomo-verify [--trust-key FILE]... [--sha256 HEX] ALG SIGNATURE_B64 PACKAGE_FILE\n");
    return 2;
  }
  int code = SCOMO_VERIFY_BAD;
  if (!scomo_trust_count(t)) {
    snprintf(why, sizeof why, "no trusted key configured");
  } else {
    scomo_sigcheck *c = scomo_sigcheck_begin(t, pos[0], pos[1], sha, why, sizeof why);
    FILE *f = c ? fopen(pos[2], "rb") : NULL;
    if (c && !f) {
      snprintf(why, sizeof why, "cannot read %s", pos[2]);
      scomo_sigcheck_free(c);
    } else if (c) {
      static unsigned char buf[65536]; /* streamed: the package is never all in memory */
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, f)) > 0) scomo_sigcheck_update(c, buf, n);
      if (ferror(f)) {
        snprintf(why, sizeof why, "read error on %s", pos[2]);
        scomo_sigcheck_free(c);
      } else {
        code = scomo_sigcheck_end(c, why, sizeof why);
      }
      fclose(f);
    }
  }
  printf("%d %s\n", code, why);
  scomo_trust_free(t);
  return code == SCOMO_VERIFY_OK ? 0 : 1;
}
