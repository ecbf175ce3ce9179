/* fuzz_resolve.c - libFuzzer target: the C bindings' schema resolution
 * (codegen/c_runtime/canon_resolve.c), which reads datums of any writer schema fetched
 * from a registry: both the schema text and the bytes are untrusted.
 *
 * Input: a writer schema, a NUL byte, then either the datum's bytes, or (when the byte
 * after the NUL opens a JSON value: '{', '[' or '"') a reader schema, a second NUL and
 * the datum's bytes. Without a reader schema in the input, the reader is PERSON below: a
 * person-like record with a nested record, an enum with a default, unions, an array of
 * strings, an array of records, a map of unions, fixed, every primitive and recursion.
 *
 * Each input goes through:
 *   1. resolver(reader) with the writer registered as id 1: the datum converted as is,
 *      then Confluent-framed with id 1 and with id 2, which the fetch function below
 *      answers with the writer's text, and with id 3, whose fetch fails;
 *   2. resolver(writer) with the writer registered as itself: when convert succeeds it
 *      must hand back the input itself (canon_resolve.h, the identity case);
 *   3. for PERSON only, the reverse: resolver(writer) reading PERSON data (the datum).
 * Checks besides "no crash, leak, UB or hang": with PERSON as the reader, an output that
 * is not the input itself is a datum of PERSON: converted again, by a resolver reading
 * PERSON_PLUS (PERSON with one more field, so that it is never the identity case), it
 * must convert without error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/c_runtime/canon_resolve.h"

#define PERSON_FIELDS                                                                              \
    "{\"type\":\"record\",\"name\":\"Person\",\"namespace\":\"fz\",\"fields\":["                   \
    "{\"name\":\"id\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"                   \
    "{\"name\":\"age\",\"type\":[\"null\",\"int\"],\"default\":null},"                             \
    "{\"name\":\"score\",\"type\":\"double\",\"default\":0},"                                      \
    "{\"name\":\"ratio\",\"type\":\"float\",\"default\":0.5},"                                     \
    "{\"name\":\"seen\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"},"        \
    "\"default\":0},"                                                                              \
    "{\"name\":\"ok\",\"type\":\"boolean\",\"default\":false},"                                    \
    "{\"name\":\"raw\",\"type\":\"bytes\",\"default\":\"\\u00ff\"},"                               \
    "{\"name\":\"digest\",\"type\":{\"type\":\"fixed\",\"name\":\"MD5\",\"size\":4},"              \
    "\"default\":\"abcd\"},"                                                                       \
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\","                        \
    "\"symbols\":[\"UNKNOWN\",\"ACTIVE\",\"GONE\"],\"default\":\"UNKNOWN\"},\"default\":"          \
    "\"ACTIVE\"},"                                                                                 \
    "{\"name\":\"address\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Address\","          \
    "\"aliases\":[\"Location\"],\"fields\":["                                                      \
    "{\"name\":\"city\",\"type\":\"string\",\"default\":\"\"},"                                    \
    "{\"name\":\"zip\",\"type\":[\"null\",\"string\"],\"default\":null,"                           \
    "\"aliases\":[\"postcode\"]}]}],\"default\":null},"                                            \
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},"       \
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"long\",\"string\"]},"   \
    "\"default\":{}},"                                                                             \
    "{\"name\":\"history\",\"type\":{\"type\":\"array\",\"items\":\"Address\"},\"default\":[]},"   \
    "{\"name\":\"next\",\"type\":[\"null\",\"Person\"],\"default\":null}"

static const char PERSON[] = PERSON_FIELDS "]}";
static const char PERSON_PLUS[] =
    PERSON_FIELDS ",{\"name\":\"zz_check\",\"type\":\"string\",\"default\":\"zz\"}]}";

/* The fetch function of step 1: id 2 is the writer (opaque), every other id fails. */
static char *fetch(void *opaque, int32_t id, canon_error *err)
{
    if (id != 2) {
        canon_error_set(err, CANON_EFETCH, "fuzz: no schema %d", (int)id);
        return NULL;
    }
    size_t n = strlen((const char *)opaque);
    char *s = malloc(n + 1); /* the resolver frees it */
    if (!s) {
        canon_error_set(err, CANON_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(s, opaque, n + 1);
    return s;
}

/* PERSON_PLUS reading PERSON: checks step 1's outputs; lives for the process. */
static canon_resolver *checker(void)
{
    static canon_resolver *c;
    if (!c) {
        canon_error err = {0};
        c = canon_resolver_new(PERSON_PLUS, NULL, NULL, &err);
        if (!c || canon_resolver_add(c, 1, PERSON, &err) != 0) {
            fprintf(stderr, "fuzz: checker: %d %s\n", err.code, err.msg);
            abort();
        }
    }
    return c;
}

static char *text_of(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Step 1 for one reader: the datum raw and framed with ids 1, 2 and 3. */
static void resolve_all(const char *reader, const char *writer, const uint8_t *datum, size_t len,
                        int check)
{
    canon_error err = {0};
    canon_resolver *r = canon_resolver_new(reader, fetch, (void *)writer, &err);
    if (!r)
        return;
    memset(&err, 0, sizeof err);
    if (canon_resolver_add(r, 1, writer, &err) != 0) {
        canon_resolver_free(r);
        return;
    }
    const void *out = NULL;
    size_t out_len = 0;
    memset(&err, 0, sizeof err);
    if (canon_resolver_convert(r, 1, datum, len, &out, &out_len, &err) == 0 && check &&
        out != (const void *)datum) {
        const void *again = NULL;
        size_t again_len = 0;
        canon_error e2 = {0};
        if (canon_resolver_convert(checker(), 1, out, out_len, &again, &again_len, &e2) != 0) {
            fprintf(stderr, "fuzz: an output (%zu bytes) is not a datum of the reader: %d %s\n",
                    out_len, e2.code, e2.msg);
            abort();
        }
    }
    uint8_t *framed = malloc(len + 5);
    if (!framed)
        abort();
    if (len)
        memcpy(framed + 5, datum, len);
    for (int32_t id = 1; id <= 3; id++) {
        framed[0] = 0;
        framed[1] = framed[2] = framed[3] = 0;
        framed[4] = (uint8_t)id;
        int32_t got = -1;
        memset(&err, 0, sizeof err);
        if (canon_resolver_convert_framed(r, framed, len + 5, &got, &out, &out_len, &err) == 0 &&
            got != id) {
            fprintf(stderr, "fuzz: framed id %d read as %d\n", (int)id, (int)got);
            abort();
        }
    }
    free(framed);
    canon_resolver_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = memchr(data, 0, size);
    if (!sep)
        return 0;
    char *writer = text_of(data, (size_t)(sep - data));
    const uint8_t *rest = sep + 1, *end = data + size;
    char *reader = NULL;
    if (rest < end && (*rest == '{' || *rest == '[' || *rest == '"')) {
        const uint8_t *sep2 = memchr(rest, 0, (size_t)(end - rest));
        if (!sep2) {
            free(writer);
            return 0;
        }
        reader = text_of(rest, (size_t)(sep2 - rest));
        rest = sep2 + 1;
    }
    /* the datum in a block of its own, so that ASan sees a read on either side of it */
    size_t len = (size_t)(end - rest);
    uint8_t *datum = malloc(len ? len : 1);
    if (!datum)
        abort();
    if (len)
        memcpy(datum, rest, len);

    resolve_all(reader ? reader : PERSON, writer, datum, len, reader == NULL);

    /* 2. the writer read as itself: the input comes back as is */
    canon_error err = {0};
    canon_resolver *self = canon_resolver_new(writer, NULL, NULL, &err);
    if (self) {
        const void *out = NULL;
        size_t out_len = 0;
        memset(&err, 0, sizeof err);
        if (canon_resolver_add(self, 1, writer, &err) != 0) {
            fprintf(stderr, "fuzz: a schema cannot be read as itself: %d %s\n", err.code, err.msg);
            abort();
        }
        memset(&err, 0, sizeof err);
        if (canon_resolver_convert(self, 1, datum, len, &out, &out_len, &err) == 0 &&
            (out != (const void *)datum || out_len != len)) {
            fprintf(stderr, "fuzz: writer == reader, yet the output is not the input\n");
            abort();
        }
        canon_resolver_free(self);
    }

    /* 3. the reverse: PERSON data read with the input's schema */
    if (!reader)
        resolve_all(writer, PERSON, datum, len, 0);

    free(datum);
    free(reader);
    free(writer);
    return 0;
}
