/* fuzz_repl.c — libFuzzer harness for the REPL's own logic.
 *
 * The input bytes are a REPL session, one line each, as piped into `bpc repl`: statements
 * entered, replaced and reordered, bare expressions compiled and run through the tcc JIT,
 * :commands (:load, :save, :restore, :inputs, :grad, :step, :train, :eval, :emit, :reset...).
 * repl_main runs in-process with the input as its stdin, and frees its whole session at the
 * end of the input, so leaks show per input.
 *
 * Kept bounded and inside a sandbox:
 * - the session works in a temporary directory of the harness's own (removed at exit),
 *   emptied and given the same fixtures before each input (the caller's working directory
 *   is restored after it): seed.bp (README's worked example) and d/, a
 *   tiny IDX data set (8 training and 4 test images of 2x2 pixels, 3 classes);
 * - a command line (first non-blank byte ':') has its '/' made '_', so every file it names
 *   is in the sandbox, and one naming --jit is skipped (`--jit cc` runs the system compiler);
 * - an input with an integer of more than 2 digits is skipped (sizes, :step counts, epochs
 *   stay small enough for a run of a few milliseconds); BPC_MEMORY_LIMIT is 64 MiB.
 * A first line "#f32" runs the session with --f32. Output goes where the process's does
 * (libFuzzer: -close_fd_mask=3). Built with -fsanitize=fuzzer (BPC_FUZZ) or with replay.c. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];   /* the harness's temporary directory */
static char work[96];   /* root/w: the session's working directory */
static char script[96]; /* root/in: the input, read as stdin */

static const char seed_bp[] = "input  x = 2\ninput  y = 1\nparam  m1 = 3\nparam  m2 = 0.5\na1   = m1 * x\n"
                              "yhat = relu(a1 * m2)\nloss 0.5 * (yhat - y)^2\noptimizer sgd(lr = 0.1)\n";

static void die(const char *what)
{
    perror(what);
    abort();
}

/* Removes everything in dir (and dir itself if self). */
static void remove_tree(const char *dir, int self)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
                remove_tree(path, 1);
            else
                unlink(path);
        }
        closedir(d);
    }
    if (self)
        rmdir(dir);
}

static void cleanup(void)
{
    if (root[0])
        remove_tree(root, 1);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
        die(path);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* An IDX image file of n 2x2 images and its labels (0 1 2 0 ...). */
static void idx_pair(const char *images, const char *labels, int n)
{
    unsigned char buf[16 + 4 * 16];
    memcpy(buf, "\0\0\x08\x03", 4);
    put_be32(buf + 4, (uint32_t)n);
    put_be32(buf + 8, 2);
    put_be32(buf + 12, 2);
    for (int i = 0; i < 4 * n; i++)
        buf[16 + i] = (unsigned char)(i * 37 % 256);
    write_file(images, buf, 16 + 4 * (size_t)n);
    memcpy(buf, "\0\0\x08\x01", 4);
    put_be32(buf + 4, (uint32_t)n);
    for (int i = 0; i < n; i++)
        buf[8 + i] = (unsigned char)(i % 3);
    write_file(labels, buf, 8 + (size_t)n);
}

static void setup(void)
{
    if (root[0])
        return;
    snprintf(root, sizeof root, "%s", "/tmp/fuzz_repl.XXXXXX");
    if (!mkdtemp(root))
        die("mkdtemp");
    atexit(cleanup);
    snprintf(work, sizeof work, "%s/w", root);
    snprintf(script, sizeof script, "%s/in", root);
    if (mkdir(work, 0700) != 0)
        die(work);
    setenv("BPC_MEMORY_LIMIT", "67108864", 1);
    setenv("BPRT_NUM_THREADS", "1", 1);
    setenv("BPC_HISTORY", "history", 1);
}

static void fixtures(void)
{
    remove_tree(work, 0);
    if (chdir(work) != 0)
        die(work);
    write_file("seed.bp", seed_bp, sizeof seed_bp - 1);
    if (mkdir("d", 0700) != 0)
        die("d");
    idx_pair("d/train-images-idx3-ubyte", "d/train-labels-idx1-ubyte", 8);
    idx_pair("d/t10k-images-idx3-ubyte", "d/t10k-labels-idx1-ubyte", 4);
}

/* Makes the input safe to run (see the top); returns 0 to skip it. */
static int sandbox(char *text, size_t size)
{
    size_t digits = 0;
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= '0' && c <= '9') {
            if (digits == 0 && i > 0 && text[i - 1] == '.')
                digits = 1000; /* a fraction's digits are no size */
            else if (++digits == 3)
                return 0;
        } else
            digits = 0;
    }
    for (size_t i = 0; i < size;) {
        size_t end = i;
        while (end < size && text[end] != '\n')
            end++;
        size_t k = i;
        while (k < end && (text[k] == ' ' || text[k] == '\t'))
            k++;
        if (k < end && text[k] == ':') {
            for (size_t j = k; j < end; j++)
                if (text[j] == '/')
                    text[j] = '_';
            if (memmem(text + k, end - k, "--jit", 5))
                return 0;
        }
        i = end + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    if (!sandbox(text, size)) {
        free(text);
        return 0;
    }
    write_file(script, text, size);
    if (!freopen(script, "r", stdin))
        die(script);
    char *argv[] = {"repl", "--f32", NULL};
    int argc = size >= 5 && memcmp(text, "#f32\n", 5) == 0 ? 2 : 1;
    free(text);
    int cwd = open(".", O_RDONLY | O_DIRECTORY);
    if (cwd < 0)
        die(".");
    fixtures();
    repl_main(argc, argv);
    fflush(stdout);
    if (fchdir(cwd) != 0)
        die("fchdir");
    close(cwd);
    return 0;
}
