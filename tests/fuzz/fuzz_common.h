/* fuzz_common.h - helpers the libFuzzer targets share: loading person's schemas once.
 * Targets keep their fixtures in a function-local static built on first use because
 * libFuzzer gives no setup hook besides LLVMFuzzerInitialize, and rebuilding the derived
 * schemas per input would hide the code under test in the profile. */
#ifndef CANON_FUZZ_COMMON_H
#define CANON_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "registry/canon_derive.h"
#include "registry/schema.h"

#ifndef CANON_SRC_DIR
#define CANON_SRC_DIR "."
#endif

/* Reads a file under the source tree; aborts when it is missing (a broken build, not a
 * finding). Caller frees. */
static inline char *fz_slurp(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", CANON_SRC_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz: cannot open %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        abort();
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static inline reg_schema *fz_parse_or_die(const char *text)
{
    reg_schema *s = NULL;
    cg_err *e = reg_schema_parse(text, strlen(text), NULL, 0, &s);
    if (e) {
        fprintf(stderr, "fuzz: fixture schema: %s\n", cg_err_msg(e));
        abort();
    }
    return s;
}

/* person's canonical schema and its derived update schema; live for the process. */
static inline void fz_person(reg_schema **canonical, reg_schema **update)
{
    static reg_schema *c, *u;
    if (!c) {
        char *text = fz_slurp("schemas/person.avsc", NULL);
        c = fz_parse_or_die(text);
        free(text);
        char *ut = NULL;
        cg_err *e = reg_canon_derive_update(c, &ut);
        if (e) {
            fprintf(stderr, "fuzz: derive update: %s\n", cg_err_msg(e));
            abort();
        }
        u = fz_parse_or_die(ut);
        free(ut);
    }
    *canonical = c;
    *update = u;
}

#endif
