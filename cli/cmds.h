/* cmds.h - the subcommands of the canon binary.
 *
 * Each subcommand is one function taking the arguments after its name (argv[0] is the
 * subcommand name) and returning a process exit code: 0 success, 1 failure, 2 usage
 * error. Each prints its own help for -h/--help. */
#ifndef CANON_CMDS_H
#define CANON_CMDS_H

int cmd_registry(int argc, char **argv); /* cmd_registry.c */
int cmd_serve(int argc, char **argv);    /* cmd_serve.c */
int cmd_check(int argc, char **argv);    /* cmd_check.c */
int cmd_gen(int argc, char **argv);      /* cmd_gen.c */
int cmd_produce(int argc, char **argv);  /* cmd_produce.c */
int cmd_tail(int argc, char **argv);     /* cmd_tail.c */
int cmd_state(int argc, char **argv);    /* cmd_state.c */
int cmd_aggregate(int argc, char **argv); /* cmd_aggregate.c */
int cmd_translate(int argc, char **argv); /* cmd_translate.c */

/* The options shared by `canon registry` and `canon serve`, one help text for both. */
#include <stdio.h>
void registry_options_help(FILE *out); /* cmd_registry.c */

#endif
