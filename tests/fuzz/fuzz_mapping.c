/* fuzz_mapping.c - libFuzzer target: the mapping-file parser (translators/mapping.c):
 * tr_mapping_parse on fuzzed text, then, when it parses, tr_mapping_bind against
 * person's canonical and derived update schemas, and one apply of a fixed HR record. */
#include <stdint.h>

#include "fuzz_common.h"
#include "translators/mapping.h"

static const char record[] =
    "{\"employee_no\": \"E1001\", \"email\": \" Ada.Lovelace@Example.org \", \"first_name\": "
    "\"Ada\", \"last_name\": \"Lovelace\", \"birth_date\": \"10.12.1815\", \"status\": \"A\", "
    "\"changed_at\": \"01.03.2026 09:00\", \"action\": \"hire\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reg_schema *c, *u;
    fz_person(&c, &u);
    tr_mapping *m = NULL;
    cg_err *e = tr_mapping_parse((const char *)data, size, "fuzz.json", &m);
    if (e)
        goto done;
    (void)tr_mapping_source_topic(m);
    (void)tr_mapping_dlq_topic(m);
    e = tr_mapping_bind(m, c, u, 2);
    if (e)
        goto done;
    tr_output o;
    tr_output_init(&o);
    e = tr_mapping_apply_text(m, record, sizeof(record) - 1, 1700000000000, 1, &o);
    tr_output_free(&o);
done:
    cg_err_free(e);
    tr_mapping_free(m);
    return 0;
}
