/* safetensors.c — reading and writing the safetensors format:
 *   u64 little-endian N | N bytes of JSON header | data section
 * The header maps tensor names to {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}
 * (offsets relative to the data section) and may hold "__metadata__": {str: str}.
 *
 * The reader loads the whole file and trusts nothing before checking it: the length field
 * against the file size and a 100 MiB cap, JSON syntax, that the header is an object,
 * each entry's fields and types, the dtype, shape entries (non-negative integers, at most
 * BPRT_MAXDIMS of them), the element count and byte size for overflow, that end - begin
 * equals the byte size, begin <= end, the range lying inside the data section, and
 * duplicate names; a header that is not UTF-8 (as the format requires), or holds a \u0000
 * escape (cJSON would cut a name at it), is refused. Every
 * message starts with the path ("p.safetensors: tensor 'W1': ...").
 * Tensors keep the header's order; data pointers point into the blob (possibly unaligned).
 * The tensors' data must tile the data section, as Hugging Face's reader requires: sorted by
 * offset, each begins where the one before ends, the first at 0 and the last at the end of
 * the file (an overlap, a gap or trailing bytes is a damaged or hand-made file, refused with
 * the names and offsets involved).
 * The writer lays tensors out contiguously in the order given, pads the header with spaces
 * to a multiple of 8, and replaces the target atomically (PATH.tmp.<pid>, fsync, rename;
 * through symbolic links: the file a link names is replaced, the link stays; the replaced
 * file's permissions are kept).
 * Little-endian hosts only (the format's byte order is used in memory as is). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bprt.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors.c assumes little-endian");

#define ST_HEADER_MAX BPRT_ST_HEADER_MAX /* bytes of JSON header we accept */

static const char *const dtype_names[] = {
    [BPRT_F32] = "F32",   [BPRT_F64] = "F64", [BPRT_I32] = "I32", [BPRT_I64] = "I64",
    [BPRT_F16] = "F16",   [BPRT_BF16] = "BF16", [BPRT_U8] = "U8", [BPRT_I8] = "I8",
    [BPRT_I16] = "I16",   [BPRT_BOOL] = "BOOL", [BPRT_U16] = "U16", [BPRT_U32] = "U32",
    [BPRT_U64] = "U64",
};
/* The format's other dtypes, which bpc does not convert: named as such, not as unknown. */
static const char *const unsupported_dtypes[] = {
    "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64",
};
static const size_t dtype_sizes[] = {
    [BPRT_F32] = 4, [BPRT_F64] = 8, [BPRT_I32] = 4, [BPRT_I64] = 8, [BPRT_F16] = 2,
    [BPRT_BF16] = 2, [BPRT_U8] = 1, [BPRT_I8] = 1, [BPRT_I16] = 2, [BPRT_BOOL] = 1,
    [BPRT_U16] = 2, [BPRT_U32] = 4, [BPRT_U64] = 8,
};
enum { DTYPE_COUNT = sizeof dtype_names / sizeof dtype_names[0] };
_Static_assert(sizeof dtype_sizes / sizeof dtype_sizes[0] == DTYPE_COUNT, "dtype tables");

const char *bprt_dtype_name(BprtDtype d)
{
    return (unsigned)d < DTYPE_COUNT ? dtype_names[d] : "?";
}

size_t bprt_dtype_size(BprtDtype d)
{
    return (unsigned)d < DTYPE_COUNT ? dtype_sizes[d] : 0;
}

static int dtype_lookup(const char *s)
{
    for (int i = 0; i < DTYPE_COUNT; i++)
        if (strcmp(s, dtype_names[i]) == 0)
            return i;
    return -1;
}

/* err = "PATH: " + formatted message; returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(char err[BPRT_ERRLEN], const char *path,
                                                      const char *fmt, ...)
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

/* "[2, 3]" into buf. */
static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

/* A JSON number that is an integer in [0, 2^53]; stores it in *out. */
static int json_uint(const cJSON *j, int64_t *out)
{
    if (!cJSON_IsNumber(j))
        return 0;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || v != floor(v))
        return 0;
    *out = (int64_t)v;
    return 1;
}

static const char *not_regular(const struct stat *sb)
{
    return S_ISDIR(sb->st_mode) ? "is a directory" : "not a regular file (a device, pipe or socket)";
}

/* Reads the whole file into a malloc'd buffer. A directory, device or pipe is refused before
 * it is opened (opening a named pipe without a writer waited for ever). */
static int read_file(const char *path, unsigned char **buf, size_t *size, char err[BPRT_ERRLEN])
{
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return fail(err, path, "%s", not_regular(&sb));
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, path, "cannot open: %s", strerror(errno));
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return fail(err, path, "%s", not_regular(&sb));
    }
    size_t n = (size_t)sb.st_size;
    unsigned char *p = malloc(n ? n : 1);
    if (!p) {
        fclose(f);
        return fail(err, path, "out of memory reading %zu bytes", n);
    }
    if (fread(p, 1, n, f) != n) {
        const char *why = ferror(f) ? strerror(errno) : "file shrank while reading";
        free(p);
        fclose(f);
        return fail(err, path, "read error: %s", why);
    }
    fclose(f);
    *buf = p;
    *size = n;
    return 0;
}

/* Checks one header entry and fills t (name not yet set). data_len: data section size. */
static int parse_entry(const char *path, const cJSON *e, uint64_t data_len,
                       const unsigned char *data, BprtTensor *t, char err[BPRT_ERRLEN])
{
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return fail(err, path, "tensor '%s': entry is not an object", name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!dt)
        return fail(err, path, "tensor '%s': missing \"dtype\"", name);
    if (!cJSON_IsString(dt))
        return fail(err, path, "tensor '%s': \"dtype\" is not a string", name);
    int d = dtype_lookup(dt->valuestring);
    for (size_t k = 0; d < 0 && k < sizeof unsupported_dtypes / sizeof *unsupported_dtypes; k++)
        if (strcmp(dt->valuestring, unsupported_dtypes[k]) == 0)
            return fail(err, path, "tensor '%s': dtype %s is not supported (bpc reads F64, F32, "
                        "F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8 and BOOL)", name,
                        dt->valuestring);
    if (d < 0)
        return fail(err, path, "tensor '%s': unknown dtype \"%.40s\"", name, dt->valuestring);
    if (!sh)
        return fail(err, path, "tensor '%s': missing \"shape\"", name);
    if (!cJSON_IsArray(sh))
        return fail(err, path, "tensor '%s': \"shape\" is not an array", name);
    int ndim = cJSON_GetArraySize(sh);
    if (ndim > BPRT_MAXDIMS)
        return fail(err, path, "tensor '%s': shape has %d dimensions, more than %d", name, ndim,
                    BPRT_MAXDIMS);
    t->dtype = (BprtDtype)d;
    t->ndim = ndim;
    int i = 0;
    for (const cJSON *x = sh->child; x; x = x->next, i++)
        if (!json_uint(x, &t->shape[i]))
            return fail(err, path, "tensor '%s': shape[%d] is not a non-negative integer", name,
                        i);
    if (!off)
        return fail(err, path, "tensor '%s': missing \"data_offsets\"", name);
    int64_t begin, end;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !json_uint(off->child, &begin) ||
        !json_uint(off->child->next, &end))
        return fail(err, path,
                    "tensor '%s': \"data_offsets\" is not an array of 2 non-negative integers",
                    name);

    char sbuf[256];
    uint64_t count = 1, bytes;
    for (i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(count, (uint64_t)t->shape[i], &count) ||
            count > (uint64_t)INT64_MAX)
            return fail(err, path, "tensor '%s': shape %s has too many elements", name,
                        shape_str(sbuf, sizeof sbuf, ndim, t->shape));
    if (__builtin_mul_overflow(count, (uint64_t)dtype_sizes[d], &bytes))
        return fail(err, path, "tensor '%s': shape %s of %s is too large", name,
                    shape_str(sbuf, sizeof sbuf, ndim, t->shape), dtype_names[d]);
    if (begin > end)
        return fail(err, path, "tensor '%s': data_offsets [%" PRId64 ", %" PRId64
                    "] begin after end", name, begin, end);
    if ((uint64_t)(end - begin) != bytes)
        return fail(err, path,
                    "tensor '%s': data_offsets [%" PRId64 ", %" PRId64 "] hold %" PRId64
                    " bytes but shape %s of %s needs %" PRIu64,
                    name, begin, end, end - begin, shape_str(sbuf, sizeof sbuf, ndim, t->shape),
                    dtype_names[d], bytes);
    if ((uint64_t)end > data_len)
        return fail(err, path,
                    "tensor '%s': data_offsets [%" PRId64 ", %" PRId64
                    "] reach past the %" PRIu64 "-byte data section",
                    name, begin, end, data_len);
    t->count = (int64_t)count;
    t->data = data + begin;
    return 0;
}

/* A tensor's byte range in the data section, for check_layout's sort. */
typedef struct Span {
    uint64_t begin, end;
    int index;
} Span;

static int by_offset(const void *pa, const void *pb)
{
    const Span *a = pa, *b = pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    return a->end < b->end ? -1 : a->end > b->end; /* an empty tensor before one that starts there */
}

/* Do the tensors' byte ranges tile data[0..data_len) without gaps or overlaps? */
static int check_layout(const char *path, const BprtSafetensors *st, const unsigned char *data,
                        uint64_t data_len, char err[BPRT_ERRLEN])
{
    Span *s = malloc(sizeof *s * (size_t)(st->count ? st->count : 1));
    if (!s)
        return fail(err, path, "out of memory");
    for (int i = 0; i < st->count; i++) {
        const BprtTensor *t = &st->tensors[i];
        s[i].begin = (uint64_t)((const unsigned char *)t->data - data);
        s[i].end = s[i].begin + (uint64_t)t->count * dtype_sizes[t->dtype];
        s[i].index = i;
    }
    qsort(s, (size_t)st->count, sizeof *s, by_offset);
    uint64_t at = 0; /* where the next tensor's data must begin */
    int rc = 0;
    for (int k = 0; k < st->count && rc == 0; k++) {
        const char *name = st->tensors[s[k].index].name;
        if (s[k].begin < at)
            rc = fail(err, path, "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] overlap those of "
                      "tensor '%s', [%" PRIu64 ", %" PRIu64 "] (a damaged file?)", name, s[k].begin,
                      s[k].end, st->tensors[s[k - 1].index].name, s[k - 1].begin, s[k - 1].end);
        else if (s[k].begin > at)
            rc = fail(err, path, "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] leave bytes "
                      "[%" PRIu64 ", %" PRIu64 ") of the data section unused (a damaged file?)",
                      name, s[k].begin, s[k].end, at, s[k].begin);
        at = s[k].end;
    }
    if (rc == 0 && at != data_len && st->count == 0)
        rc = fail(err, path, "the header names no tensors, but the data section has %" PRIu64
                  " bytes: a damaged file?", data_len);
    else if (rc == 0 && at != data_len)
        rc = fail(err, path, "the data section has %" PRIu64 " bytes after the last tensor's data "
                  "(it is %" PRIu64 " bytes, the tensors end at %" PRIu64 "): a damaged file?",
                  data_len - at, data_len, at);
    free(s);
    return rc;
}

/* Checks "__metadata__": an object of string values. */
static int check_metadata(const char *path, const cJSON *m, char err[BPRT_ERRLEN])
{
    if (!cJSON_IsObject(m))
        return fail(err, path, "\"__metadata__\" is not an object");
    for (const cJSON *x = m->child; x; x = x->next)
        if (!cJSON_IsString(x))
            return fail(err, path, "\"__metadata__\" entry '%s' is not a string", x->string);
    return 0;
}

/* The offset of the first \u0000 escape inside a JSON string of s[0..n), or -1. cJSON ends
 * a string at the NUL it decodes, so "W1\u0000x" would be read as the name W1. */
static long nul_escape(const char *s, size_t n)
{
    int in_string = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_string)
            in_string = s[i] == '"';
        else if (s[i] == '"')
            in_string = 0;
        else if (s[i] == '\\') {
            if (i + 5 < n && memcmp(s + i + 1, "u0000", 5) == 0)
                return (long)i;
            i++; /* the escaped character */
        }
    }
    return -1;
}

/* The offset of the first byte of s[0..n) that is not part of valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF included), or -1. The format's header is UTF-8. */
static long bad_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!len || i + len > n || (len == 2 && c < 0xc2))
            return (long)i;
        uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return (long)i;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return (long)i;
        i += len;
    }
    return -1;
}

/* A tensor's entry of the header and its place among the tensors, for first_duplicate. */
typedef struct Named {
    const cJSON *e;
    int order;
} Named;

static int by_name(const void *pa, const void *pb)
{
    const Named *a = pa, *b = pb;
    int c = strcmp(a->e->string, b->e->string);
    return c ? c : (a->order > b->order) - (a->order < b->order);
}

/* The first tensor entry of root (in the header's order) whose name an earlier one has, or
 * NULL; *oom on failure to allocate. By sorting: compared pairwise, a header of 100000
 * tensors took 30 s to read, and one of a million (the 100 MiB cap allows it) hours. */
static const cJSON *first_duplicate(const cJSON *root, int n, int *oom)
{
    Named *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    if (!v) {
        *oom = 1;
        return NULL;
    }
    int k = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__") != 0) {
            v[k].e = e;
            v[k].order = k;
            k++;
        }
    qsort(v, (size_t)k, sizeof *v, by_name);
    int first = -1;
    for (int i = 1; i < k; i++)
        if (strcmp(v[i].e->string, v[i - 1].e->string) == 0 && (first < 0 || v[i].order < v[first].order))
            first = i;
    const cJSON *dup = first >= 0 ? v[first].e : NULL;
    free(v);
    return dup;
}

int bprt_st_begins(const void *head, size_t n)
{
    const unsigned char *h = head;
    uint64_t hlen = 0;
    if (n < 9)
        return 0;
    memcpy(&hlen, h, 8);
    return hlen >= 2 && h[8] == '{';
}

int bprt_st_read(const char *path, BprtSafetensors *st, char err[BPRT_ERRLEN])
{
    memset(st, 0, sizeof *st);
    unsigned char *blob = NULL;
    size_t size = 0;
    if (read_file(path, &blob, &size, err))
        return -1;
    if (size < 8) {
        free(blob);
        return fail(err, path, "file is %zu bytes, too short for the 8-byte header length",
                    size);
    }
    uint64_t hlen;
    memcpy(&hlen, blob, 8);
    /* the format: 8 bytes of header length, then the header, which begins with '{'. A file
     * of another kind (PyTorch's torch.save zip, a text file) said "header length
     * 3112316307483992184 exceeds the limit": a length the file cannot hold, and no '{',
     * say what the file is not */
    if ((hlen > ST_HEADER_MAX || hlen > (uint64_t)size - 8) && !bprt_st_begins(blob, size)) {
        int zip = blob[0] == 'P' && blob[1] == 'K';
        free(blob);
        return fail(err, path, "not a safetensors file (one starts with an 8-byte header length and a '{')%s",
                    zip ? "; this is a zip archive, as torch.save writes: save with safetensors.torch.save_file" : "");
    }
    if (hlen > ST_HEADER_MAX) {
        free(blob);
        return fail(err, path, "header length %" PRIu64 " exceeds the limit of %u bytes", hlen,
                    ST_HEADER_MAX);
    }
    if (hlen > (uint64_t)size - 8) {
        free(blob);
        return fail(err, path, "header length %" PRIu64 " exceeds file size %zu", hlen, size);
    }
    const char *json = (const char *)blob + 8, *end = NULL;
    long bad = bad_utf8((const unsigned char *)json, (size_t)hlen);
    if (bad >= 0) {
        unsigned char b = (unsigned char)json[bad];
        free(blob);
        return fail(err, path, "header is not valid UTF-8 (byte 0x%02x at byte %ld)", b, bad);
    }
    long nul = nul_escape(json, (size_t)hlen);
    if (nul >= 0) {
        free(blob);
        return fail(err, path, "header holds a \\u0000 escape (a NUL character) at byte %ld: "
                    "names and strings cannot contain one", nul);
    }
    cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        free(blob);
        return fail(err, path, "header is not valid JSON (error at byte %zu of %" PRIu64 ")", at,
                    hlen);
    }
    for (const char *p = end; p && p < json + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\0') {
            size_t at = (size_t)(p - json);
            cJSON_Delete(root);
            free(blob);
            return fail(err, path, "header has text after the JSON object (at byte %zu)", at);
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        free(blob);
        return fail(err, path, "header is not a JSON object");
    }

    const unsigned char *data = blob + 8 + hlen;
    uint64_t data_len = (uint64_t)size - 8 - hlen;
    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        n += strcmp(e->string, "__metadata__") != 0;
    st->tensors = calloc((size_t)(n ? n : 1), sizeof *st->tensors);
    st->blob = blob;
    if (!st->tensors) {
        cJSON_Delete(root);
        bprt_st_free(st);
        return fail(err, path, "out of memory");
    }
    int rc = 0, oom = 0;
    const cJSON *dup = first_duplicate(root, n, &oom);
    if (oom)
        rc = fail(err, path, "out of memory");
    for (const cJSON *e = root->child; e && rc == 0; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            rc = check_metadata(path, e, err);
            continue;
        }
        if (e == dup) {
            rc = fail(err, path, "duplicate tensor name '%s'", e->string);
            break;
        }
        BprtTensor *t = &st->tensors[st->count];
        rc = parse_entry(path, e, data_len, data, t, err);
        if (rc == 0) {
            t->name = strdup(e->string);
            if (!t->name)
                rc = fail(err, path, "out of memory");
            else
                st->count++;
        }
    }
    cJSON_Delete(root);
    if (rc == 0)
        rc = check_layout(path, st, data, data_len, err);
    if (rc)
        bprt_st_free(st);
    return rc;
}

void bprt_st_free(BprtSafetensors *st)
{
    for (int i = 0; i < st->count; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    free(st->blob);
    memset(st, 0, sizeof *st);
}

const BprtTensor *bprt_st_find(const BprtSafetensors *st, const char *name)
{
    for (int i = 0; i < st->count; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

/* IEEE binary16 bits to double (subnormals, infinities and NaN included). */
static double half_to_f64(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v;
    if (e == 0)
        v = ldexp((double)m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp((double)(m | 0x400), e - 25);
    return sign ? -v : v;
}

void bprt_st_to_f64(const BprtTensor *t, double *out)
{
    const unsigned char *p = t->data;
    size_t sz = bprt_dtype_size(t->dtype);
    for (int64_t i = 0; i < t->count; i++, p += sz) {
        switch (t->dtype) {
#define COPY_AS(CT)                                                                       \
    {                                                                                     \
        CT v;                                                                             \
        memcpy(&v, p, sizeof v);                                                          \
        out[i] = (double)v;                                                               \
    }                                                                                     \
    break
        case BPRT_F32: COPY_AS(float);
        case BPRT_F64: COPY_AS(double);
        case BPRT_I32: COPY_AS(int32_t);
        case BPRT_I64: COPY_AS(int64_t);
        case BPRT_U8: COPY_AS(uint8_t);
        case BPRT_I8: COPY_AS(int8_t);
        case BPRT_I16: COPY_AS(int16_t);
        case BPRT_U16: COPY_AS(uint16_t);
        case BPRT_U32: COPY_AS(uint32_t);
        case BPRT_U64: COPY_AS(uint64_t);
#undef COPY_AS
        case BPRT_BOOL:
            out[i] = *p ? 1.0 : 0.0;
            break;
        case BPRT_F16: {
            uint16_t h;
            memcpy(&h, p, 2);
            out[i] = half_to_f64(h);
            break;
        }
        case BPRT_BF16: {
            uint16_t h;
            memcpy(&h, p, 2);
            uint32_t bits = (uint32_t)h << 16;
            float f;
            memcpy(&f, &bits, 4);
            out[i] = (double)f;
            break;
        }
        }
    }
}

/* ---- writer -------------------------------------------------------------------------- */

/* A growable string for the header. */
typedef struct StrBuf {
    char *p;
    size_t len, cap;
    int oom;
} StrBuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(StrBuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

/* A JSON string literal. */
static void sb_json_string(StrBuf *b, const char *s)
{
    sb_printf(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            sb_printf(b, "\\%c", *c);
        else if (*c < 0x20)
            sb_printf(b, "\\u%04x", *c);
        else
            sb_printf(b, "%c", *c);
    }
    sb_printf(b, "\"");
}

/* Validates the tensors and builds the padded header; byte sizes go to sizes[]. */
static int build_header(const char *path, const BprtTensorOut *t, int count, uint64_t *sizes,
                        StrBuf *b, char err[BPRT_ERRLEN])
{
    uint64_t offset = 0;
    sb_printf(b, "{");
    for (int i = 0; i < count; i++) {
        if (!t[i].name || !*t[i].name || strcmp(t[i].name, "__metadata__") == 0)
            return fail(err, path, "tensor %d: invalid name '%s'", i,
                        t[i].name ? t[i].name : "(null)");
        for (int j = 0; j < i; j++)
            if (strcmp(t[i].name, t[j].name) == 0)
                return fail(err, path, "duplicate tensor name '%s'", t[i].name);
        if ((unsigned)t[i].dtype >= DTYPE_COUNT)
            return fail(err, path, "tensor '%s': invalid dtype %d", t[i].name, (int)t[i].dtype);
        if (t[i].ndim < 0 || t[i].ndim > BPRT_MAXDIMS)
            return fail(err, path, "tensor '%s': %d dimensions, expected 0 to %d", t[i].name,
                        t[i].ndim, BPRT_MAXDIMS);
        uint64_t n = 1;
        for (int d = 0; d < t[i].ndim; d++)
            if (t[i].shape[d] < 0 || __builtin_mul_overflow(n, (uint64_t)t[i].shape[d], &n))
                return fail(err, path, "tensor '%s': invalid shape", t[i].name);
        if (__builtin_mul_overflow(n, (uint64_t)dtype_sizes[t[i].dtype], &sizes[i]) ||
            (sizes[i] && !t[i].data))
            return fail(err, path, "tensor '%s': invalid size or no data", t[i].name);
        sb_printf(b, "%s", i ? "," : "");
        sb_json_string(b, t[i].name);
        sb_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", dtype_names[t[i].dtype]);
        for (int d = 0; d < t[i].ndim; d++)
            sb_printf(b, "%s%" PRId64, d ? "," : "", t[i].shape[d]);
        sb_printf(b, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", offset, offset + sizes[i]);
        offset += sizes[i];
    }
    sb_printf(b, "}");
    while (!b->oom && b->len % 8)
        sb_printf(b, " ");
    if (b->oom)
        return fail(err, path, "out of memory building the header");
    return 0;
}

/* (bprt.h) */
int bprt_resolve_links(const char *path, char *out, size_t size)
{
    if (snprintf(out, size, "%s", path) >= (int)size)
        return -1;
    for (int hops = 0; hops < 40; hops++) {
        struct stat st;
        char target[4096];
        if (lstat(out, &st) != 0 || !S_ISLNK(st.st_mode))
            return 0;
        ssize_t n = readlink(out, target, sizeof target);
        if (n < 0 || n >= (ssize_t)sizeof target)
            return -1;
        target[n] = 0;
        const char *slash = strrchr(out, '/');
        size_t dir = target[0] == '/' || !slash ? 0 : (size_t)(slash - out) + 1; /* relative: beside the link */
        if (dir + (size_t)n >= size)
            return -1;
        memcpy(out + dir, target, (size_t)n + 1);
    }
    return -1; /* a loop */
}

void bprt_keep_mode(const char *path, int fd)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        (void)fchmod(fd, st.st_mode & 07777);
}

int bprt_temp_name(const char *path, char *tmp, size_t size, int *special)
{
    struct stat st;
    *special = stat(path, &st) == 0 && !S_ISREG(st.st_mode);
    const int len = *special ? snprintf(tmp, size, "%s", path)
                             : snprintf(tmp, size, "%s.tmp.%ld", path, (long)getpid());
    return len < 0 || len >= (int)size ? -1 : 0;
}

int bprt_st_writable(const char *path, char err[BPRT_ERRLEN])
{
    struct stat st;
    char tmp[4096], target[4096];
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return fail(err, path, "is a directory");
    int special;
    if (bprt_resolve_links(path, target, sizeof target) != 0 ||
        bprt_temp_name(target, tmp, sizeof tmp, &special) != 0)
        return fail(err, path, "path too long, or a loop of symbolic links");
    if (special)
        return access(path, W_OK) == 0 ? 0 : fail(err, path, "cannot write: %s", strerror(errno));
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return fail(err, path, "cannot create %s: %s", tmp, strerror(errno));
    fclose(f);
    remove(tmp);
    return 0;
}

int bprt_st_write(const char *path, const BprtTensorOut *t, int count, char err[BPRT_ERRLEN])
{
    if (count < 0)
        return fail(err, path, "negative tensor count %d", count);
    uint64_t *sizes = calloc((size_t)count + 1, sizeof *sizes);
    StrBuf hdr = {0};
    if (!sizes)
        return fail(err, path, "out of memory");
    if (build_header(path, t, count, sizes, &hdr, err)) {
        free(sizes);
        free(hdr.p);
        return -1;
    }

    char tmp[4096], target[4096]; /* a symbolic link's file is replaced, not the link */
    int special;
    if (bprt_resolve_links(path, target, sizeof target) != 0 ||
        bprt_temp_name(target, tmp, sizeof tmp, &special) != 0) {
        free(sizes);
        free(hdr.p);
        return fail(err, path, "path too long, or a loop of symbolic links");
    }
    int rc = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = fail(err, path, "cannot create %s: %s", tmp, strerror(errno));
    } else {
        if (!special)
            bprt_keep_mode(target, fileno(f));
        uint64_t hlen = hdr.len;
        int ok = fwrite(&hlen, 8, 1, f) == 1 && fwrite(hdr.p, 1, hdr.len, f) == hdr.len;
        for (int i = 0; ok && i < count; i++)
            ok = sizes[i] == 0 || fwrite(t[i].data, 1, (size_t)sizes[i], f) == sizes[i];
        ok = ok && fflush(f) == 0 && (special || fsync(fileno(f)) == 0);
        int e = errno;
        if (fclose(f) != 0 && ok) {
            ok = 0;
            e = errno;
        }
        if (!ok)
            rc = fail(err, path, "cannot write %s: %s", tmp, strerror(e));
        else if (!special && rename(tmp, target) != 0)
            rc = fail(err, path, "cannot rename %s over it: %s", tmp, strerror(errno));
        if (rc && !special)
            remove(tmp);
    }
    free(sizes);
    free(hdr.p);
    return rc;
}
