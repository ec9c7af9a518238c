/* repl.c — placeholder until the interactive session lands. */
#include "repl.h"

#include <stdio.h>

int repl_main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "bpc: the REPL is not built yet\n");
    return 2;
}
