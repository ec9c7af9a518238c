/* repl.h — `bpc repl [FILE.bp]`: the interactive session (see repl.c). */
#ifndef BP_REPL_H
#define BP_REPL_H

/* argv as given to bpc, from the word "repl" on (or NULL, 0 for bare `bpc` on a terminal).
 * Returns the process exit status. */
int repl_main(int argc, char **argv);

#endif
