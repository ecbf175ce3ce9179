/* check.h - the CHECK of the programs that tests/unit/test_gen_c.c builds against a
 * generated binding (entity_check.c, blocks_check.c).
 *
 * CHECK(c) ends main with 1 when c is false, printing where and the canon_error `err`
 * in scope, which says why the binding refused (an empty message when it did not). */
#ifndef GEN_C_CHECK_H
#define GEN_C_CHECK_H

#include <stdio.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s (err: %s)\n", __FILE__, __LINE__, #c,         \
                    err.msg);                                                                      \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#endif
