/* schema_default.c - field default values checked against their types.
 *
 * Implements the table in the Avro specification's "Complex Types / Records" section
 * (JSON type of a default per Avro type): null as null, boolean as a JSON boolean, int and
 * long as JSON integers in range, float and double as JSON numbers, bytes and fixed as
 * strings whose code points are 0-255 (ISO-8859-1) with a fixed's exact length, string
 * as a string, records as objects, enums as one of the symbols, arrays as arrays, maps as
 * objects, and a union default matching the union's FIRST branch.
 *
 * Confluent's registry accepts bad defaults unless configured not to; readers then fail
 * at resolution time, far from where the mistake was made. We refuse them at the door.
 *
 * Decisions: a record default may omit a field that has its own default (the reader fills
 * it in) and may carry keys that are not fields (Java ignores them; they are dropped from
 * the normalized form). Integer-valued reals (1.0) are not ints: JSON's number model
 * leaves that open, and Java refuses them too.
 */
#define _GNU_SOURCE /* asprintf */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Count of Unicode code points in UTF-8 s, or -1 if any is above 0xFF. */
static long latin1_length(const char *s, size_t len)
{
    long n = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
        } else if ((c & 0xE0) == 0xC0) {
            /* Two-byte sequences encode U+0080..U+07FF; only C2 and C3 leads stay within
             * U+00FF. */
            if (c > 0xC3)
                return -1;
            i += 2;
        } else {
            return -1;
        }
        n++;
    }
    return n;
}

static void describe(const reg_node *t, char *buf, size_t cap)
{
    if (t->fullname)
        snprintf(buf, cap, "%s %s", reg_type_name(t->type), t->fullname);
    else if (t->type == REG_ARRAY || t->type == REG_MAP) {
        const reg_node *it = t->items;
        snprintf(buf, cap, "%s of %s", reg_type_name(t->type),
                 it->fullname ? it->fullname : reg_type_name(it->type));
    } else
        snprintf(buf, cap, "%s", reg_type_name(t->type));
}

static cg_err *mismatch(const reg_node *t, const json_t *v, const char *path, const char *why)
{
    char *vs = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (vs && strlen(vs) > 60)
        strcpy(vs + 57, "...");
    char tb[200];
    describe(t, tb, sizeof(tb));
    cg_err *e = cg_err_new(CG_EINVALID_SCHEMA, "field '%s': default %s does not match type %s%s%s",
                           path, vs ? vs : "?", tb, why ? ": " : "", why ? why : "");
    free(vs);
    return e;
}

static cg_err *check(const reg_node *t, const json_t *v, const char *path, int depth)
{
    char tmp[64];
    if (depth > 256)
        return cg_err_new(CG_EINVALID_SCHEMA, "field '%s': default nested too deeply", path);
    switch (t->type) {
    case REG_NULL:
        return json_is_null(v) ? NULL : mismatch(t, v, path, NULL);
    case REG_BOOLEAN:
        return json_is_boolean(v) ? NULL : mismatch(t, v, path, NULL);
    case REG_INT:
        if (!json_is_integer(v))
            return mismatch(t, v, path, NULL);
        if (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
            return mismatch(t, v, path, "out of the 32-bit range");
        return NULL;
    case REG_LONG:
        /* jansson refuses integers beyond 64 bits at parse time. */
        return json_is_integer(v) ? NULL : mismatch(t, v, path, NULL);
    case REG_FLOAT:
    case REG_DOUBLE:
        return json_is_number(v) ? NULL : mismatch(t, v, path, NULL);
    case REG_STRING:
        return json_is_string(v) ? NULL : mismatch(t, v, path, NULL);
    case REG_BYTES:
    case REG_FIXED: {
        if (!json_is_string(v))
            return mismatch(t, v, path, NULL);
        long n = latin1_length(json_string_value(v), json_string_length(v));
        if (n < 0)
            return mismatch(t, v, path, "bytes are written as characters U+0000 to U+00FF");
        if (t->type == REG_FIXED && (size_t)n != t->size) {
            snprintf(tmp, sizeof(tmp), "%ld bytes, not %zu", n, t->size);
            return mismatch(t, v, path, tmp);
        }
        return NULL;
    }
    case REG_ENUM: {
        if (!json_is_string(v))
            return mismatch(t, v, path, NULL);
        for (size_t i = 0; i < t->n_symbols; i++) {
            if (strcmp(t->symbols[i], json_string_value(v)) == 0)
                return NULL;
        }
        return mismatch(t, v, path, "not one of its symbols");
    }
    case REG_UNION:
        if (t->n_branches == 0)
            return mismatch(t, v, path, "an empty union has no values");
        /* The specification: a union's default corresponds to its first branch. */
        cg_err *be = check(t->branches[0], v, path, depth + 1);
        if (be) {
            cg_err_free(be);
            char why[300], tb[200];
            describe(t->branches[0], tb, sizeof(tb));
            snprintf(why, sizeof(why), "a union's default must match its first branch (%s)", tb);
            return mismatch(t, v, path, why);
        }
        return NULL;
    case REG_ARRAY: {
        if (!json_is_array(v))
            return mismatch(t, v, path, NULL);
        for (size_t i = 0; i < json_array_size(v); i++) {
            char *sub = NULL;
            if (asprintf(&sub, "%s[%zu]", path, i) < 0)
                return cg_err_new(CG_ENOMEM, "out of memory");
            cg_err *e = check(t->items, json_array_get(v, i), sub, depth + 1);
            free(sub);
            if (e)
                return e;
        }
        return NULL;
    }
    case REG_MAP: {
        if (!json_is_object(v))
            return mismatch(t, v, path, NULL);
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)v, k, val)
        {
            char *sub = NULL;
            if (asprintf(&sub, "%s[\"%s\"]", path, k) < 0)
                return cg_err_new(CG_ENOMEM, "out of memory");
            cg_err *e = check(t->items, val, sub, depth + 1);
            free(sub);
            if (e)
                return e;
        }
        return NULL;
    }
    case REG_RECORD: {
        if (!json_is_object(v))
            return mismatch(t, v, path, NULL);
        for (size_t i = 0; i < t->n_fields; i++) {
            const reg_field *f = &t->fields[i];
            json_t *fv = json_object_get(v, f->name);
            char *sub = NULL;
            if (asprintf(&sub, "%s.%s", path, f->name) < 0)
                return cg_err_new(CG_ENOMEM, "out of memory");
            cg_err *e = NULL;
            if (fv)
                e = check(f->type, fv, sub, depth + 1);
            else if (!f->default_json)
                e = cg_err_new(
                    CG_EINVALID_SCHEMA,
                    "field '%s': default of record %s lacks field '%s', which has no default", path,
                    t->fullname, f->name);
            free(sub);
            if (e)
                return e;
        }
        return NULL;
    }
    }
    return mismatch(t, v, path, NULL);
}

cg_err *reg_default_check(const reg_node *type, const json_t *value, const char *path)
{
    if (!type || !value)
        return cg_err_new(CG_EINVAL, "reg_default_check: no type or no value");
    return check(type, value, path ? path : "?", 0);
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *normalize(const reg_node *t, const json_t *v, int depth)
{
    if (depth > 256)
        return NULL;
    switch (t->type) {
    case REG_NULL:
    case REG_BOOLEAN:
    case REG_INT:
    case REG_LONG:
    case REG_STRING:
    case REG_BYTES:
    case REG_FIXED:
    case REG_ENUM:
        return json_deep_copy(v);
    case REG_FLOAT:
    case REG_DOUBLE:
        /* 1 and 1.0 are the same double default; write both as a real. */
        return json_real(json_number_value(v));
    case REG_UNION:
        return t->n_branches ? normalize(t->branches[0], v, depth + 1) : NULL;
    case REG_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; a && i < json_array_size(v); i++) {
            json_t *e = normalize(t->items, json_array_get(v, i), depth + 1);
            if (!e || json_array_append_new(a, e) != 0) {
                json_decref(a);
                a = NULL;
            }
        }
        return a;
    }
    case REG_MAP: {
        size_t n = json_object_size(v);
        const char **keys = calloc(n ? n : 1, sizeof(*keys));
        json_t *o = json_object();
        if (!keys || !o)
            goto map_fail;
        size_t i = 0;
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)v, k, val) keys[i++] = k;
        qsort(keys, n, sizeof(*keys), cmp_key);
        for (i = 0; i < n; i++) {
            json_t *e = normalize(t->items, json_object_get(v, keys[i]), depth + 1);
            if (!e || json_object_set_new(o, keys[i], e) != 0)
                goto map_fail;
        }
        free(keys);
        return o;
    map_fail:
        free(keys);
        json_decref(o);
        return NULL;
    }
    case REG_RECORD: {
        json_t *o = json_object();
        for (size_t i = 0; o && i < t->n_fields; i++) {
            const reg_field *f = &t->fields[i];
            const json_t *fv = json_object_get(v, f->name);
            if (!fv)
                fv = f->default_json;
            json_t *e = fv ? normalize(f->type, fv, depth + 1) : NULL;
            if (!e || json_object_set_new(o, f->name, e) != 0) {
                json_decref(o);
                o = NULL;
            }
        }
        return o;
    }
    }
    return NULL;
}

json_t *reg_default_normalize(const reg_node *type, const json_t *value)
{
    if (!type || !value)
        return NULL;
    cg_err *e = check(type, value, "", 0);
    if (e) {
        cg_err_free(e);
        return NULL;
    }
    return normalize(type, value, 0);
}
