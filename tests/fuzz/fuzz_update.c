/* fuzz_update.c - libFuzzer target: the update decoders. The input is Avro binary of
 * person's derived update schema (registry/canon_derive.c). It goes through
 *   1. canon_avro_json_decode (canon/avro_json.c), plain and JSON-encoding modes, and
 *      when it decodes, back through canon_avro_json_encode, which must give the same
 *      bytes (decode and encode are inverse on valid data);
 *   2. the merge engine's own decoder (canon_update_decode, canon/merge.c + walk.c) on
 *      the input Confluent-framed with the update schema's id, and on the raw input
 *      (so the framing check is fuzzed too). */
#include <stdint.h>

#include "canon/avro_json.h"
#include "canon/merge.h"
#include "fuzz_common.h"

#define UPDATE_ID   2
#define ENVELOPE_ID 3

static canon_engine *engine(void)
{
    static canon_engine *e;
    if (!e) {
        reg_schema *c, *u;
        fz_person(&c, &u);
        cg_err *err = canon_engine_new(c, ENVELOPE_ID, &e);
        if (!err)
            err = canon_engine_add_update_schema(e, UPDATE_ID, u);
        if (err) {
            fprintf(stderr, "fuzz: engine: %s\n", cg_err_msg(err));
            abort();
        }
    }
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reg_schema *c, *u;
    fz_person(&c, &u);
    const reg_node *root = reg_schema_root(u);
    for (int flags = 0; flags <= CANON_AVRO_JSON_PLAIN; flags++) {
        json_t *v = NULL;
        cg_err *e = canon_avro_json_decode(root, data, size, flags, &v);
        if (e) {
            cg_err_free(e);
            continue;
        }
        unsigned char *out = NULL;
        size_t out_len = 0;
        e = canon_avro_json_encode(root, v, flags, &out, &out_len);
        if (e) {
            fprintf(stderr, "decoded datum does not encode: %s\n", cg_err_msg(e));
            abort();
        }
        if (out_len != size || memcmp(out, data, size) != 0) {
            /* Avro allows non-minimal varints; only a longer re-encoding is a bug */
            if (out_len > size)
                abort();
        }
        free(out);
        json_decref(v);
    }

    canon_engine *eng = engine();
    uint8_t *framed = malloc(size + 5);
    if (!framed)
        return 0;
    framed[0] = 0;
    framed[1] = framed[2] = framed[3] = 0;
    framed[4] = UPDATE_ID;
    memcpy(framed + 5, data, size);
    canon_result r;
    canon_result_init(&r);
    canon_update up;
    (void)canon_update_decode(eng, framed, size + 5, &up, &r);
    (void)canon_update_decode(eng, data, size, &up, &r);
    canon_result_clear(&r);
    free(framed);
    return 0;
}
