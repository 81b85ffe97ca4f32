/* hashes.h — incremental SHA-256 and MD5 (hashes.c). */
#ifndef SCOMO_HASHES_H
#define SCOMO_HASHES_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int md5; /* 0: SHA-256, 1: MD5 */
  uint32_t h[8];
  uint8_t buf[64];
  size_t len;
  uint64_t total;
} scomo_hash;

void scomo_hash_init(scomo_hash *s, int md5);
void scomo_hash_update(scomo_hash *s, const uint8_t *p, size_t n);
/* Writes the digest (32 bytes SHA-256, 16 MD5); returns its length. */
size_t scomo_hash_final(scomo_hash *s, uint8_t *out);
#endif
