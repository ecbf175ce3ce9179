/* cmds.h - the subcommands of the canon binary.
 *
 * Each subcommand is one function taking the arguments after its name (argv[0] is the
 * subcommand name) and returning a process exit code: 0 success, 1 failure, 2 usage
 * error. Each prints its own help for -h/--help. */
#ifndef CANON_CMDS_H
#define CANON_CMDS_H

int cmd_registry(int argc, char **argv);  /* cmd_registry.c */
int cmd_serve(int argc, char **argv);     /* cmd_serve.c */
int cmd_check(int argc, char **argv);     /* cmd_check.c */
int cmd_gen(int argc, char **argv);       /* cmd_gen.c */
int cmd_produce(int argc, char **argv);   /* cmd_produce.c */
int cmd_tail(int argc, char **argv);      /* cmd_tail.c */
int cmd_state(int argc, char **argv);     /* cmd_state.c */
int cmd_replay(int argc, char **argv);    /* cmd_replay.c */
int cmd_aggregate(int argc, char **argv); /* cmd_aggregate.c */
int cmd_translate(int argc, char **argv); /* cmd_translate.c */
int cmd_auth(int argc, char **argv);      /* cmd_auth.c */

/* `canon registry` and `canon serve` listen on a non-loopback address only with an auth
 * file or --insecure: 1 if host may be used, else 0 after printing why and both ways out
 * (cmd_auth.c). */
int cli_listen_allowed(const char *prog, const char *host, const char *auth_file, int insecure);

/* The options shared by `canon registry` and `canon serve`, one help text for both. */
#include <stdio.h>
void registry_options_help(FILE *out); /* cmd_registry.c */
/* SIGHUP: reloads srv's auth file, saying on stderr whether it worked (cmd_registry.c). */
typedef struct reg_server reg_server;
void registry_reload_auth(const char *prog, reg_server *srv);

#endif
