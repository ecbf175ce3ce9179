/* fuzz_compat.c - libFuzzer target: the compatibility checker (registry/compat.c). The
 * input is two schemas separated by the first NUL byte (the seeds are written so);
 * both are parsed and checked under every level, both ways, with and without
 * strict logical types. A schema must always be compatible with itself. */
#include <stdint.h>

#include "fuzz_common.h"
#include "registry/compat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = memchr(data, 0, size);
    if (!sep)
        return 0;
    size_t n1 = (size_t)(sep - data);
    reg_schema *a = NULL, *b = NULL;
    cg_err *e = reg_schema_parse((const char *)data, n1, NULL, 0, &a);
    if (e)
        goto done;
    e = reg_schema_parse((const char *)sep + 1, size - n1 - 1, NULL, 0, &b);
    if (e)
        goto done;
    for (int l = 0; l < REG_COMPAT_LEVEL_COUNT; l++) {
        reg_compat_level level = (reg_compat_level)l;
        for (unsigned flags = 0; flags <= REG_COMPAT_STRICT_LOGICAL; flags++) {
            reg_compat_result *r = reg_compat_result_new();
            const reg_schema *ex[2] = {a, b};
            size_t n = reg_compat_check_ex(level, b, ex, NULL, 1, flags, r);
            for (size_t k = 0; k < reg_compat_result_count(r); k++)
                (void)strlen(reg_compat_result_message(r, k));
            /* r == NULL must count the same problems as a formatted check */
            if (reg_compat_check_ex(level, b, ex, NULL, 1, flags, NULL) != n)
                abort();
            n = reg_compat_check_ex(level, a, ex + 1, NULL, 1, flags, r);
            (void)n;
            /* transitive over both, oldest first */
            (void)reg_compat_check_ex(level, a, ex, NULL, 2, flags, r);
            reg_compat_result_free(r);
        }
    }
    if (reg_compat_can_read_ex(a, a, 1, 0, NULL) != 0 ||
        reg_compat_can_read_ex(b, b, 1, 0, NULL) != 0) {
        fprintf(stderr, "schema not compatible with itself\n");
        abort();
    }
done:
    cg_err_free(e);
    reg_schema_free(a);
    reg_schema_free(b);
    return 0;
}
