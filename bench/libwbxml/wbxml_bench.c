/*
 * libwbxml throughput harness for `npm run bench` (bench/libwbxml.ts).
 *
 * Usage: wbxml_bench <target_bytes> <runs> <file>...
 *   Files ending in .wbxml are WBXML, anything else XML. For each encoding present it prints one
 *   JSON object on stdout with decode and encode throughput, measured in process, like this:
 *     decode = bytes -> libwbxml tree      (wbxml_tree_from_wbxml / wbxml_tree_from_xml, + tree free)
 *     encode = libwbxml tree -> bytes      (wbxml_tree_to_wbxml / wbxml_tree_to_xml, + output free)
 *   which is the split our codec has (decodeMessage: bytes -> model; encodeMessage: model -> bytes).
 *   MB/s counts MB (10^6) of the encoded form: the input of decode, the output of encode.
 *   A measurement repeats the whole file set until >= target_bytes; one warm-up, then best of runs.
 *
 * The tree functions are exported by libwbxml2.so but their header (wbxml_tree.h) is not shipped
 * by Debian's libwbxml2-dev, so their prototypes (libwbxml 0.11.x) are declared here; the tree is
 * only handled through a pointer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wbxml/wbxml.h>

typedef struct WBXMLTree_s WBXMLTree;
extern WBXMLError wbxml_tree_from_wbxml(WB_UTINY *wbxml, WB_ULONG len, WBXMLLanguage lang,
                                        WBXMLCharsetMIBEnum charset, WBXMLTree **tree);
extern WBXMLError wbxml_tree_to_wbxml(WBXMLTree *tree, WB_UTINY **wbxml, WB_ULONG *len,
                                      WBXMLGenWBXMLParams *params);
extern WBXMLError wbxml_tree_from_xml(WB_UTINY *xml, WB_ULONG len, WBXMLTree **tree);
extern WBXMLError wbxml_tree_to_xml(WBXMLTree *tree, WB_UTINY **xml, WB_ULONG *len,
                                    WBXMLGenXMLParams *params);
extern void wbxml_tree_destroy(WBXMLTree *tree);
extern void wbxml_free(void *p);

typedef struct { unsigned char *data; unsigned long len; } Blob;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int read_file(const char *path, Blob *out) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  out->data = malloc(n > 0 ? n : 1);
  out->len = n;
  if (n > 0 && fread(out->data, 1, n, f) != (size_t)n) { fclose(f); return -1; }
  fclose(f);
  return 0;
}

static WBXMLGenWBXMLParams wbxml_params = { WBXML_VERSION_12, FALSE, TRUE, FALSE };
static WBXMLGenXMLParams xml_params = { WBXML_GEN_XML_COMPACT, WBXML_LANG_UNKNOWN, WBXML_CHARSET_UNKNOWN, 0, FALSE };

static WBXMLError parse(int is_wbxml, Blob *b, WBXMLTree **t) {
  return is_wbxml ? wbxml_tree_from_wbxml(b->data, b->len, WBXML_LANG_UNKNOWN, WBXML_CHARSET_UNKNOWN, t)
                  : wbxml_tree_from_xml(b->data, b->len, t);
}

static WBXMLError serialize(int is_wbxml, WBXMLTree *t, unsigned long *len) {
  WB_UTINY *out = NULL;
  WB_ULONG n = 0;
  WBXMLError e = is_wbxml ? wbxml_tree_to_wbxml(t, &out, &n, &wbxml_params)
                          : wbxml_tree_to_xml(t, &out, &n, &xml_params);
  if (out) wbxml_free(out);
  *len = n;
  return e;
}

/* One pass over the set, `reps` times; returns bytes processed or 0 on error. */
static unsigned long pass(int is_wbxml, int encode, Blob *files, WBXMLTree **trees, int n, unsigned long reps) {
  unsigned long bytes = 0;
  for (unsigned long r = 0; r < reps; r++) {
    for (int i = 0; i < n; i++) {
      if (encode) {
        unsigned long len;
        if (serialize(is_wbxml, trees[i], &len) != WBXML_OK) return 0;
        bytes += len;
      } else {
        WBXMLTree *t = NULL;
        if (parse(is_wbxml, &files[i], &t) != WBXML_OK) return 0;
        wbxml_tree_destroy(t);
        bytes += files[i].len;
      }
    }
  }
  return bytes;
}

static int measure(int is_wbxml, Blob *files, int n, unsigned long target, int runs) {
  WBXMLTree **trees = calloc(n, sizeof *trees);
  unsigned long set_in = 0, set_out = 0;
  for (int i = 0; i < n; i++) {
    WBXMLError e = parse(is_wbxml, &files[i], &trees[i]);
    if (e != WBXML_OK) {
      fprintf(stderr, "libwbxml cannot parse %s input %d: %s\n", is_wbxml ? "wbxml" : "xml", i, wbxml_errors_string(e));
      return 1;
    }
    unsigned long len;
    if (serialize(is_wbxml, trees[i], &len) != WBXML_OK) { fprintf(stderr, "libwbxml cannot encode input %d\n", i); return 1; }
    set_in += files[i].len;
    set_out += len;
  }
  printf("{\"encoding\":\"%s\",\"files\":%d,\"set_bytes\":%lu,\"set_encoded_bytes\":%lu", is_wbxml ? "wbxml" : "xml", n, set_in, set_out);
  for (int encode = 0; encode <= 1; encode++) {
    unsigned long per = encode ? set_out : set_in;
    unsigned long reps = (target + per - 1) / per;
    double best = 0;
    unsigned long bytes = pass(is_wbxml, encode, files, trees, n, reps); /* warm-up */
    for (int r = 0; r < runs && bytes; r++) {
      double t0 = now_s();
      bytes = pass(is_wbxml, encode, files, trees, n, reps);
      double s = now_s() - t0;
      double rate = bytes / 1e6 / s;
      if (rate > best) best = rate;
    }
    if (!bytes) { fprintf(stderr, "libwbxml %s failed during the run\n", encode ? "encode" : "decode"); return 1; }
    printf(",\"%s\":{\"mb_s\":%.3f,\"reps\":%lu,\"bytes\":%lu}", encode ? "encode" : "decode", best, reps, bytes);
  }
  printf("}\n");
  for (int i = 0; i < n; i++) wbxml_tree_destroy(trees[i]);
  free(trees);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s <target_bytes> <runs> <file>...\n", argv[0]);
    return 2;
  }
  unsigned long target = strtoul(argv[1], NULL, 10);
  int runs = atoi(argv[2]);
  int n = argc - 3;
  Blob *xml = calloc(n, sizeof *xml), *wb = calloc(n, sizeof *wb);
  int nx = 0, nw = 0;
  for (int i = 0; i < n; i++) {
    const char *p = argv[3 + i];
    size_t l = strlen(p);
    int is_wbxml = l > 6 && strcmp(p + l - 6, ".wbxml") == 0;
    Blob *b = is_wbxml ? &wb[nw++] : &xml[nx++];
    if (read_file(p, b) != 0) { fprintf(stderr, "cannot read %s\n", p); return 2; }
  }
  printf("{\"libwbxml\":\"%s\"}\n", WBXML_LIB_VERSION);
  if (nx && measure(0, xml, nx, target, runs)) return 1;
  if (nw && measure(1, wb, nw, target, runs)) return 1;
  return 0;
}
