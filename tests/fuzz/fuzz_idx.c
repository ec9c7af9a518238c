/* fuzz_idx.c — libFuzzer harness for the IDX reader, plain and gzipped.
 *
 * The input bytes become a file (a memfd) read with bprt_idx_read; then the same bytes are
 * gzipped in-process with zlib and read again, so that the gzip layer sees both valid
 * streams of hostile IDX data and (from the input itself) hostile gzip streams. A payload
 * that reads successfully must be identical both ways. Built with -fsanitize=fuzzer
 * (BPC_FUZZ) or with replay.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bprt.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* gzip (not zlib) framing of data; malloc'd, length in *out_len. */
static unsigned char *gzip_bytes(const uint8_t *data, size_t size, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    uLong cap = deflateBound(&zs, (uLong)size) + 64;
    unsigned char *out = malloc(cap);
    if (!out)
        abort();
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)size;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        abort();
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static int read_idx(const char *path, BprtIdx *idx)
{
    char err[BPRT_ERRLEN];
    int rc = bprt_idx_read(path, idx, err);
    if (rc != 0 && (!memchr(err, '\0', sizeof err) || strncmp(err, path, strlen(path)) != 0))
        abort(); /* every message is terminated and starts with the path */
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    BprtIdx plain, gz;
    int rc_plain = read_idx(fuzz_file(data, size), &plain);
    size_t zlen;
    unsigned char *z = gzip_bytes(data, size, &zlen);
    int rc_gz = read_idx(fuzz_file(z, zlen), &gz);
    free(z);
    if (rc_plain == 0 && (size < 2 || data[0] != 0x1f || data[1] != 0x8b)) {
        /* not itself gzip: the gzipped copy must read the same */
        if (rc_gz != 0 || gz.count != plain.count || gz.ndim != plain.ndim ||
            memcmp(gz.data, plain.data, (size_t)plain.count) != 0)
            abort();
    }
    if (rc_plain == 0)
        bprt_idx_free(&plain);
    if (rc_gz == 0)
        bprt_idx_free(&gz);
    return 0;
}
