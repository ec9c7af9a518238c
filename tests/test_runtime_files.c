/* test_runtime_files.c — the safetensors reader/writer and the IDX reader.
 *
 * safetensors: round trip of F32/F64/I32/I64 (with a scalar and an empty tensor) through
 * bprt_st_write / bprt_st_read, header padding and atomic replacement, bprt_st_writable
 * (a path tried before training), bprt_st_to_f64 for every dtype, and a table of
 * malformed files, each with the exact expected message.
 * IDX: a small valid file written plain and gzipped (zlib), then truncated, trailing
 * garbage, bad magic and other malformed headers, with exact messages.
 * Data sets (data.c): an IDX split of 10 images of 2x3 pixels and a text split, each epoch's
 * order (a permutation, the same for the same seed and epoch), the batches' samples (every
 * byte's pixel the float and the double nearest to v / 255), and
 * bprt_train_epoch's loop: every sample once, batches 4 4 2, a resumed epoch, a step that
 * stops it, one that fails, skipped steps' losses left out of the mean.
 * Files are written to the working directory (ctest runs in the build tree) under
 * names starting "rt_". */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "bprt.h"

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* A safetensors file: header length `hlen` (as written), header text, `data_len` bytes
 * of data (0x11 each). */
static void write_st(const char *path, uint64_t hlen, const char *header, size_t data_len)
{
    size_t n = strlen(header);
    unsigned char *buf = malloc(8 + n + data_len + 1);
    memcpy(buf, &hlen, 8);
    memcpy(buf + 8, header, n);
    memset(buf + 8 + n, 0x11, data_len);
    write_bytes(path, buf, 8 + n + data_len);
    free(buf);
}

/* ---- safetensors ---------------------------------------------------------------------- */

static void test_st_round_trip(void **state)
{
    (void)state;
    float f32[6] = {1.5f, -2, 3, 4, 5, 6.25f};
    double f64[3] = {1e300, -0.5, 3};
    int32_t i32[2] = {-7, 2147483647};
    int64_t i64[1] = {-1099511627776};
    BprtTensorOut out[] = {
        {"layer1.W", BPRT_F32, 2, {2, 3}, f32},
        {"b \"quoted\"", BPRT_F64, 1, {3}, f64},
        {"i32", BPRT_I32, 2, {1, 2}, i32},
        {"scalar", BPRT_I64, 0, {0}, i64},
        {"empty", BPRT_F32, 2, {0, 5}, NULL},
    };
    char err[BPRT_ERRLEN];
    assert_int_equal(bprt_st_write("rt_ok.safetensors", out, 5, err), 0);
    /* overwrite atomically with the same content, and no temp file stays behind */
    assert_int_equal(bprt_st_write("rt_ok.safetensors", out, 5, err), 0);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "rt_ok.safetensors.tmp.%ld", (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);

    BprtSafetensors st;
    int rc = bprt_st_read("rt_ok.safetensors", &st, err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(st.count, 5);
    uint64_t hlen;
    memcpy(&hlen, st.blob, 8);
    assert_int_equal(hlen % 8, 0);
    for (int i = 0; i < 5; i++)
        assert_string_equal(st.tensors[i].name, out[i].name); /* order kept */
    const BprtTensor *w = bprt_st_find(&st, "layer1.W");
    assert_non_null(w);
    assert_int_equal(w->dtype, BPRT_F32);
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[0], 2);
    assert_int_equal(w->shape[1], 3);
    assert_int_equal(w->count, 6);
    assert_memory_equal(w->data, f32, sizeof f32);
    const BprtTensor *b = bprt_st_find(&st, "b \"quoted\"");
    assert_non_null(b);
    assert_memory_equal(b->data, f64, sizeof f64);
    double d[6];
    bprt_st_to_f64(bprt_st_find(&st, "i32"), d);
    assert_true(d[0] == -7 && d[1] == 2147483647.0);
    const BprtTensor *s = bprt_st_find(&st, "scalar");
    assert_int_equal(s->ndim, 0);
    assert_int_equal(s->count, 1);
    bprt_st_to_f64(s, d);
    assert_true(d[0] == -1099511627776.0);
    assert_int_equal(bprt_st_find(&st, "empty")->count, 0);
    assert_null(bprt_st_find(&st, "nope"));
    bprt_st_free(&st);
    assert_null(st.blob);
}

static void test_st_write_errors(void **state)
{
    (void)state;
    float x = 1;
    BprtTensorOut out[] = {{"x", BPRT_F32, 0, {0}, &x}, {"x", BPRT_F32, 0, {0}, &x}};
    char err[BPRT_ERRLEN];
    assert_int_equal(bprt_st_write("rt_dup.safetensors", out, 2, err), -1);
    assert_string_equal(err, "rt_dup.safetensors: duplicate tensor name 'x'");
    assert_int_equal(bprt_st_write("rt_no_such_dir/a.safetensors", out, 1, err), -1);
    char want[128];
    snprintf(want, sizeof want,
             "rt_no_such_dir/a.safetensors: cannot create rt_no_such_dir/a.safetensors.tmp.%ld: "
             "No such file or directory", (long)getpid());
    assert_string_equal(err, want);
}

/* Writing through a symbolic link replaces the file it names and keeps the link (the link
 * was replaced by a regular file, the file it named left as it was); a dangling link's
 * target is created; a loop of links is an error. */
static void test_st_write_symlinks(void **state)
{
    (void)state;
    float x = 2;
    BprtTensorOut out[] = {{"x", BPRT_F32, 0, {0}, &x}};
    char err[BPRT_ERRLEN], buf[64];
    mkdir("rt_links", 0777);
    write_bytes("rt_links/old.safetensors", "old", 3);
    remove("rt_link.safetensors");
    assert_int_equal(symlink("rt_links/old.safetensors", "rt_link.safetensors"), 0);
    assert_int_equal(bprt_st_write("rt_link.safetensors", out, 1, err), 0);
    ssize_t n = readlink("rt_link.safetensors", buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = 0;
    assert_string_equal(buf, "rt_links/old.safetensors"); /* still the link */
    BprtSafetensors st;
    assert_int_equal(bprt_st_read("rt_links/old.safetensors", &st, err), 0);
    assert_int_equal(st.count, 1);
    bprt_st_free(&st);
    /* relative to the link's directory; dangling */
    remove("rt_links/new.safetensors");
    remove("rt_links/rel.safetensors");
    assert_int_equal(symlink("new.safetensors", "rt_links/rel.safetensors"), 0);
    assert_int_equal(bprt_st_writable("rt_links/rel.safetensors", err), 0);
    assert_int_equal(bprt_st_write("rt_links/rel.safetensors", out, 1, err), 0);
    assert_int_equal(access("rt_links/new.safetensors", F_OK), 0);
    remove("rt_loop1");
    remove("rt_loop2");
    assert_int_equal(symlink("rt_loop2", "rt_loop1"), 0);
    assert_int_equal(symlink("rt_loop1", "rt_loop2"), 0);
    assert_int_equal(bprt_st_write("rt_loop1", out, 1, err), -1);
    assert_string_equal(err, "rt_loop1: path too long, or a loop of symbolic links");
}

/* The replaced file's permissions are kept (a 0600 checkpoint became 0644, the umask's) */
static void test_st_write_keeps_mode(void **state)
{
    (void)state;
    float x = 2;
    BprtTensorOut out[] = {{"x", BPRT_F32, 0, {0}, &x}};
    char err[BPRT_ERRLEN];
    write_bytes("rt_private.safetensors", "old", 3);
    assert_int_equal(chmod("rt_private.safetensors", 0600), 0);
    assert_int_equal(bprt_st_write("rt_private.safetensors", out, 1, err), 0);
    struct stat sb;
    assert_int_equal(stat("rt_private.safetensors", &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(sb.st_size > 3, 1); /* replaced */
}

/* bprt_st_writable: what bprt_st_write would refuse, found without writing path */
static void test_st_writable(void **state)
{
    (void)state;
    char err[BPRT_ERRLEN], want[160], tmp[64];
    write_bytes("rt_keep.safetensors", "keep", 4);
    assert_int_equal(bprt_st_writable("rt_keep.safetensors", err), 0);
    assert_int_equal(bprt_st_writable("rt_new.safetensors", err), 0);
    FILE *f = fopen("rt_keep.safetensors", "rb");
    char got[8] = {0};
    assert_non_null(f);
    assert_int_equal(fread(got, 1, sizeof got, f), 4); /* path itself untouched */
    fclose(f);
    assert_string_equal(got, "keep");
    assert_int_not_equal(access("rt_new.safetensors", F_OK), 0);
    snprintf(tmp, sizeof tmp, "rt_new.safetensors.tmp.%ld", (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0); /* the trial file is gone */
    assert_int_equal(bprt_st_writable("rt_no_such_dir/a.safetensors", err), -1);
    snprintf(want, sizeof want,
             "rt_no_such_dir/a.safetensors: cannot create rt_no_such_dir/a.safetensors.tmp.%ld: "
             "No such file or directory", (long)getpid());
    assert_string_equal(err, want);
    assert_int_equal(bprt_st_writable(".", err), -1);
    assert_string_equal(err, ".: is a directory");
    assert_int_equal(bprt_st_writable("/dev/null", err), 0); /* written in place */
}

static void test_st_to_f64_dtypes(void **state)
{
    (void)state;
    /* F16: 1.0, -2.0, 65504, smallest subnormal; BF16: 1.0, -0.5; U8 255; I8 -128;
       I16 -300; a U8 of padding; BOOL 0, 1; U16, U32 at their largest, U64 2^63 — offsets chosen so later
       tensors sit unaligned */
    const char *hdr = "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
                      "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                      "\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[12,13]},"
                      "\"i8\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[13,14]},"
                      "\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[14,16]},"
                      "\"pad\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[16,17]},"
                      "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[17,21]},"
                      "\"bo\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[21,23]},"
                      "\"u16\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[23,25]},"
                      "\"u32\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[25,29]},"
                      "\"u64\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[29,37]},"
                      "\"__metadata__\":{\"format\":\"pt\"}}";
    size_t hl = strlen(hdr);
    unsigned char buf[1024] = {0};
    uint64_t hlen = hl;
    memcpy(buf, &hlen, 8);
    memcpy(buf + 8, hdr, hl);
    unsigned char *p = buf + 8 + hl;
    const unsigned char data[37] = {0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, /* F16 */
                                    0x80, 0x3f, 0x00, 0xbf,                         /* BF16 */
                                    0xff, 0x80, 0xd4, 0xfe, 0x00,                   /* U8 I8 I16 pad */
                                    0x00, 0x00, 0xc0, 0x3f,                         /* F32 1.5 */
                                    0x00, 0x01,                                     /* BOOL */
                                    0xff, 0xff,                         /* U16 65535 */
                                    0xff, 0xff, 0xff, 0xff,             /* U32 2^32 - 1 */
                                    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80}; /* U64 2^63 */
    memcpy(p, data, sizeof data);
    write_bytes("rt_dtypes.safetensors", buf, 8 + hl + sizeof data);
    BprtSafetensors st;
    char err[BPRT_ERRLEN];
    int rc = bprt_st_read("rt_dtypes.safetensors", &st, err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(st.count, 11);
    double d[4];
    bprt_st_to_f64(bprt_st_find(&st, "h"), d);
    assert_true(d[0] == 1 && d[1] == -2 && d[2] == 65504 && d[3] == 0x1p-24);
    bprt_st_to_f64(bprt_st_find(&st, "bf"), d);
    assert_true(d[0] == 1 && d[1] == -0.5);
    bprt_st_to_f64(bprt_st_find(&st, "u"), d);
    assert_true(d[0] == 255);
    bprt_st_to_f64(bprt_st_find(&st, "i8"), d);
    assert_true(d[0] == -128);
    bprt_st_to_f64(bprt_st_find(&st, "i16"), d);
    assert_true(d[0] == -300);
    bprt_st_to_f64(bprt_st_find(&st, "f"), d);
    assert_true(d[0] == 1.5);
    bprt_st_to_f64(bprt_st_find(&st, "bo"), d);
    assert_true(d[0] == 0 && d[1] == 1);
    bprt_st_to_f64(bprt_st_find(&st, "u16"), d);
    assert_true(d[0] == 65535);
    bprt_st_to_f64(bprt_st_find(&st, "u32"), d);
    assert_true(d[0] == 4294967295.0);
    bprt_st_to_f64(bprt_st_find(&st, "u64"), d);
    assert_true(d[0] == 0x1p63);
    bprt_st_free(&st);
}

typedef struct BadSt {
    uint64_t hlen;      /* 0: strlen(header) */
    const char *header; /* NULL: write `raw` instead */
    size_t data_len;
    const char *message; /* after "rt_bad.safetensors: " */
} BadSt;

#define E(s) "{\"W1\":" s "}"
static const BadSt bad_st[] = {
    {0, NULL, 0, "file is 3 bytes, too short for the 8-byte header length"},
    {9999, "{}", 10, "header length 9999 exceeds file size 20"},
    {209715200, "{}", 0, "header length 209715200 exceeds the limit of 104857600 bytes"},
    /* a length the file cannot hold and no '{': another kind of file (it said "exceeds") */
    {9999, "ab", 10, "not a safetensors file (one starts with an 8-byte header length and a '{')"},
    {0, "{\"a\":", 0, "header is not valid JSON (error at byte 4 of 5)"},
    {0, "{\"a\" 1}", 0, "header is not valid JSON (error at byte 5 of 7)"},
    {0, "[1, 2]", 0, "header is not a JSON object"},
    {0, "{} x", 0, "header has text after the JSON object (at byte 3)"},
    {0, E("5"), 0, "tensor 'W1': entry is not an object"},
    {0, E("{\"shape\":[],\"data_offsets\":[0,4]}"), 4, "tensor 'W1': missing \"dtype\""},
    {0, E("{\"dtype\":32,\"shape\":[],\"data_offsets\":[0,4]}"), 4,
     "tensor 'W1': \"dtype\" is not a string"},
    {0, E("{\"dtype\":\"Q8\",\"shape\":[],\"data_offsets\":[0,4]}"), 4,
     "tensor 'W1': unknown dtype \"Q8\""},
    /* one of the format's dtypes bpc does not convert (it said "unknown dtype") */
    {0, E("{\"dtype\":\"F8_E4M3\",\"shape\":[],\"data_offsets\":[0,1]}"), 1,
     "tensor 'W1': dtype F8_E4M3 is not supported (bpc reads F64, F32, F16, BF16, I64, I32, I16, "
     "I8, U64, U32, U16, U8 and BOOL)"},
    {0, E("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}"), 4, "tensor 'W1': missing \"shape\""},
    {0, E("{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,4]}"), 4,
     "tensor 'W1': \"shape\" is not an array"},
    {0, E("{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}"), 4,
     "tensor 'W1': shape has 9 dimensions, more than 8"},
    {0, E("{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,4]}"), 4,
     "tensor 'W1': shape[1] is not a non-negative integer"},
    {0, E("{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,4]}"), 4,
     "tensor 'W1': shape[0] is not a non-negative integer"},
    {0, E("{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,4]}"), 4,
     "tensor 'W1': shape[0] is not a non-negative integer"},
    {0, E("{\"dtype\":\"F32\",\"shape\":[1]}"), 4, "tensor 'W1': missing \"data_offsets\""},
    {0, E("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}"), 4,
     "tensor 'W1': \"data_offsets\" is not an array of 2 non-negative integers"},
    {0, E("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}"), 4,
     "tensor 'W1': \"data_offsets\" is not an array of 2 non-negative integers"},
    {0, E("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}"), 4,
     "tensor 'W1': \"data_offsets\" is not an array of 2 non-negative integers"},
    {0, E("{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,12]}"), 24,
     "tensor 'W1': data_offsets [0, 12] hold 12 bytes but shape [2, 3] of F32 needs 24"},
    {0, E("{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[12,0]}"), 24,
     "tensor 'W1': data_offsets [12, 0] begin after end"},
    {0, E("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"), 4,
     "tensor 'W1': data_offsets [0, 8] reach past the 4-byte data section"},
    {0, E("{\"dtype\":\"F32\",\"shape\":[9007199254740992,9007199254740992],"
          "\"data_offsets\":[0,8]}"), 8,
     "tensor 'W1': shape [9007199254740992, 9007199254740992] has too many elements"},
    {0, E("{\"dtype\":\"F64\",\"shape\":[9007199254740992,512],\"data_offsets\":[0,8]}"), 8,
     "tensor 'W1': shape [9007199254740992, 512] of F64 is too large"},
    {0, "{\"W1\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"W1\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     "duplicate tensor name 'W1'"},
    /* the first name (in the header's order) that repeats an earlier one */
    {0, "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0,
     "duplicate tensor name 'b'"},
    /* the header is UTF-8: a stray byte (Latin-1's 0xe9), a truncated sequence, an overlong
     * form and a surrogate are refused; a name printed from them was garbled */
    {0, "{\"caf\xe9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     "header is not valid UTF-8 (byte 0xe9 at byte 5)"},
    {0, "{\"a\":1} \xe2\x82", 1, "header is not valid UTF-8 (byte 0xe2 at byte 8)"},
    {0, "{\"\xc0\xaf\":1}", 1, "header is not valid UTF-8 (byte 0xc0 at byte 2)"},
    {0, "{\"\xed\xa0\x80\":1}", 1, "header is not valid UTF-8 (byte 0xed at byte 2)"},
    /* valid UTF-8 names pass (this fails later, on its size) */
#define NAME "mod\xc3\xa8le_\xe2\x82\xac_\xf0\x9f\x98\x80"
    {0, "{\"" NAME "\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1,
     "tensor '" NAME "': data_offsets [0, 1] hold 1 bytes but shape [2] of U8 needs 2"},
#undef NAME
    /* a NUL in a name: cJSON cut "W1\u0000x" to W1, which then loaded as the parameter W1 */
    {0, "{\"W1\\u0000x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     "header holds a \\u0000 escape (a NUL character) at byte 4: names and strings cannot contain one"},
    /* an escaped backslash before u0000 is no NUL: this fails later, on its size */
    {0, "{\"a\\\\u0000\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1,
     "tensor 'a\\u0000': data_offsets [0, 1] hold 1 bytes but shape [2] of U8 needs 2"},
    /* the tensors tile the data section, as Hugging Face's reader requires (an overlap, a gap
     * and trailing bytes were accepted) */
    {0, "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3,
     "tensor 'b': data_offsets [1, 3] overlap those of tensor 'a', [0, 2] (a damaged file?)"},
    {0, "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 3,
     "tensor 'b': data_offsets [2, 3] leave bytes [1, 2) of the data section unused (a damaged file?)"},
    {0, E("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}"), 2,
     "tensor 'W1': data_offsets [1, 2] leave bytes [0, 1) of the data section unused (a damaged file?)"},
    {0, E("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}"), 3,
     "the data section has 2 bytes after the last tensor's data (it is 3 bytes, the tensors end at 1): "
     "a damaged file?"},
    {0, "{}", 4, "the header names no tensors, but the data section has 4 bytes: a damaged file?"},
    {0, "{\"__metadata__\":[1]}", 0, "\"__metadata__\" is not an object"},
    {0, "{\"__metadata__\":{\"a\":1}}", 0, "\"__metadata__\" entry 'a' is not a string"},
};
#undef E

/* 200000 empty tensors, the last named as the first: the duplicate is found, and fast (the
 * names were compared pairwise: 2e10 comparisons, minutes; sorted, well under a second) */
static void test_st_many_tensors(void **state)
{
    (void)state;
    enum { N = 200000 };
    size_t cap = (size_t)N * 64 + 64, n = 0;
    char *h = malloc(cap);
    assert_non_null(h);
    n += (size_t)snprintf(h + n, cap - n, "{");
    for (int i = 0; i <= N; i++)
        n += (size_t)snprintf(h + n, cap - n, "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
                              i ? "," : "", i < N ? i : 0);
    snprintf(h + n, cap - n, "}");
    write_st("rt_many.safetensors", strlen(h), h, 0);
    free(h);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    BprtSafetensors st;
    char err[BPRT_ERRLEN];
    assert_int_equal(bprt_st_read("rt_many.safetensors", &st, err), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_string_equal(err, "rt_many.safetensors: duplicate tensor name 't0'");
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (s > 20) fail_msg("reading 200000 tensor names took %.1f s", s);
    remove("rt_many.safetensors");
}

static void test_st_malformed(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof bad_st / sizeof bad_st[0]; i++) {
        const BadSt *c = &bad_st[i];
        if (c->header)
            write_st("rt_bad.safetensors", c->hlen ? c->hlen : strlen(c->header), c->header,
                     c->data_len);
        else
            write_bytes("rt_bad.safetensors", "abc", 3);
        BprtSafetensors st;
        char err[BPRT_ERRLEN], want[BPRT_ERRLEN];
        snprintf(want, sizeof want, "rt_bad.safetensors: %s", c->message);
        int rc = bprt_st_read("rt_bad.safetensors", &st, err);
        if (rc != -1 || strcmp(err, want) != 0) {
            print_error("case %zu: got rc %d '%s'\n          expected '%s'\n", i, rc,
                        rc ? err : "", want);
            failures++;
        }
        if (rc == 0)
            bprt_st_free(&st);
        else
            assert_null(st.blob);
    }
    BprtSafetensors st;
    char err[BPRT_ERRLEN];
    assert_int_equal(bprt_st_read("rt_missing.safetensors", &st, err), -1);
    assert_string_equal(err, "rt_missing.safetensors: cannot open: No such file or directory");
    /* a directory says so; a named pipe without a writer is refused, not waited on for ever */
    assert_int_equal(bprt_st_read(".", &st, err), -1);
    assert_string_equal(err, ".: is a directory");
    remove("rt_fifo");
    assert_int_equal(mkfifo("rt_fifo", 0600), 0);
    alarm(10); /* (the old reader blocked in fopen) */
    assert_int_equal(bprt_st_read("rt_fifo", &st, err), -1);
    alarm(0);
    assert_string_equal(err, "rt_fifo: not a regular file (a device, pipe or socket)");
    remove("rt_fifo");
    assert_int_equal(failures, 0);
}

/* ---- IDX ------------------------------------------------------------------------------ */

static const unsigned char idx_ok[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255};

static void write_gz(const char *path, const void *p, size_t n)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, p, (unsigned)n), (int)n);
    assert_int_equal(gzclose(gz), Z_OK);
}

static void check_idx_ok(const char *path)
{
    BprtIdx idx;
    char err[BPRT_ERRLEN];
    int rc = bprt_idx_read(path, &idx, err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(idx.ndim, 2);
    assert_int_equal(idx.dims[0], 2);
    assert_int_equal(idx.dims[1], 3);
    assert_int_equal(idx.count, 6);
    assert_memory_equal(idx.data, idx_ok + 12, 6);
    bprt_idx_free(&idx);
    assert_null(idx.data);
}

static void test_idx_valid(void **state)
{
    (void)state;
    write_bytes("rt_ok.idx", idx_ok, sizeof idx_ok);
    check_idx_ok("rt_ok.idx");
    write_gz("rt_ok.idx.gz", idx_ok, sizeof idx_ok);
    check_idx_ok("rt_ok.idx.gz");
}

typedef struct BadIdx {
    unsigned char bytes[24];
    size_t len;
    const char *message; /* after "rt_bad.idx: " */
} BadIdx;

static const BadIdx bad_idx[] = {
    {{0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4}, 16,
     "IDX payload truncated: dims 2 x 3 need 6 bytes, file has 4"},
    {{0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7}, 19,
     "trailing data after the 6-byte IDX payload (dims 2 x 3)"},
    {{1, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6}, 18,
     "bad IDX magic 01 00 08 02 (expected 00 00 08 <ndim>)"},
    {{0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0}, 12,
     "IDX element type 0x0d is not supported (only 0x08, unsigned byte)"},
    {{0, 0, 8, 0}, 4, "IDX has 0 dimensions, expected 1 to 4"},
    {{0, 0, 8, 5}, 4, "IDX has 5 dimensions, expected 1 to 4"},
    {{0, 0}, 2, "file is 2 bytes, too short for the 4-byte IDX magic"},
    {{0, 0, 8, 3, 0, 0, 0, 2, 0, 0}, 10,
     "truncated IDX header: 3 dimensions need 12 bytes, file has 6"},
    {{0, 0, 8, 1, 0, 0}, 6, "truncated IDX header: 1 dimension needs 4 bytes, file has 2"}, /* a labels file's */
    {{0, 0, 8, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0}, 16,
     "IDX dims 65536 x 65536 x 65536 exceed the limit of 4294967296 bytes"},
};

static void test_idx_malformed(void **state)
{
    (void)state;
    int failures = 0;
    for (int gz = 0; gz < 2; gz++) {
        for (size_t i = 0; i < sizeof bad_idx / sizeof bad_idx[0]; i++) {
            const BadIdx *c = &bad_idx[i];
            const char *path = gz ? "rt_bad.idx.gz" : "rt_bad.idx";
            if (gz)
                write_gz(path, c->bytes, c->len);
            else
                write_bytes(path, c->bytes, c->len);
            BprtIdx idx;
            char err[BPRT_ERRLEN], want[BPRT_ERRLEN];
            snprintf(want, sizeof want, "%s: %s", path, c->message);
            int rc = bprt_idx_read(path, &idx, err);
            if (rc != -1 || strcmp(err, want) != 0) {
                print_error("case %zu: got rc %d '%s'\n          expected '%s'\n", i, rc,
                            rc ? err : "", want);
                failures++;
            }
            if (rc == 0)
                bprt_idx_free(&idx);
        }
    }
    assert_int_equal(failures, 0);

    /* a gzip stream cut short: zlib's complaint is passed on */
    unsigned char big[4096 + 16] = {0, 0, 8, 1, 0, 0, 16, 0};
    for (int i = 0; i < 4096; i++)
        big[8 + i] = (unsigned char)(i * 7919 >> 3);
    write_gz("rt_cut.idx.gz", big, 8 + 4096);
    FILE *f = fopen("rt_cut.idx.gz", "rb");
    unsigned char gzbuf[8192];
    size_t n = fread(gzbuf, 1, sizeof gzbuf, f);
    fclose(f);
    write_bytes("rt_cut.idx.gz", gzbuf, n / 2);
    BprtIdx idx;
    char err[BPRT_ERRLEN];
    assert_int_equal(bprt_idx_read("rt_cut.idx.gz", &idx, err), -1);
    const char *want = "rt_cut.idx.gz: IDX payload truncated: dims 4096 need 4096 bytes, file has ";
    if (strncmp(err, want, strlen(want)) != 0)
        print_error("got '%s'\n", err);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    assert_non_null(strstr(err, "; gzip: unexpected end of file")); /* the path said once */
    assert_null(strstr(err, "gzip: rt_cut"));
    /* a directory: "read error: Is a directory" (zlib's message repeated the path) */
    mkdir("rt_dir.idx", 0777);
    assert_int_equal(bprt_idx_read("rt_dir.idx", &idx, err), -1);
    assert_string_equal(err, "rt_dir.idx: read error: Is a directory");

    assert_int_equal(bprt_idx_read("rt_missing.idx", &idx, err), -1);
    assert_string_equal(err, "rt_missing.idx: cannot open: No such file or directory");
}


/* ---- data sets and epochs (data.c) --------------------------------------------------- */

/* DIR/PREFIX-images-idx3-ubyte.gz of n images of 2x3 pixels (image i: bytes 10 i + k) and
 * DIR/PREFIX-labels-idx1-ubyte (plain) with label i % 7. */
static void write_idx_split(const char *dir, const char *prefix, int n)
{
    unsigned char img[16 + 6 * 40], lab[8 + 40];
    const unsigned char ih[16] = {0, 0, 8, 3, 0, 0, 0, (unsigned char)n, 0, 0, 0, 2, 0, 0, 0, 3};
    const unsigned char lh[8] = {0, 0, 8, 1, 0, 0, 0, (unsigned char)n};
    memcpy(img, ih, 16);
    memcpy(lab, lh, 8);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 6; k++) img[16 + 6 * i + k] = (unsigned char)(10 * i + k);
        lab[8 + i] = (unsigned char)(i % 7);
    }
    char path[256];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    write_gz(path, img, 16 + 6 * (size_t)n);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    write_bytes(path, lab, 8 + (size_t)n);
}

/* Whether q is the float (or double) nearest to v / 255, for v a byte: its residual
 * q * 255 - v is no larger than either neighbour's. Each residual is exact: a float's
 * product with 255 fits a double's 53 bits, and a double's is a multiple of q's ulp of at
 * most a few hundred of them, which fma rounds only once. (v / 255 is never halfway
 * between two of them: its binary digits repeat v's 8 bits.) */
static int nearest_quotientf(float q, int64_t v)
{
    const double lo = fabs((double)nextafterf(q, 0) * 255 - (double)v), at = fabs((double)q * 255 - (double)v),
                 hi = fabs((double)nextafterf(q, 2) * 255 - (double)v);
    return at <= lo && at <= hi;
}
static int nearest_quotientd(double q, int64_t v)
{
    const double lo = fabs(fma(nextafter(q, 0), 255, -(double)v)), at = fabs(fma(q, 255, -(double)v)),
                 hi = fabs(fma(nextafter(q, 2), 255, -(double)v));
    return at <= lo && at <= hi;
}
#define nearest_quotient(q, v) _Generic((q), float: nearest_quotientf, double: nearest_quotientd)(q, v)

static void test_split_idx(void **state)
{
    (void)state;
    char err[BPRT_ERRLEN];
    BprtSplit tr, te;
    write_idx_split("rt_data", "train", 10);
    assert_int_equal(bprt_split_idx("rt_data", "train", &tr, err), 0);
    assert_int_equal(tr.n, 10);
    assert_int_equal(tr.pixels, 6);
    assert_null(tr.text);
    assert_string_equal(tr.ip, "rt_data/train-images-idx3-ubyte.gz");
    assert_string_equal(tr.lp, "rt_data/train-labels-idx1-ubyte");
    int64_t order[10], again[10], other[10];
    bprt_epoch_order(&tr, 7, 1, order);
    bprt_epoch_order(&tr, 7, 1, again);
    bprt_epoch_order(&tr, 7, 2, other);
    assert_memory_equal(order, again, sizeof order);
    assert_memory_not_equal(order, other, sizeof order);
    int seen[10] = {0};
    for (int i = 0; i < 10; i++) {
        assert_in_range(order[i], 0, 9);
        seen[order[i]]++;
    }
    for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
    float x[2 * 6];
    double xd[2 * 6];
    int32_t y[2];
    const int64_t rows[2] = {3, 9};
    bprt_split_batch(&tr, rows, 2, 0, x, y);
    bprt_split_batch(&tr, rows, 2, 1, xd, y);
    for (int b = 0; b < 2; b++) {
        assert_int_equal(y[b], rows[b] % 7);
        for (int k = 0; k < 6; k++) {
            assert_true(nearest_quotient(x[6 * b + k], 10 * rows[b] + k));
            assert_true(nearest_quotient(xd[6 * b + k], 10 * rows[b] + k));
        }
    }
    /* test images of other rows and columns, and missing files, are said with their names */
    const unsigned char te_img[] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6};
    const unsigned char te_lab[] = {0, 0, 8, 1, 0, 0, 0, 1, 0};
    write_bytes("rt_data/t10k-images-idx3-ubyte", te_img, sizeof te_img);
    write_bytes("rt_data/t10k-labels-idx1-ubyte", te_lab, sizeof te_lab);
    assert_int_equal(bprt_split_idx("rt_data", "t10k", &te, err), 0);
    assert_int_equal(bprt_split_same_pixels(&tr, &tr, err), 0);
    assert_int_equal(bprt_split_same_pixels(&tr, &te, err), -1);
    assert_string_equal(err, "rt_data/t10k-images-idx3-ubyte: images of 3x2 pixels, but the training images "
                             "(rt_data/train-images-idx3-ubyte.gz) are 2x3");
    bprt_split_free(&te);
    assert_int_equal(bprt_split_idx("rt_data", "none", &te, err), -1);
    assert_string_equal(err, "rt_data/none-images-idx3-ubyte: cannot open: No such file or directory");
    bprt_split_free(&tr);
}

/* Every byte value's pixel: v / 255 correctly rounded, as torchvision's ToTensor divides
 * (the bytes were multiplied by the rounded 1/255: 126 of the 256 floats, 3 among them, and
 * 24 of the doubles, 33 the first, were an ulp off), plain and gzipped. */
static void test_split_idx_pixels(void **state)
{
    (void)state;
    unsigned char img[16 + 256], lab[8 + 1] = {0, 0, 8, 1, 0, 0, 0, 1, 4};
    const unsigned char ih[16] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0, 16};
    memcpy(img, ih, 16);
    for (int v = 0; v < 256; v++) img[16 + v] = (unsigned char)(255 - v);
    mkdir("rt_pixels", 0755);
    write_bytes("rt_pixels/train-labels-idx1-ubyte", lab, sizeof lab);
    write_bytes("rt_pixels/t10k-labels-idx1-ubyte", lab, sizeof lab);
    write_bytes("rt_pixels/train-images-idx3-ubyte", img, sizeof img);
    write_gz("rt_pixels/t10k-images-idx3-ubyte.gz", img, sizeof img);
    const char *prefix[2] = {"train", "t10k"};
    for (int i = 0; i < 2; i++) {
        char err[BPRT_ERRLEN];
        BprtSplit s;
        assert_int_equal(bprt_split_idx("rt_pixels", prefix[i], &s, err), 0);
        assert_int_equal(s.pixels, 256);
        float x[256];
        double xd[256];
        int32_t y[1];
        const int64_t row[1] = {0};
        bprt_split_batch(&s, row, 1, 0, x, y);
        assert_int_equal(y[0], 4);
        bprt_split_batch(&s, row, 1, 1, xd, y);
        int wrong = 0, wrongd = 0;
        for (int k = 0; k < 256; k++) {
            wrong += !nearest_quotient(x[k], 255 - k);
            wrongd += !nearest_quotient(xd[k], 255 - k);
        }
        assert_int_equal(wrong, 0);
        assert_int_equal(wrongd, 0);
        assert_true(x[0] == 1.0f && x[255] == 0.0f && xd[0] == 1.0 && xd[255] == 0.0);
        bprt_split_free(&s);
    }
}

static void test_split_text(void **state)
{
    (void)state;
    char err[BPRT_ERRLEN], text[101];
    for (int i = 0; i < 100; i++) text[i] = (char)('a' + i % 26);
    write_bytes("rt_text.txt", text, 100);
    BprtSplit tr, te;
    assert_int_equal(bprt_split_text("rt_text.txt", 4, 0, NULL, &tr, &te, err), 0);
    assert_int_equal(tr.len, 90); /* the last 10%: the test split */
    assert_int_equal(te.len, 10);
    assert_int_equal(tr.n, 90 / 4);
    assert_int_equal(te.n, (10 - 1) / 4); /* non-overlapping windows, each with its next byte */
    assert_int_equal(tr.window, 4);
    assert_true(te.text == tr.text + 90);
    int64_t order[22];
    bprt_epoch_order(&tr, 5, 3, order);
    for (int i = 0; i < 22; i++) assert_in_range(order[i], 0, 90 - 4 - 1);
    int32_t x[2 * 4], y[2 * 4];
    const int64_t rows[2] = {0, 85};
    bprt_split_batch(&tr, rows, 2, 0, x, y);
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 4; t++) {
            assert_int_equal(x[4 * b + t], 'a' + (rows[b] + t) % 26);
            assert_int_equal(y[4 * b + t], 'a' + (rows[b] + t + 1) % 26);
        }
    bprt_split_free(&te);
    bprt_split_free(&tr);
    assert_int_equal(bprt_split_text("rt_text.txt", 10, 0, NULL, &tr, &te, err), -1);
    assert_string_equal(err, "rt_text.txt: 100 bytes of text is too short: windows of T = 10 bytes need at least 110 "
                             "(T + 1 bytes for training and T + 1 in the held-out last 10%)");
    assert_int_equal(bprt_split_text("rt_text.txt", 4, 100, NULL, &tr, &te, err), -1);
    assert_string_equal(err, "rt_text.txt: byte 3 is 100, outside the 100 classes (0 to 99)");
    assert_int_equal(bprt_split_text("rt_text.txt", 0, 0, NULL, &tr, &te, err), -1); /* (it divided by 0) */
    assert_string_equal(err, "rt_text.txt: windows of 0 bytes: T must be 1 to 1073741824");
}

/* bprt_train_epoch's steps: what each saw, and what it answers (by the step's index). */
typedef struct EpochLog {
    int64_t k[64], rows[64][4];
    int n[64], calls;
    int32_t y[64][4];
    const int32_t *ybuf;
    int answer[64];
} EpochLog;

static int log_step(void *ctx, int64_t k, const int64_t *rows, int n, double *loss)
{
    EpochLog *l = ctx;
    int c = l->calls++;
    assert_in_range(c, 0, 63);
    l->k[c] = k;
    l->n[c] = n;
    for (int b = 0; b < n; b++) {
        l->rows[c][b] = rows[b];
        l->y[c][b] = l->ybuf ? l->ybuf[b] : -1;
    }
    *loss = (double)(k + 1);
    return l->answer[k];
}

static void test_train_epoch(void **state)
{
    (void)state;
    char err[BPRT_ERRLEN];
    BprtSplit tr;
    write_idx_split("rt_data", "train", 10);
    assert_int_equal(bprt_split_idx("rt_data", "train", &tr, err), 0);
    assert_int_equal(bprt_epoch_steps(&tr, 4), 3);
    int64_t order[10], want[10];
    float x[4 * 6];
    int32_t y[4];
    EpochLog l;
    memset(&l, 0, sizeof l);
    l.ybuf = y;
    BprtEpoch e;
    memset(&e, 0, sizeof e);
    e.split = &tr;
    e.batch = 4;
    e.epoch = 2;
    e.epochs = 3;
    e.seed = 11;
    e.order = order;
    e.x = x;
    e.y = y;
    e.step = log_step;
    e.ctx = &l;
    /* a whole epoch: batches of 4, 4 and 2 in the order of (seed, epoch), each filled */
    assert_int_equal(bprt_train_epoch(&e), 0);
    bprt_epoch_order(&tr, 11, 2, want);
    assert_int_equal(l.calls, 3);
    int seen[10] = {0};
    for (int c = 0; c < 3; c++) {
        assert_int_equal(l.k[c], c);
        assert_int_equal(l.n[c], c < 2 ? 4 : 2);
        for (int b = 0; b < l.n[c]; b++) {
            assert_int_equal(l.rows[c][b], want[4 * c + b]);
            assert_int_equal(l.y[c][b], want[4 * c + b] % 7);
            seen[l.rows[c][b]]++;
        }
    }
    for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
    assert_int_equal(e.next, 3);
    assert_int_equal(e.seen, 10);
    assert_true(e.sum_loss == 1 * 4 + 2 * 4 + 3 * 2);
    /* resumed at step 1; step 1 skipped (its loss left out), step 2 counted */
    memset(&l, 0, sizeof l);
    l.answer[1] = BPRT_STEP_SKIPPED;
    e.first = 1;
    e.x = NULL; /* the step fills its batch: y is left as it is */
    for (int b = 0; b < 4; b++) y[b] = -5;
    l.ybuf = y;
    assert_int_equal(bprt_train_epoch(&e), 0);
    assert_int_equal(l.calls, 2);
    assert_int_equal(l.k[0], 1);
    assert_int_equal(l.y[0][0], -5);
    assert_int_equal(l.y[1][1], -5);
    assert_int_equal(e.next, 3);
    assert_int_equal(e.seen, 2);
    assert_true(e.sum_loss == 3 * 2);
    /* a step that asks to stop: the epoch ends after it; one that fails: before it counts */
    memset(&l, 0, sizeof l);
    l.answer[0] = BPRT_STEP_COUNT | BPRT_STEP_STOP;
    e.first = 0;
    assert_int_equal(bprt_train_epoch(&e), 0);
    assert_int_equal(l.calls, 1);
    assert_int_equal(e.next, 1);
    assert_int_equal(e.seen, 4);
    memset(&l, 0, sizeof l);
    l.answer[1] = BPRT_STEP_FAIL;
    assert_int_equal(bprt_train_epoch(&e), -1);
    assert_int_equal(l.calls, 2);
    assert_int_equal(e.next, 1);
    assert_int_equal(e.seen, 4);
    /* a step's negative answer other than BPRT_STEP_FAIL fails it too */
    memset(&l, 0, sizeof l);
    l.answer[0] = -2;
    assert_int_equal(bprt_train_epoch(&e), -1);
    assert_int_equal(l.calls, 1);
    assert_int_equal(e.next, 0);
    assert_int_equal(e.seen, 0);
    /* nothing runs without a batch of at least 1, and the outputs say so */
    memset(&l, 0, sizeof l);
    e.batch = 0;
    e.first = 1;
    e.seen = 99;
    e.sum_loss = 99;
    assert_int_equal(bprt_train_epoch(&e), -1);
    assert_int_equal(l.calls, 0);
    assert_int_equal(e.seen, 0);
    assert_int_equal(e.next, 1);
    assert_true(e.sum_loss == 0);
    assert_int_equal(bprt_epoch_steps(&tr, 0), 0);
    bprt_split_free(&tr);
}

/* The progress bar bprt_progress draws on stderr, and bprt_train_epoch's: at its first step,
   every 20th and its last, then cleared (stderr captured in a file) */
static char *captured_stderr(void (*draw)(void *), void *arg)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen("rt_stderr.txt", "w+");
    assert_non_null(f);
    dup2(fileno(f), 2);
    draw(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(f);
    char *text = calloc(1, (size_t)n + 1);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

static void draw_bar(void *arg)
{
    (void)arg;
    bprt_progress(2, 5, 6, 24, 0.5, 1234.4, 3.25);
    bprt_progress(1, 1, 1, 2, -(double)NAN, 1, 0);
}

static void draw_epoch(void *arg)
{
    assert_int_equal(bprt_train_epoch(arg), 0);
}

static void test_progress(void **state)
{
    (void)state;
    char *text = captured_stderr(draw_bar, NULL);
    assert_string_equal(text, "\r  epoch 2/5 [======>                 ] 6/24 loss 0.5000 1234 samples/s ETA 3.2s   "
                              "\r  epoch 1/1 [============>           ] 1/2 loss nan 1 samples/s ETA 0.0s   ");
    free(text);
    char err[BPRT_ERRLEN];
    BprtSplit tr;
    write_idx_split("rt_data", "train", 40);
    assert_int_equal(bprt_split_idx("rt_data", "train", &tr, err), 0);
    int64_t order[40];
    EpochLog l;
    memset(&l, 0, sizeof l);
    BprtEpoch e;
    memset(&e, 0, sizeof e);
    e.split = &tr;
    e.batch = 1;
    e.epoch = e.epochs = 1;
    e.order = order;
    e.step = log_step;
    e.ctx = &l;
    e.progress = 1;
    text = captured_stderr(draw_epoch, &e);
    int bars = 0;
    for (const char *p = text; (p = strstr(p, "\r  epoch 1/1 [")); p++) bars++;
    assert_int_equal(bars, 3); /* steps 1, 21 and 40 */
    assert_non_null(strstr(text, "] 1/40 loss 1.0000 "));
    assert_non_null(strstr(text, "] 21/40 loss 11.0000 ")); /* the mean of 1 .. 21 */
    assert_non_null(strstr(text, "] 40/40 loss 20.5000 "));
    const char *last = strrchr(text, '\r');
    assert_int_equal(strlen(last), 1); /* cleared: a line of spaces between two carriage returns */
    assert_int_equal(last[-1], ' ');
    free(text);
    bprt_split_free(&tr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_st_round_trip),    cmocka_unit_test(test_st_write_errors),
        cmocka_unit_test(test_st_to_f64_dtypes), cmocka_unit_test(test_st_malformed),
        cmocka_unit_test(test_idx_valid),        cmocka_unit_test(test_idx_malformed),
        cmocka_unit_test(test_st_writable),      cmocka_unit_test(test_st_write_symlinks),
        cmocka_unit_test(test_st_write_keeps_mode), cmocka_unit_test(test_st_many_tensors),
        cmocka_unit_test(test_split_idx),        cmocka_unit_test(test_split_idx_pixels),
        cmocka_unit_test(test_split_text),
        cmocka_unit_test(test_train_epoch),      cmocka_unit_test(test_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
