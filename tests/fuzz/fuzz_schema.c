/* fuzz_schema.c - libFuzzer target: schema parser, canonical form, normalized form and
 * fingerprints (registry/schema.c, schema_canon.c). Besides "no crash", it checks the
 * property the registry's ids rely on: the canonical form is itself a schema whose
 * canonical form is the same text with the same fingerprint (idempotence). */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reg_schema *s = NULL, *s2 = NULL;
    cg_err *e = reg_schema_parse((const char *)data, size, NULL, 0, &s);
    if (e) {
        cg_err_free(e);
        return 0;
    }
    const char *canon = reg_schema_canonical(s);
    uint64_t fp = reg_schema_fingerprint(s);
    unsigned char md5[16], sha[32];
    reg_schema_md5(s, md5);
    reg_schema_sha256(s, sha);
    (void)reg_schema_normalized(s);
    (void)reg_schema_warnings(s);
    char *nc = reg_node_canonical(reg_schema_root(s));
    char *nn = reg_node_normalized(reg_schema_root(s));
    free(nc);
    free(nn);
    if (fp != reg_fingerprint64(canon, strlen(canon)))
        abort();
    e = reg_schema_parse(canon, strlen(canon), NULL, 0, &s2);
    if (e) {
        fprintf(stderr, "canonical form does not parse: %s\n%s\n", cg_err_msg(e), canon);
        abort();
    }
    /* A leading-dot (null namespace) name nested in a namespaced type cannot survive the
     * canonical form (README.md, finding 3): such inputs skip the idempotence check. */
    int null_ns = memmem(data, size, "\".", 2) != NULL;
    if (!null_ns &&
        (strcmp(reg_schema_canonical(s2), canon) != 0 || reg_schema_fingerprint(s2) != fp)) {
        fprintf(stderr, "canonical form not idempotent:\n%s\n%s\n", canon,
                reg_schema_canonical(s2));
        abort();
    }
    reg_schema_free(s2);
    reg_schema_free(s);
    return 0;
}
