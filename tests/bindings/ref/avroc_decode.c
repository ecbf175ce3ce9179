/* avroc_decode.c - the Avro C reference decoder of the cross-language tests.
 *
 *     avroc_decode SCHEMA.avsc < hex-lines > avro-json-lines
 *
 * Decodes each hex line with Avro C's generic value API (the library itself, nothing of
 * ours) and prints the datum in Avro's JSON encoding, one a line: unions as
 * {"branch": value} (null bare), bytes and fixed as strings of code points 0-255, floats
 * that JSON cannot hold as "NaN", "Infinity", "-Infinity". The walk is ours rather than
 * avro_value_to_json() because that one writes unions and non-finite floats in ways a
 * comparison cannot use. A line that does not decode, or leaves bytes over, prints
 * "error: ..." and the program goes on.
 */
#include <avro.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_str(FILE *o, const unsigned char *s, size_t n, int bytes)
{
    fputc('"', o);
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        if (c == '"' || c == '\\')
            fprintf(o, "\\%c", c);
        else if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80))
            fprintf(o, "\\u%04x", c);
        else
            fputc((int)c, o); /* UTF-8 of a string passes through */
    }
    fputc('"', o);
}

static void put_double(FILE *o, double d, int is_float)
{
    if (isnan(d))
        fputs("\"NaN\"", o);
    else if (isinf(d))
        fputs(d > 0 ? "\"Infinity\"" : "\"-Infinity\"", o);
    else {
        char buf[64];
        snprintf(buf, sizeof(buf), is_float ? "%.9g" : "%.17g", d);
        fputs(buf, o);
        if (!strpbrk(buf, ".eE")) /* keep it a float in JSON: -0 must stay -0.0 */
            fputs(".0", o);
    }
}

static const char *branch_name(avro_schema_t s, char *buf, size_t cap)
{
    /* A named type used again is a link in Avro C; its name is the target's. */
    while (is_avro_link(s))
        s = avro_schema_link_target(s);
    if (is_avro_named_type(s)) {
        const char *ns = avro_schema_namespace(s);
        const char *n = avro_schema_name(s);
        if (ns && *ns)
            snprintf(buf, cap, "%s.%s", ns, n);
        else
            snprintf(buf, cap, "%s", n);
        return buf;
    }
    return avro_schema_type_name(s);
}

static int put_value(FILE *o, avro_value_t *v)
{
    switch (avro_value_get_type(v)) {
    case AVRO_NULL:
        fputs("null", o);
        return 0;
    case AVRO_BOOLEAN: {
        int b;
        avro_value_get_boolean(v, &b);
        fputs(b ? "true" : "false", o);
        return 0;
    }
    case AVRO_INT32: {
        int32_t x;
        avro_value_get_int(v, &x);
        fprintf(o, "%d", x);
        return 0;
    }
    case AVRO_INT64: {
        int64_t x;
        avro_value_get_long(v, &x);
        fprintf(o, "%lld", (long long)x);
        return 0;
    }
    case AVRO_FLOAT: {
        float x;
        avro_value_get_float(v, &x);
        put_double(o, x, 1);
        return 0;
    }
    case AVRO_DOUBLE: {
        double x;
        avro_value_get_double(v, &x);
        put_double(o, x, 0);
        return 0;
    }
    case AVRO_BYTES: {
        const void *b;
        size_t n;
        avro_value_get_bytes(v, &b, &n);
        put_str(o, b, n, 1);
        return 0;
    }
    case AVRO_FIXED: {
        const void *b;
        size_t n;
        avro_value_get_fixed(v, &b, &n);
        put_str(o, b, n, 1);
        return 0;
    }
    case AVRO_STRING: {
        const char *s;
        size_t n; /* includes the NUL */
        avro_value_get_string(v, &s, &n);
        put_str(o, (const unsigned char *)s, n ? n - 1 : 0, 0);
        return 0;
    }
    case AVRO_ENUM: {
        int i;
        avro_value_get_enum(v, &i);
        const char *sym = avro_schema_enum_get(avro_value_get_schema(v), i);
        if (!sym)
            return -1;
        put_str(o, (const unsigned char *)sym, strlen(sym), 0);
        return 0;
    }
    case AVRO_RECORD: {
        avro_schema_t s = avro_value_get_schema(v);
        size_t n;
        avro_value_get_size(v, &n);
        fputc('{', o);
        for (size_t i = 0; i < n; i++) {
            avro_value_t f;
            const char *name = avro_schema_record_field_name(s, (int)i);
            avro_value_get_by_index(v, i, &f, NULL);
            if (i)
                fputs(", ", o);
            put_str(o, (const unsigned char *)name, strlen(name), 0);
            fputs(": ", o);
            if (put_value(o, &f))
                return -1;
        }
        fputc('}', o);
        return 0;
    }
    case AVRO_ARRAY: {
        size_t n;
        avro_value_get_size(v, &n);
        fputc('[', o);
        for (size_t i = 0; i < n; i++) {
            avro_value_t e;
            avro_value_get_by_index(v, i, &e, NULL);
            if (i)
                fputs(", ", o);
            if (put_value(o, &e))
                return -1;
        }
        fputc(']', o);
        return 0;
    }
    case AVRO_MAP: {
        size_t n;
        avro_value_get_size(v, &n);
        fputc('{', o);
        for (size_t i = 0; i < n; i++) {
            avro_value_t e;
            const char *key;
            avro_value_get_by_index(v, i, &e, &key);
            if (i)
                fputs(", ", o);
            put_str(o, (const unsigned char *)key, strlen(key), 0);
            fputs(": ", o);
            if (put_value(o, &e))
                return -1;
        }
        fputc('}', o);
        return 0;
    }
    case AVRO_UNION: {
        int disc;
        avro_value_t b;
        char buf[512];
        avro_value_get_discriminant(v, &disc);
        avro_value_get_current_branch(v, &b);
        avro_schema_t bs = avro_schema_union_branch(avro_value_get_schema(v), disc);
        if (avro_typeof(bs) == AVRO_NULL) {
            fputs("null", o);
            return 0;
        }
        const char *name = branch_name(bs, buf, sizeof(buf));
        fputc('{', o);
        put_str(o, (const unsigned char *)name, strlen(name), 0);
        fputs(": ", o);
        if (put_value(o, &b))
            return -1;
        fputc('}', o);
        return 0;
    }
    default:
        return -1;
    }
}

static int unhex(const char *s, size_t n, unsigned char *out)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned x;
        if (sscanf(s + i, "%2x", &x) != 1)
            return -1;
        out[i / 2] = (unsigned char)x;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: avroc_decode SCHEMA.avsc < hex-lines\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    static char text[1 << 20];
    size_t tl = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[tl] = '\0';
    avro_schema_t schema;
    avro_schema_error_t serr;
    if (avro_schema_from_json(text, (int32_t)tl, &schema, &serr)) {
        fprintf(stderr, "avroc_decode: schema: %s\n", avro_strerror());
        return 2;
    }
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    static char line[1 << 22];
    static unsigned char bin[1 << 21];
    while (fgets(line, sizeof(line), stdin)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        if (n % 2 || unhex(line, n, bin)) {
            printf("error: not hex\n");
            continue;
        }
        avro_value_t v;
        char extra;
        avro_generic_value_new(iface, &v);
        avro_reader_t r = avro_reader_memory((const char *)bin, (int64_t)(n / 2));
        if (avro_value_read(r, &v)) {
            printf("error: %s\n", avro_strerror());
        } else if (avro_read(r, &extra, 1) == 0) { /* avro_reader_is_eof: files only */
            printf("error: trailing bytes\n");
        } else if (put_value(stdout, &v)) {
            printf("\nerror: cannot print\n");
        } else {
            putchar('\n');
        }
        avro_reader_free(r);
        avro_value_decref(&v);
        fflush(stdout);
    }
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return 0;
}
