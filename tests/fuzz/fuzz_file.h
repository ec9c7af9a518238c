/* fuzz_file.h — the fuzz input as a file the readers can open by path.
 *
 * One memfd per process, rewritten for each input (truncated to the new size), reached
 * through /proc/self/fd/N: no files on disk, nothing left behind. */
#ifndef BP_FUZZ_FILE_H
#define BP_FUZZ_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static inline const char *fuzz_file(const void *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_input", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz input file");
        abort();
    }
    return path;
}

#endif
