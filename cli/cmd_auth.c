/* cmd_auth.c - `canon auth`: make the stored forms an auth file holds, and check a file.
 *
 * The auth file (docs/security.md) never holds a password or an API key, only their
 * hashes; these subcommands make them, so nobody has to compute PBKDF2 by hand:
 *   canon auth hash-password   password on stdin -> "pbkdf2-sha256$ITER$SALT$HASH"
 *   canon auth new-key         a random API key and its "sha256$..." stored form
 *   canon auth check FILE      loads FILE as the registry would and counts its principals
 * Also here: the listen-address rule shared by `canon registry` and `canon serve`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "../registry/auth.h"
#include "cmds.h"

int cli_listen_allowed(const char *prog, const char *host, const char *auth_file, int insecure)
{
    if (auth_file || insecure)
        return 1;
    if (!strcmp(host, "127.0.0.1") || !strcmp(host, "::1") || !strcmp(host, "localhost"))
        return 1;
    fprintf(stderr,
            "%s: refusing to listen on '%s' without authentication: anyone who can reach that "
            "address could register, change and delete schemas.\n"
            "  Either give --auth-file FILE (users and API keys, see docs/security.md and "
            "'canon auth --help'),\n"
            "  or pass --insecure to serve without authentication anyway (only on a network "
            "you trust).\n",
            prog, host);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: canon auth <subcommand> [options]\n"
            "\n"
            "Make the entries of a registry auth file (--auth-file of 'canon registry' and\n"
            "'canon serve'; format in docs/security.md). The file holds only hashes.\n"
            "\n"
            "subcommands:\n"
            "  hash-password [--iterations N]\n"
            "        read a password from stdin (one line; no echo on a terminal) and print\n"
            "        its stored form pbkdf2-sha256$ITER$SALT$HASH, for a user's \"password\".\n"
            "        N: PBKDF2-HMAC-SHA256 iterations, %u..100000000 (default %u)\n"
            "  new-key [--json]\n"
            "        print a new random API key (256 bits) and its stored form sha256$HASH,\n"
            "        for a key's \"key\". Give the key to the client (it sends\n"
            "        'Authorization: Bearer KEY'); it is not kept anywhere else.\n"
            "  check FILE\n"
            "        load FILE as the registry would; print 'FILE: N principal(s), OK',\n"
            "        or the error (naming the entry and field) and exit 1\n"
            "\n"
            "examples:\n"
            "  printf '%%s\\n' 's3cret' | canon auth hash-password\n"
            "  canon auth new-key --json\n",
            REG_AUTH_MIN_ITERATIONS, REG_AUTH_DEFAULT_ITERATIONS);
}

/* One line from stdin without its line end; echo off when stdin is a terminal. */
static char *read_password(void)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &old);
    if (tty) {
        fprintf(stderr, "Password: ");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

static int hash_password(int argc, char **argv)
{
    unsigned long iterations = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
            char *end = NULL;
            errno = 0;
            iterations = strtoul(argv[++i], &end, 10);
            if (!*argv[i] || *end || errno || iterations < REG_AUTH_MIN_ITERATIONS ||
                iterations > 100000000ul) {
                fprintf(stderr,
                        "canon auth hash-password: --iterations wants %u..100000000, got "
                        "'%s'\n",
                        REG_AUTH_MIN_ITERATIONS, argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "canon auth hash-password: unknown or incomplete option '%s'\n",
                    argv[i]);
            return 2;
        }
    }
    char *pw = read_password();
    if (!pw || !*pw) {
        fprintf(stderr, "canon auth hash-password: no password on stdin (an empty one is "
                        "refused)\n");
        free(pw);
        return 1;
    }
    char *stored = NULL;
    cg_err *err = reg_auth_hash_password(pw, strlen(pw), (unsigned)iterations, &stored);
    explicit_bzero(pw, strlen(pw));
    free(pw);
    if (err) {
        fprintf(stderr, "canon auth hash-password: %s\n", cg_err_msg(err));
        cg_err_free(err);
        return 1;
    }
    printf("%s\n", stored);
    free(stored);
    return 0;
}

static int new_key(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "canon auth new-key: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    char *key = NULL, *stored = NULL;
    cg_err *err = reg_auth_new_key(&key, &stored);
    if (err) {
        fprintf(stderr, "canon auth new-key: %s\n", cg_err_msg(err));
        cg_err_free(err);
        return 1;
    }
    /* Both strings are base64 and fixed prefixes: nothing to escape in JSON. */
    if (json)
        printf("{\"key\": \"%s\", \"stored\": \"%s\"}\n", key, stored);
    else
        printf("key: %s\nstored: %s\n", key, stored);
    explicit_bzero(key, strlen(key));
    free(key);
    free(stored);
    return 0;
}

static int check(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "canon auth check: wants one FILE\n");
        return 2;
    }
    reg_auth *a = NULL;
    cg_err *err = reg_auth_load(argv[1], &a);
    if (err) {
        fprintf(stderr, "canon auth check: %s\n", cg_err_msg(err));
        cg_err_free(err);
        return 1;
    }
    printf("%s: %zu principal(s), OK\n", argv[1], reg_auth_count(a));
    reg_auth_free(a);
    return 0;
}

int cmd_auth(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "hash-password"))
        return hash_password(argc - 1, argv + 1);
    if (!strcmp(argv[1], "new-key"))
        return new_key(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check"))
        return check(argc - 1, argv + 1);
    fprintf(stderr, "canon auth: unknown subcommand '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
