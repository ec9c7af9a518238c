/* test_tty_signals.c — Ctrl-C (SIGINT) on a pseudo-terminal does not fail standard output,
 * in `bpc repl` and in `bpc train`, and still cuts short a wait. A Ctrl-C that landed in a
 * write to the terminal, blocked while the terminal was not read, failed that write with
 * EINTR: the text was lost, and bpc ended with 'bpc: error: cannot write to standard output:
 * Interrupted system call' (the REPL with status 1). It came from three places: the REPL's
 * own output and bpc train's (their SIGINT handlers do not restart the call they land in),
 * and the line editor's drawing of a line being typed (libedit's handler, in place while it
 * reads a line, does not either). Here the terminal is read a little at a time while a child
 * sends SIGINT every 200 microseconds, so that the writes that block are interrupted. The
 * handlers are not made to restart calls for it: a Ctrl-C must still end the open of a FIFO
 * that `:load` or `--data` names (made so, it hung until a writer came). The bpc run is the
 * build's (BPC_EXE), or the one $BPC_EXE names. */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct Repl {
    pid_t pid;
    int fd;       /* the terminal's master side */
    char *out;    /* all the REPL has written to it */
    size_t n, cap;
    char dir[64]; /* its home and working directory */
} Repl;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* reads at most max bytes of the REPL's output, waiting up to ms milliseconds for them;
 * returns how many were read (0: none came, or the terminal is closed) */
static size_t take(Repl *r, size_t max, int ms) {
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(r->fd, &fds);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (select(r->fd + 1, &fds, NULL, NULL, &tv) <= 0) return 0;
    if (r->n + max + 1 > r->cap) {
        r->cap = 2 * (r->n + max + 1);
        r->out = realloc(r->out, r->cap);
        assert_non_null(r->out);
    }
    ssize_t k = read(r->fd, r->out + r->n, max);
    if (k <= 0) return 0;
    r->n += (size_t)k;
    r->out[r->n] = 0;
    return (size_t)k;
}

/* reads until nothing has come for quiet_ms (or limit_s has passed) */
static void drain(Repl *r, int quiet_ms, double limit_s) {
    const double end = now() + limit_s;
    double last = now();
    while (now() < end && now() - last < quiet_ms / 1000.0)
        if (take(r, 65536, 20)) last = now();
}

/* reads until the output has `what` after offset from (up to limit_s) */
static int wait_for(Repl *r, size_t from, const char *what, double limit_s) {
    const double end = now() + limit_s;
    while (now() < end) {
        if (r->n > from && strstr(r->out + from, what)) return 1;
        take(r, 65536, 20);
    }
    return r->n > from && strstr(r->out + from, what) != NULL;
}

static void type(Repl *r, const char *keys) {
    size_t n = strlen(keys), done = 0;
    while (done < n) {
        ssize_t k = write(r->fd, keys + done, n - done);
        if (k < 0 && errno != EINTR && errno != EAGAIN) fail_msg("writing to the REPL's terminal: %s", strerror(errno));
        if (k > 0) done += (size_t)k;
        else take(r, 65536, 5); /* the terminal's input is full: let the REPL go on */
    }
}

static const char *bpc_exe(void) { return getenv("BPC_EXE") ? getenv("BPC_EXE") : BPC_EXE; }

/* r->dir made and empty; before run */
static void make_dir(Repl *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/bpc-tty-signals-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
}

/* bpc with the arguments args (NULL-terminated, after the program's name) on a terminal,
 * in r->dir */
static void run(Repl *r, char *const args[]) {
    const char *bpc = bpc_exe();
    char *argv[16] = {(char *)bpc};
    for (int i = 0; args[i] && i < 14; i++) argv[i + 1] = args[i];
    struct winsize ws = {.ws_row = 50, .ws_col = 150};
    r->pid = forkpty(&r->fd, NULL, NULL, &ws);
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        if (chdir(r->dir) != 0) _exit(127);
        setenv("HOME", r->dir, 1);
        setenv("BPC_HISTORY", "history", 1);
        setenv("TERM", "xterm", 1);
        execv(bpc, argv);
        _exit(127);
    }
}

static void start(Repl *r) {
    make_dir(r);
    char *args[] = {"repl", NULL};
    run(r, args);
    if (!wait_for(r, 0, "bp> ", 30)) fail_msg("no prompt from %s repl:\n%s", bpc_exe(), r->out ? r->out : "");
}

/* waits for the process and removes its directory; returns its exit status (128 + N: killed by signal N, as
 * a shell says) */
static int reap(Repl *r) {
    int st = 0;
    const double end = now() + 30; /* then killed: a bpc stuck (in the open of a FIFO) fails the test */
    pid_t got;
    while ((got = waitpid(r->pid, &st, WNOHANG)) == 0 && now() < end) usleep(20000);
    if (got == 0) {
        kill(r->pid, SIGKILL);
        while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR) {}
    }
    close(r->fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    if (system(cmd) != 0) print_message("could not remove %s\n", r->dir);
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

/* Ctrl-D at an empty prompt; returns the REPL's exit status (as reap) */
static int finish(Repl *r) {
    drain(r, 300, 10);
    type(r, "\004");
    drain(r, 300, 20);
    return reap(r);
}

/* a child sending SIGINT to pid every 200 microseconds until it is killed */
static pid_t signaller(pid_t pid) {
    pid_t s = fork();
    assert_true(s >= 0);
    if (s == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* (a failed assertion leaves the test without stopping it) */
        while (kill(pid, SIGINT) == 0) usleep(200);
        _exit(0);
    }
    return s;
}

/* waits (up to 20 s) until process pid sleeps in the kernel function wchan (a FIFO's open:
 * wait_for_partner), so that a signal lands in that wait */
static void wait_in(pid_t pid, const char *wchan) {
    char path[64], buf[64] = "";
    snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
    for (const double end = now() + 20; now() < end && strcmp(buf, wchan) != 0; usleep(10000)) {
        FILE *f = fopen(path, "r");
        buf[0] = 0;
        if (f && !fgets(buf, sizeof buf, f)) buf[0] = 0;
        if (f) fclose(f);
    }
}

static void stop(pid_t s) {
    kill(s, SIGKILL);
    while (waitpid(s, NULL, 0) < 0 && errno == EINTR) {}
}

/* :emit c prints tiny_gpt's generated C (about 90 KB, 20 KB fill the terminal) once read
 * at once, then three times more read 300 bytes at a time under SIGINT: each is the same as
 * the first, and Ctrl-D then leaves with status 0 */
static void test_sigint_during_output(void **state) {
    (void)state;
    Repl r;
    start(&r);
    size_t from = r.n;
    type(&r, ":load " BP_SOURCE_DIR "/examples/tiny_gpt.bp\n");
    assert_true(wait_for(&r, from, "\nbp> ", 60));
    from = r.n;
    type(&r, ":emit c\n");
    assert_true(wait_for(&r, from, "\nbp> ", 60));
    const size_t first = from, first_n = (size_t)(strstr(r.out + from, "\nbp> ") - (r.out + from));
    int same = 1;
    size_t second_n = 0;
    for (int round = 0; round < 3 && same; round++) { /* (a round's SIGINTs may all miss) */
        from = r.n;
        type(&r, ":emit c\n");
        usleep(300000); /* not read: the terminal fills, and the REPL's writes block */
        pid_t s = signaller(r.pid);
        const double end = now() + 120;
        while (now() < end && !(r.n > from && strstr(r.out + from, "\nbp> "))) take(&r, 300, 2);
        stop(s);
        const char *p = r.n > from ? strstr(r.out + from, "\nbp> ") : NULL; /* (a SIGINT at the prompt draws another) */
        second_n = p ? (size_t)(p - (r.out + from)) : r.n - from;
        /* the C alone: the line typed is echoed once more when it was typed before the editor
           read it, and a SIGINT at the prompt before it is drawn ends an empty line */
        const char *a = strstr(r.out + first, "/* Generated"), *b = strstr(r.out + from, "/* Generated");
        size_t an = a ? first_n - (size_t)(a - (r.out + first)) : 0, bn = b ? second_n - (size_t)(b - (r.out + from)) : 0;
        while (an && (a[an - 1] == '\r' || a[an - 1] == '\n')) an--;
        while (bn && (b[bn - 1] == '\r' || b[bn - 1] == '\n')) bn--;
        same = a && b && an == bn && memcmp(a, b, an) == 0;
        drain(&r, 300, 10);
    }
    const int st = finish(&r);
    if (strstr(r.out, "cannot write") || !same || st != 0)
        fail_msg(":emit c under SIGINT: %zu bytes (%zu without), %s, exit status %d, the end:\n%s", second_n, first_n,
                 same ? "the same" : "not the same", st, r.out + (r.n > 400 ? r.n - 400 : 0));
    free(r.out);
}

/* keys typed for 3 s while the terminal is read 200 bytes at a time, under SIGINT: each
 * drops the line being typed (as Ctrl-C at the prompt does), the session goes on, and
 * Ctrl-D then leaves with status 0 */
static void test_sigint_while_typing(void **state) {
    (void)state;
    Repl r;
    start(&r);
    assert_int_equal(fcntl(r.fd, F_SETFL, fcntl(r.fd, F_GETFL) | O_NONBLOCK), 0);
    static const char keys[] = "this is not a statement this is not a statement this is not a statement ";
    pid_t s = signaller(r.pid);
    const double end = now() + 3;
    while (now() < end) {
        ssize_t w = write(r.fd, keys, sizeof keys - 1); /* as much as the terminal takes */
        (void)w;
        take(&r, 200, 5);
    }
    stop(s);
    assert_int_equal(fcntl(r.fd, F_SETFL, fcntl(r.fd, F_GETFL) & ~O_NONBLOCK), 0);
    drain(&r, 1500, 60);
    type(&r, "\003"); /* drops what is left of the line typed */
    drain(&r, 500, 20);
    size_t from = r.n;
    type(&r, "1 + 1\n");
    const int ran = wait_for(&r, from, "1 + 1 = 2", 20);
    const int st = finish(&r);
    if (strstr(r.out, "cannot write") || !ran || st != 0)
        fail_msg("SIGINT while keys were typed: '1 + 1' %s, exit status %d, the end:\n%s", ran ? "ran" : "did not run", st,
                 r.out + (r.n > 400 ? r.n - 400 : 0));
    free(r.out);
}

static void put_be32(FILE *f, unsigned v) {
    fputc((int)(v >> 24), f);
    fputc((int)(v >> 16 & 255), f);
    fputc((int)(v >> 8 & 255), f);
    fputc((int)(v & 255), f);
}

/* an IDX pair in dir: n images of 2 x 2 pixels and their labels (0 to 2) */
static void idx_pair(const char *dir, const char *images, const char *labels, unsigned n) {
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, images);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputc(0, f), fputc(0, f), fputc(8, f), fputc(3, f);
    put_be32(f, n), put_be32(f, 2), put_be32(f, 2);
    for (unsigned i = 0; i < 4 * n; i++) fputc((int)(i * 37 % 256), f);
    assert_int_equal(fclose(f), 0);
    snprintf(path, sizeof path, "%s/%s", dir, labels);
    f = fopen(path, "wb");
    assert_non_null(f);
    fputc(0, f), fputc(0, f), fputc(8, f), fputc(1, f);
    put_be32(f, n);
    for (unsigned i = 0; i < n; i++) fputc((int)(i % 3), f);
    assert_int_equal(fclose(f), 0);
}

/* r->dir made, with net.bp (a linear classifier of 2 x 2 images) and d/, an IDX data set of
 * 20 training and 6 test images */
static void train_dir(Repl *r) {
    make_dir(r);
    char path[160];
    snprintf(path, sizeof path, "%s/net.bp", r->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("input x[B, 4]\ninput y[B] : int\nparam W[4, 3] = normal(0.5)\nparam b[3]\nlogits = x @ W + b\n"
          "loss cross_entropy(logits, y)\noptimizer sgd(lr = 0.01)\n", f);
    assert_int_equal(fclose(f), 0);
    snprintf(path, sizeof path, "%s/d", r->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    idx_pair(path, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 20);
    idx_pair(path, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 6);
}

/* reads the output (chunk bytes at a time) until the process has ended or secs have passed;
 * returns whether it ended (it is left a zombie: reap collects its status) */
static int read_until_gone(Repl *r, size_t chunk, double secs) {
    const double end = now() + secs;
    while (now() < end) {
        take(r, chunk, 2);
        siginfo_t info = {0};
        if (waitid(P_PID, (id_t)r->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == r->pid) return 1;
    }
    return 0;
}

/* bpc train prints a line an epoch (5 steps of a tiny model: thousands a second) to a
 * terminal not read for 0.3 s, then read 300 bytes at a time under SIGINT: the first stops
 * it after its step, and it leaves with status 130 (or killed by SIGINT, as a shell sees it: 130 too),
 * 'interrupted', and no write failed */
static void test_sigint_during_train_output(void **state) {
    (void)state;
    Repl r;
    train_dir(&r);
    char *args[] = {"train", "net.bp", "--data", "d", "--batch", "4", "--epochs", "1000000", NULL};
    run(&r, args);
    assert_true(wait_for(&r, 0, "epoch 2", 60)); /* it has started */
    usleep(300000); /* not read: the terminal fills, and bpc's writes block */
    pid_t s = signaller(r.pid);
    usleep(50000); /* still not read: a write the first SIGINT cut short is taken up again, blocks
                      at once, and the next one lands in it */
    const int gone = read_until_gone(&r, 300, 60);
    stop(s);
    drain(&r, 300, 10);
    if (!gone) kill(r.pid, SIGKILL);
    const int status = reap(&r);
    if (!gone) fail_msg("bpc train did not stop under SIGINT in 60 s:\n%s", r.out + (r.n > 400 ? r.n - 400 : 0));
    if (strstr(r.out, "cannot write") || !strstr(r.out, "interrupted") || status != 130)
        fail_msg("bpc train under SIGINT: exit status %d, the end:\n%s", status, r.out + (r.n > 400 ? r.n - 400 : 0));
    free(r.out);
}

/* `:load` of a FIFO at the prompt waits for a writer; a Ctrl-C ends the wait with an error
 * naming the file, and the session goes on */
static void test_sigint_ends_fifo_load(void **state) {
    (void)state;
    Repl r;
    start(&r);
    char path[160];
    snprintf(path, sizeof path, "%s/f.bp", r.dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    size_t from = r.n;
    type(&r, ":load f.bp\n");
    wait_in(r.pid, "wait_for_partner");
    kill(r.pid, SIGINT);
    const int said = wait_for(&r, from, "error: cannot open f.bp: Interrupted system call", 20);
    drain(&r, 300, 5);
    from = r.n;
    type(&r, "1 + 1\n");
    const int ran = wait_for(&r, from, "1 + 1 = 2", 20);
    const int st = finish(&r);
    if (!said || !ran || st != 1)
        fail_msg("Ctrl-C during :load of a FIFO: %s, '1 + 1' %s, exit status %d (1: a line failed), the end:\n%s",
                 said ? "said" : "no error", ran ? "ran" : "did not run", st, r.out + (r.n > 400 ? r.n - 400 : 0));
    free(r.out);
}

/* bpc train whose --data images are a FIFO waits for a writer; a Ctrl-C ends it with an error
 * naming the file */
static void test_sigint_ends_fifo_data(void **state) {
    (void)state;
    Repl r;
    train_dir(&r);
    char path[160];
    snprintf(path, sizeof path, "%s/d/train-images-idx3-ubyte", r.dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    char *args[] = {"train", "net.bp", "--data", "d", NULL};
    run(&r, args);
    wait_in(r.pid, "wait_for_partner");
    kill(r.pid, SIGINT);
    const int gone = read_until_gone(&r, 65536, 20);
    drain(&r, 300, 5);
    if (!gone) kill(r.pid, SIGKILL);
    const int st = reap(&r);
    if (!gone || !strstr(r.out, "d/train-images-idx3-ubyte: cannot open: Interrupted system call") || st != 1)
        fail_msg("Ctrl-C while bpc train opened a FIFO: %s, exit status %d, the end:\n%s", gone ? "stopped" : "went on",
                 st, r.out ? r.out + (r.n > 400 ? r.n - 400 : 0) : "");
    free(r.out);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigint_during_output),
        cmocka_unit_test(test_sigint_while_typing),
        cmocka_unit_test(test_sigint_during_train_output),
        cmocka_unit_test(test_sigint_ends_fifo_load),
        cmocka_unit_test(test_sigint_ends_fifo_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
