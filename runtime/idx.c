/* idx.c — reading IDX files (the MNIST family), gzipped or plain.
 *
 * Format: bytes 0x00 0x00 <type> <ndim>, then ndim big-endian u32 dimensions, then the
 * payload of product(dims) elements, row-major. Only type 0x08 (unsigned byte) is read,
 * with 1 to 4 dimensions. The payload must be exactly product(dims) bytes: a short file or
 * trailing bytes are errors; so are payloads over 4 GiB. zlib's gzopen/gzread read gzip
 * and plain files alike, so the caller need not say which. Every message starts with the
 * path. What it leaves out: the other IDX element types (signed byte, short, int, float,
 * double) — MNIST-style data sets use only unsigned bytes. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "bprt.h"

#define IDX_MAX_BYTES (4ull << 30)     /* payload cap: 4 GiB */
#define IDX_FIRST_CHUNK (16ull << 20)  /* first allocation for the payload: 16 MiB */

__attribute__((format(printf, 3, 4))) static int idx_fail(char err[BPRT_ERRLEN],
                                                          const char *path, const char *fmt,
                                                          ...)
{
    int n = snprintf(err, BPRT_ERRLEN, "%s: ", path);
    if (n < 0 || n >= BPRT_ERRLEN)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, BPRT_ERRLEN - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reads up to n bytes (gzread takes an unsigned int count); returns bytes read or -1. */
static int64_t read_fully(gzFile gz, unsigned char *buf, uint64_t n)
{
    uint64_t got = 0;
    while (got < n) {
        uint64_t chunk = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(gz, buf + got, (unsigned)chunk);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (uint64_t)r;
    }
    return (int64_t)got;
}

/* The gzip layer's message after a failed or short read, or "" if none; without the
 * "PATH: " zlib puts before it (messages start with the path already). */
static const char *gz_problem(gzFile gz, const char *path)
{
    int code;
    const char *msg = gzerror(gz, &code);
    if (code == Z_OK || !msg)
        return "";
    size_t n = strlen(path);
    return strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

/* "2 x 3 x 4" */
static const char *dims_str(char *buf, size_t cap, int ndim, const int64_t *dims)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, i ? " x " : "", dims[i]);
    return buf;
}

/* size: the file's size in bytes if it is a regular file, else -1 */
static int idx_parse(gzFile gz, const char *path, int64_t size, BprtIdx *idx, char err[BPRT_ERRLEN])
{
    unsigned char magic[4];
    int64_t got = read_fully(gz, magic, 4);
    if (got < 0)
        return idx_fail(err, path, "read error: %s", gz_problem(gz, path));
    if (got < 4)
        return idx_fail(err, path, "file is %" PRId64 " bytes, too short for the 4-byte IDX magic",
                        got);
    if (magic[0] != 0 || magic[1] != 0)
        return idx_fail(err, path,
                        "bad IDX magic %02x %02x %02x %02x (expected 00 00 08 <ndim>)",
                        magic[0], magic[1], magic[2], magic[3]);
    if (magic[2] != 0x08)
        return idx_fail(err, path, "IDX element type 0x%02x is not supported (only 0x08, "
                        "unsigned byte)", magic[2]);
    if (magic[3] < 1 || magic[3] > 4)
        return idx_fail(err, path, "IDX has %d dimensions, expected 1 to 4", magic[3]);
    int ndim = magic[3];

    unsigned char raw[16];
    got = read_fully(gz, raw, 4 * (uint64_t)ndim);
    if (got < 0)
        return idx_fail(err, path, "read error: %s", gz_problem(gz, path));
    if (got < 4 * ndim)
        return idx_fail(err, path, "truncated IDX header: %d dimension%s need%s %d bytes, file has %" PRId64, ndim,
                        ndim == 1 ? "" : "s", ndim == 1 ? "s" : "", 4 * ndim, got); /* (a labels file: "1 dimension") */
    uint64_t count = 1;
    int too_big = 0;
    for (int i = 0; i < ndim; i++) {
        const unsigned char *p = raw + 4 * i;
        idx->dims[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                                 (uint32_t)p[2] << 8 | p[3]);
        if (__builtin_mul_overflow(count, (uint64_t)idx->dims[i], &count))
            too_big = 1;
    }
    char dbuf[96];
    if (too_big || count > IDX_MAX_BYTES)
        return idx_fail(err, path, "IDX dims %s exceed the limit of %llu bytes",
                        dims_str(dbuf, sizeof dbuf, ndim, idx->dims), IDX_MAX_BYTES);
    idx->ndim = ndim;
    idx->count = (int64_t)count;
    /* The buffer grows as the payload arrives, so that a short file whose header claims
     * 4 GiB costs only what it holds. It starts at 16 MiB at most, and at what a regular
     * file can hold: its bytes for a plain one, 16 times them (64 KiB at least) for a
     * gzipped one (a 100-byte file claiming 4 GiB took 16 MiB; the IDX fuzzer, under ASan,
     * spent most of its time making and poisoning them). */
    uint64_t cap = count < IDX_FIRST_CHUNK ? count : IDX_FIRST_CHUNK, have = 0;
    if (size >= 0) {
        uint64_t holds = gzdirect(gz) ? (uint64_t)size + 1 : 16 * (uint64_t)size;
        if (!gzdirect(gz) && holds < (64u << 10))
            holds = 64u << 10;
        if (cap > holds)
            cap = holds;
    }
    idx->data = malloc(cap ? cap : 1);
    for (;;) {
        if (!idx->data)
            return idx_fail(err, path, "out of memory for %" PRIu64 " bytes", cap);
        got = read_fully(gz, idx->data + have, cap - have);
        if (got < 0)
            return idx_fail(err, path, "read error: %s", gz_problem(gz, path));
        have += (uint64_t)got;
        if (have < cap || cap == count)
            break;
        cap = cap > count / 2 ? count : 2 * cap;
        unsigned char *grown = realloc(idx->data, cap);
        if (!grown)
            free(idx->data);
        idx->data = grown;
    }
    got = (int64_t)have;
    if ((uint64_t)got < count) {
        const char *why = gz_problem(gz, path);
        return idx_fail(err, path,
                        "IDX payload truncated: dims %s need %" PRIu64 " bytes, file has %"
                        PRId64 "%s%s",
                        dims_str(dbuf, sizeof dbuf, ndim, idx->dims), count, got,
                        *why ? "; gzip: " : "", why);
    }
    unsigned char extra;
    got = read_fully(gz, &extra, 1);
    if (got < 0)
        return idx_fail(err, path, "read error: %s", gz_problem(gz, path));
    if (got > 0)
        return idx_fail(err, path, "trailing data after the %" PRIu64 "-byte IDX payload (dims %s)",
                        count, dims_str(dbuf, sizeof dbuf, ndim, idx->dims));
    return 0;
}

int bprt_idx_read(const char *path, BprtIdx *idx, char err[BPRT_ERRLEN])
{
    memset(idx, 0, sizeof *idx);
    struct stat st;
    const int64_t size = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return idx_fail(err, path, "cannot open: %s", errno ? strerror(errno) : "out of memory");
    int rc = idx_parse(gz, path, size, idx, err);
    gzclose(gz);
    if (rc)
        bprt_idx_free(idx);
    return rc;
}

void bprt_idx_free(BprtIdx *idx)
{
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}
