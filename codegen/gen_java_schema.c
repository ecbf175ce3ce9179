/* gen_java_schema.c - the SCHEMA$ text embedded in each generated class.
 *
 * Avro Java's SpecificData reads strings as org.apache.avro.util.Utf8 unless the schema
 * says "avro.java.string": "String"; the generated classes hold java.lang.String, so the
 * embedded schema carries that property on every string and map, as Avro's own compiler
 * writes it. "java-class" and "java-key-class" properties are removed: Avro 1.12's
 * SpecificDatumReader refuses to load any class they name unless the JVM was started
 * with org.apache.avro.SERIALIZABLE_PACKAGES/CLASSES listing it (SecurityException
 * "Forbidden ..."); the binding's types never need them, so its readers never trip on it.
 * None of this changes the Parsing Canonical Form, so the schema stays the one the
 * registry holds. The original text is embedded separately for registry look-ups. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gen_java_internal.h"

static void strip_class_props(json_t *o)
{
    json_object_del(o, "java-class");
    json_object_del(o, "java-key-class");
    json_object_del(o, "java-element-class");
}

static json_t *java_string(void)
{
    return json_pack("{s:s, s:s}", "type", "string", "avro.java.string", "String");
}

/* Rewrites type t (in place where it is an object); returns the value to store in its
 * place (a new reference when t was the bare name "string"). ns is the enclosing
 * namespace, needed because reg_node_json() writes full names without "namespace", and a
 * null-namespace type nested in a namespaced one would otherwise inherit it. */
static json_t *rewrite(json_t *t, const char *ns, int *oom);

static void rewrite_slot(json_t *parent, const char *key, const char *ns, int *oom)
{
    json_t *v = json_object_get(parent, key);
    if (!v)
        return;
    json_t *r = rewrite(v, ns, oom);
    if (r != v && json_object_set_new(parent, key, r))
        *oom = 1;
}

static json_t *rewrite(json_t *t, const char *ns, int *oom)
{
    if (json_is_string(t)) {
        if (!strcmp(json_string_value(t), "string")) {
            json_t *r = java_string();
            if (!r)
                *oom = 1;
            return r ? r : t;
        }
        return t;
    }
    if (json_is_array(t)) {
        for (size_t i = 0; i < json_array_size(t); i++) {
            json_t *b = json_array_get(t, i);
            json_t *r = rewrite(b, ns, oom);
            if (r != b && json_array_set_new(t, i, r))
                *oom = 1;
        }
        return t;
    }
    if (!json_is_object(t))
        return t;
    strip_class_props(t);
    json_t *ty = json_object_get(t, "type");
    if (!json_is_string(ty)) {
        rewrite_slot(t, "type", ns, oom);
        return t;
    }
    const char *type = json_string_value(ty);
    const char *name = json_string_value(json_object_get(t, "name"));
    if (name && (!strcmp(type, "record") || !strcmp(type, "error") || !strcmp(type, "enum") ||
                 !strcmp(type, "fixed"))) {
        const char *dot = strrchr(name, '.');
        if (!dot && ns && *ns && !json_object_get(t, "namespace"))
            json_object_set_new(t, "namespace", json_string(""));
        char *own = dot ? strndup(name, (size_t)(dot - name)) : strdup("");
        if (!own) {
            *oom = 1;
            return t;
        }
        json_t *fields = json_object_get(t, "fields");
        for (size_t i = 0; i < json_array_size(fields); i++) {
            json_t *f = json_array_get(fields, i);
            strip_class_props(f);
            rewrite_slot(f, "type", own, oom);
        }
        free(own);
    } else if (!strcmp(type, "string")) {
        const char *lt = json_string_value(json_object_get(t, "logicalType"));
        if (!lt || strcmp(lt, "uuid"))
            json_object_set_new(t, "avro.java.string", json_string("String"));
    } else if (!strcmp(type, "array")) {
        rewrite_slot(t, "items", ns, oom);
    } else if (!strcmp(type, "map")) {
        json_object_set_new(t, "avro.java.string", json_string("String"));
        rewrite_slot(t, "values", ns, oom);
    }
    return t;
}

/* Java limits a string constant to 65535 UTF-8 bytes; long schemas are passed to
 * Schema.Parser.parse(String, String...) in pieces, as Avro's compiler does. */
#define CHUNK 8000

void jg_emit_text(jgen *g, const char *path, const char *text)
{
    size_t len = strlen(text);
    if (len == 0) {
        gen_files_printf(g->out, path, "\"\"");
        return;
    }
    for (size_t off = 0; off < len;) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        /* Never split a UTF-8 sequence. */
        while (off + n < len && ((unsigned char)text[off + n] & 0xc0) == 0x80)
            n--;
        const char *piece = jg_strf(g, "%.*s", (int)n, text + off);
        gen_files_printf(g->out, path, "%s%s", off ? ",\n        " : "", jg_lit(g, piece));
        off += n;
    }
}

void jg_emit_schema_parse(jgen *g, const char *path, const reg_node *n)
{
    json_t *j = reg_node_json(n, REG_JSON_DOC);
    if (!j) {
        g->oom = 1;
        return;
    }
    int oom = 0;
    json_t *r = rewrite(j, "", &oom);
    char *text = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (r != j)
        json_decref(r);
    json_decref(j);
    if (!text || oom) {
        free(text);
        g->oom = 1;
        return;
    }
    gen_files_printf(g->out, path, "new org.apache.avro.Schema.Parser().parse(");
    jg_emit_text(g, path, text);
    gen_files_printf(g->out, path, ")");
    free(text);
}
