/* gen_c_json.c - conversion between generated types and Avro's JSON encoding.
 *
 * To JSON follows the specification exactly: unions as {"<branch>": value} (null bare),
 * bytes and fixed as strings of code points 0-255, non-finite floats as the strings
 * "NaN", "Infinity", "-Infinity" (docs/wire.md). From JSON accepts that form and, for
 * unions, also a plain value, taken by the first branch it fits: that is how field
 * defaults are written, and how python's avro and many hand-written files give unions.
 * JSON is a tool and debugging path, not the hot path, so it favours clear messages.
 */
#include <string.h>

#include "gen_c_internal.h"

static const char *lit(gc_ctx *c, const char *s)
{
    return gc_c_string(c, s, strlen(s));
}

/* An expression converting the value at lvalue e (of type n) to a new json_t *. */
static const char *to_json_expr(gc_ctx *c, const reg_node *n, const char *e)
{
    switch (n->type) {
    case REG_NULL:
        return "json_null()";
    case REG_BOOLEAN:
        return gc_fmt(c, "json_boolean(%s)", e);
    case REG_INT:
    case REG_LONG:
        return gc_fmt(c, "canon_json_long(%s)", e);
    case REG_FLOAT:
        return gc_fmt(c, "canon_json_float(%s)", e);
    case REG_DOUBLE:
        return gc_fmt(c, "canon_json_double(%s)", e);
    case REG_BYTES:
        return gc_fmt(c, "canon_json_bytes(%s.data, %s.len)", e, e);
    case REG_STRING:
        return gc_fmt(c, "canon_json_str(%s)", e);
    default:
        break;
    }
    const reg_node *po = gc_prim_opt(n, NULL);
    if (po)
        return gc_fmt(c, "canon_json_opt_%s(&%s)", gc_prim_name(po->type), e);
    gc_type *t = gc_find(c, n);
    if (t->kind == GC_ENUM)
        return gc_fmt(c, "%s_to_json(%s)", t->cname, e);
    if (t->kind == GC_FIXED)
        return gc_fmt(c, "%s_to_json(&%s)", t->cname, e);
    if (t->kind == GC_OPTREC)
        return gc_fmt(c, "%s_to_json(%s, err)", t->cname, e);
    return gc_fmt(c, "%s_to_json(&%s, err)", t->cname, e);
}

/* An int expression converting json j into lvalue e (0 on success); errors of nested
 * types go to errvar. */
static const char *from_json_expr(gc_ctx *c, const reg_node *n, const char *j, const char *e,
                                  const char *errvar)
{
    switch (n->type) {
    case REG_NULL:
        return gc_fmt(c, "(json_is_null(%s) ? (%s = 0) : -1)", j, e);
    case REG_BOOLEAN:
        return gc_fmt(c, "canon_json_get_bool(%s, &%s)", j, e);
    case REG_INT:
        return gc_fmt(c, "canon_json_get_int(%s, &%s)", j, e);
    case REG_LONG:
        return gc_fmt(c, "canon_json_get_long(%s, &%s)", j, e);
    case REG_FLOAT:
        return gc_fmt(c, "canon_json_get_float(%s, &%s)", j, e);
    case REG_DOUBLE:
        return gc_fmt(c, "canon_json_get_double(%s, &%s)", j, e);
    case REG_BYTES:
        return gc_fmt(c, "canon_json_get_bytes(%s, &%s, a)", j, e);
    case REG_STRING:
        return gc_fmt(c, "canon_json_get_str(%s, &%s, a)", j, e);
    default:
        break;
    }
    const reg_node *po = gc_prim_opt(n, NULL);
    if (po)
        return gc_fmt(c, "canon_json_get_opt_%s(%s, &%s, a)", gc_prim_name(po->type), j, e);
    gc_type *t = gc_find(c, n);
    if (t->kind == GC_ENUM || t->kind == GC_FIXED)
        return gc_fmt(c, "%s_from_json(%s, &%s)", t->cname, j, e);
    return gc_fmt(c, "%s_from_json(%s, &%s, a, %s)", t->cname, j, e, errvar);
}

static const char *reason(gc_ctx *c, const reg_node *n)
{
    switch (n->type) {
    case REG_NULL:
        return "expected null";
    case REG_BOOLEAN:
        return "expected true or false";
    case REG_INT:
        return "expected an int (32-bit integer)";
    case REG_LONG:
        return "expected a long (64-bit integer)";
    case REG_FLOAT:
    case REG_DOUBLE:
        return "expected a number, \"NaN\", \"Infinity\" or \"-Infinity\"";
    case REG_BYTES:
        return "expected a string of code points 0-255";
    case REG_STRING:
        return "expected a string";
    case REG_ENUM:
        return gc_fmt(c, "expected a symbol of enum %s", n->fullname);
    case REG_FIXED:
        return gc_fmt(c, "expected a string of %zu code points 0-255", n->size);
    case REG_UNION:
        if (gc_prim_opt(n, NULL))
            return gc_fmt(c, "expected null or %s",
                          reason(c, gc_prim_opt(n, NULL)) + strlen("expected "));
        return "invalid value";
    default:
        return "invalid value";
    }
}

/* 1 if the conversion expression of a value of n (from_json_expr) mentions the arena:
 * strings and bytes are copied into it, and named or composite types pass it on. */
static int expr_uses_arena(const reg_node *n)
{
    switch (n->type) {
    case REG_NULL:
    case REG_BOOLEAN:
    case REG_INT:
    case REG_LONG:
    case REG_FLOAT:
    case REG_DOUBLE:
    case REG_ENUM:
    case REG_FIXED:
        return 0;
    default:
        return 1;
    }
}

/* 1 if the from_json function body of a record, root wrapper or union mentions it. */
static int uses_arena(const reg_node *n)
{
    if (n->type == REG_RECORD) {
        for (size_t i = 0; i < n->n_fields; i++)
            if (expr_uses_arena(n->fields[i].type))
                return 1;
        return 0;
    }
    if (n->type == REG_UNION) {
        for (size_t i = 0; i < n->n_branches; i++)
            if (expr_uses_arena(n->branches[i]))
                return 1;
        return 0;
    }
    return expr_uses_arena(n);
}

void gc_emit_to_json_fn(gc_ctx *c, gc_type *t)
{
    const reg_node *n = t->node;
    const char *x = t->cname;
    const char *path = lit(c, t->path);
    int pub =
        t->kind == GC_RECORD || t->kind == GC_WRAP || t->kind == GC_ENUM || t->kind == GC_FIXED;
    const char *st = pub ? "" : "static ";

    if (t->kind == GC_ENUM) {
        size_t k = n->n_symbols;
        OUT(c, "const char *const %s_symbols[%zu] = {", x, k ? k : 1);
        for (size_t i = 0; i < k; i++)
            OUT(c, "%s%s", i ? ", " : "", lit(c, n->symbols[i]));
        OUT(c,
            "};\n\nconst char *%s_symbol(%s_t v)\n{\n"
            "    return (unsigned)v < %zuu ? %s_symbols[v] : NULL;\n}\n\n",
            x, x, k, x);
        OUT(c,
            "%s\n{\n    const char *s = %s_symbol(v);\n    return s ? json_string(s) : "
            "NULL;\n}\n\n",
            gc_sig(c, t, GC_OP_TO_JSON), x);
        return;
    }
    if (t->kind == GC_FIXED) {
        OUT(c, "%s\n{\n    return canon_json_bytes(v->bytes, %zu);\n}\n\n",
            gc_sig(c, t, GC_OP_TO_JSON), n->size);
        return;
    }
    OUT(c, "%s%s\n{\n", st, gc_sig(c, t, GC_OP_TO_JSON));
    switch (t->kind) {
    case GC_RECORD:
        OUT(c,
            "    json_t *o = json_object();\n    if (!o) {\n"
            "        canon_json_fail(err, %s, \"out of memory\");\n        return NULL;\n    }\n",
            path);
        for (size_t i = 0; i < n->n_fields; i++) {
            const reg_field *f = &n->fields[i];
            const char *fp = gc_fmt(c, "%s.%s", n->name, f->name);
            OUT(c, "    if (canon_json_add(o, %s, %s, err, %s) != 0)\n        goto fail;\n",
                lit(c, f->name), to_json_expr(c, f->type, gc_fmt(c, "v->%s", gc_ident(c, f->name))),
                lit(c, fp));
        }
        if (n->n_fields == 0)
            OUT(c, "    (void)v;\n    return o;\n");
        else
            OUT(c, "    return o;\nfail:\n    json_decref(o);\n    return NULL;\n");
        break;
    case GC_WRAP:
        OUT(c,
            "    json_t *x = %s;\n    if (!x)\n"
            "        canon_json_fail(err, %s, \"cannot convert to JSON (invalid UTF-8 or out of "
            "memory)\");\n"
            "    return x;\n",
            to_json_expr(c, n, "v->value"), path);
        if (n->type == REG_NULL)
            OUT(c, "    (void)v;\n");
        break;
    case GC_ARRAY:
    case GC_MAP: {
        int arr = t->kind == GC_ARRAY;
        OUT(c,
            "    json_t *o = %s;\n    if (!o) {\n"
            "        canon_json_fail(err, %s, \"out of memory\");\n        return NULL;\n    }\n"
            "    for (size_t i = 0; i < v->len; i++) {\n",
            arr ? "json_array()" : "json_object()", path);
        if (arr)
            OUT(c, "        if (canon_json_append(o, %s, err, %s) != 0) {\n",
                to_json_expr(c, n->items, "v->items[i]"), lit(c, gc_fmt(c, "%s[]", t->path)));
        else
            OUT(c, "        if (canon_json_add_key(o, v->entries[i].key, %s, err, %s) != 0) {\n",
                to_json_expr(c, n->items, "v->entries[i].value"),
                lit(c, gc_fmt(c, "%s{}", t->path)));
        OUT(c, "            json_decref(o);\n            return NULL;\n        }\n    }\n    "
               "return o;\n");
        break;
    }
    case GC_OPT:
    case GC_OPTREC: {
        const reg_node *in = n->branches[1 - t->null_index];
        int rec = t->kind == GC_OPTREC;
        OUT(c,
            "    if (%s)\n        return json_null();\n"
            "    json_t *x = canon_json_branch(%s, %s);\n    if (!x)\n"
            "        canon_json_fail(err, %s, \"cannot convert to JSON (invalid UTF-8 or out of "
            "memory)\");\n"
            "    return x;\n",
            rec ? "!v" : "!v->has", lit(c, gc_branch_name(c, in)),
            rec ? gc_fmt(c, "%s_to_json(v, err)", gc_find(c, in)->cname)
                : to_json_expr(c, in, "v->value"),
            path);
        break;
    }
    case GC_UNION:
        OUT(c, "    json_t *x = NULL;\n    switch (v->which) {\n");
        for (size_t i = 0; i < n->n_branches; i++) {
            const reg_node *br = n->branches[i];
            OUT(c, "    case %s:\n", t->tags[i]);
            if (!t->members[i]) {
                OUT(c, "        return json_null();\n");
                continue;
            }
            if (br->type == REG_RECORD)
                OUT(c,
                    "        if (v->%s)\n            x = canon_json_branch(%s, %s_to_json(v->%s, "
                    "err));\n",
                    t->members[i], lit(c, gc_branch_name(c, br)), gc_find(c, br)->cname,
                    t->members[i]);
            else
                OUT(c, "        x = canon_json_branch(%s, %s);\n", lit(c, gc_branch_name(c, br)),
                    to_json_expr(c, br, gc_fmt(c, "v->%s", t->members[i])));
            OUT(c, "        break;\n");
        }
        OUT(c,
            "    default:\n        canon_json_fail(err, %s, \"union tag out of range\");\n"
            "        return NULL;\n    }\n    if (!x)\n"
            "        canon_json_fail(err, %s, \"cannot convert to JSON (invalid UTF-8 or out of "
            "memory)\");\n"
            "    return x;\n",
            path, path);
        break;
    default:
        break;
    }
    OUT(c, "}\n\n");
}

/* The names a union branch answers to in JSON: its type name, or for a named type its
 * full name (what the specification writes) or its short name. */
static const char *branch_test(gc_ctx *c, const reg_node *br, const char *var, int negate)
{
    const char *full = lit(c, gc_branch_name(c, br));
    int two = (br->type == REG_RECORD || br->type == REG_ENUM || br->type == REG_FIXED) &&
              strcmp(br->name, gc_branch_name(c, br)) != 0;
    const char *short_name = two ? lit(c, br->name) : NULL;
    if (negate)
        return two ? gc_fmt(c, "(strcmp(%s, %s) != 0 && strcmp(%s, %s) != 0)", var, full, var,
                            short_name)
                   : gc_fmt(c, "strcmp(%s, %s) != 0", var, full);
    return two ? gc_fmt(c, "!strcmp(%s, %s) || !strcmp(%s, %s)", var, full, var, short_name)
               : gc_fmt(c, "!strcmp(%s, %s)", var, full);
}

static void from_json_union(gc_ctx *c, gc_type *t)
{
    const reg_node *n = t->node;
    const char *path = lit(c, t->path);
    int has_null = 0, any = 0;
    for (size_t i = 0; i < n->n_branches; i++) {
        has_null |= n->branches[i]->type == REG_NULL;
        any |= t->members[i] != NULL;
    }
    OUT(c, "    const char *name;\n    const json_t *x;\n");
    if (any)
        OUT(c, "    canon_error scratch;\n");
    if (!uses_arena(n))
        OUT(c, "    (void)a;\n");
    for (size_t i = 0; i < n->n_branches && has_null; i++)
        if (!t->members[i])
            OUT(c, "    if (json_is_null(j)) {\n        v->which = %s;\n        return 0;\n    }\n",
                t->tags[i]);
    OUT(c, "    if (canon_json_union_form(j, &name, &x)) {\n");
    for (size_t i = 0; i < n->n_branches; i++) {
        const reg_node *br = n->branches[i];
        const char *m = t->members[i];
        if (!m)
            continue;
        const char *bp = lit(c, gc_fmt(c, "%s<%s>", t->path, gc_branch_name(c, br)));
        OUT(c, "        if (%s) {\n            v->which = %s;\n", branch_test(c, br, "name", 0),
            t->tags[i]);
        if (br->type == REG_RECORD)
            OUT(c,
                "            v->%s = canon_arena_alloc(a, sizeof *v->%s);\n"
                "            if (!v->%s || %s_from_json(x, v->%s, a, err) != 0)\n",
                m, m, m, gc_find(c, br)->cname, m);
        else
            OUT(c, "            if (%s != 0)\n",
                from_json_expr(c, br, "x", gc_fmt(c, "v->%s", m), "err"));
        OUT(c,
            "                return canon_json_fail(err, %s, %s);\n            return 0;\n        "
            "}\n",
            bp, lit(c, reason(c, br)));
    }
    OUT(c, "    }\n");
    if (any)
        OUT(c, "    /* Not in Avro's union form: the first branch the plain value fits. */\n");
    for (size_t i = 0; i < n->n_branches; i++) {
        const reg_node *br = n->branches[i];
        const char *m = t->members[i];
        if (!m)
            continue;
        OUT(c, "    memset(&scratch, 0, sizeof scratch);\n");
        if (br->type == REG_RECORD)
            OUT(c,
                "    v->%s = canon_arena_alloc(a, sizeof *v->%s);\n"
                "    if (v->%s && %s_from_json(j, v->%s, a, &scratch) == 0) {\n",
                m, m, m, gc_find(c, br)->cname, m);
        else
            OUT(c, "    if (%s == 0) {\n",
                from_json_expr(c, br, "j", gc_fmt(c, "v->%s", m), "&scratch"));
        OUT(c, "        v->which = %s;\n        return 0;\n    }\n", t->tags[i]);
    }
    OUT(c, "    return canon_json_fail(err, %s, \"matches no branch of the union\");\n", path);
}

void gc_emit_from_json_fn(gc_ctx *c, gc_type *t)
{
    const reg_node *n = t->node;
    const char *x = t->cname;
    const char *path = lit(c, t->path);
    int pub =
        t->kind == GC_RECORD || t->kind == GC_WRAP || t->kind == GC_ENUM || t->kind == GC_FIXED;
    const char *st = pub ? "" : "static ";

    if (t->kind == GC_ENUM) {
        OUT(c,
            "%s\n{\n    int i = canon_json_get_enum(j, %s_symbols, %zu);\n    if (i < 0)\n"
            "        return -1;\n    *v = (%s_t)i;\n    return 0;\n}\n\n",
            gc_sig(c, t, GC_OP_FROM_JSON), x, n->n_symbols, x);
        return;
    }
    if (t->kind == GC_FIXED) {
        OUT(c, "%s\n{\n    return canon_json_get_fixed(j, v->bytes, %zu);\n}\n\n",
            gc_sig(c, t, GC_OP_FROM_JSON), n->size);
        return;
    }
    OUT(c, "%s%s\n{\n", st, gc_sig(c, t, GC_OP_FROM_JSON));
    switch (t->kind) {
    case GC_RECORD: {
        int any_default = 0;
        for (size_t i = 0; i < n->n_fields; i++)
            any_default |= n->fields[i].default_json != NULL;
        if (n->n_fields)
            OUT(c, "    const json_t *x;\n");
        if (any_default)
            OUT(c, "    json_t *tmp = NULL;\n    int rc;\n");
        if (!uses_arena(n))
            OUT(c, "    (void)a;\n");
        if (n->n_fields == 0)
            OUT(c, "    (void)v;\n");
        OUT(c,
            "    if (!json_is_object(j))\n        return canon_json_fail(err, %s, \"expected a "
            "JSON object\");\n",
            path);
        for (size_t i = 0; i < n->n_fields; i++) {
            const reg_field *f = &n->fields[i];
            const char *fp = lit(c, gc_fmt(c, "%s.%s", n->name, f->name));
            const char *conv =
                from_json_expr(c, f->type, "x", gc_fmt(c, "v->%s", gc_ident(c, f->name)), "err");
            if (!f->default_json) {
                OUT(c,
                    "    x = json_object_get(j, %s);\n    if (!x)\n"
                    "        return canon_json_fail(err, %s, \"missing field\");\n"
                    "    if (%s != 0)\n        return canon_json_fail(err, %s, %s);\n",
                    lit(c, f->name), fp, conv, fp, lit(c, reason(c, f->type)));
                continue;
            }
            char *d = json_dumps(f->default_json, JSON_COMPACT | JSON_ENCODE_ANY);
            OUT(c,
                "    x = canon_json_member(j, %s, %s, &tmp);\n    if (!x)\n"
                "        return canon_json_fail(err, %s, \"missing field\");\n"
                "    rc = %s;\n    json_decref(tmp);\n    tmp = NULL;\n"
                "    if (rc != 0)\n        return canon_json_fail(err, %s, %s);\n",
                lit(c, f->name), d ? lit(c, d) : "NULL", fp, conv, fp, lit(c, reason(c, f->type)));
            free(d);
        }
        OUT(c, "    return 0;\n");
        break;
    }
    case GC_WRAP:
        if (!uses_arena(n))
            OUT(c, "    (void)a;\n");
        OUT(c, "    if (%s != 0)\n        return canon_json_fail(err, %s, %s);\n    return 0;\n",
            from_json_expr(c, n, "j", "v->value", "err"), path, lit(c, reason(c, n)));
        break;
    case GC_ARRAY:
        OUT(c,
            "    if (!json_is_array(j))\n        return canon_json_fail(err, %s, \"expected a JSON "
            "array\");\n"
            "    v->len = json_array_size(j);\n"
            "    v->items = v->len ? canon_arena_alloc(a, v->len * sizeof *v->items) : NULL;\n"
            "    if (v->len && !v->items)\n        return canon_json_fail(err, %s, \"out of "
            "memory\");\n"
            "    for (size_t i = 0; i < v->len; i++)\n"
            "        if (%s != 0)\n            return canon_json_fail(err, %s, %s);\n"
            "    return 0;\n",
            path, path, from_json_expr(c, n->items, "json_array_get(j, i)", "v->items[i]", "err"),
            lit(c, gc_fmt(c, "%s[]", t->path)), lit(c, reason(c, n->items)));
        break;
    case GC_MAP:
        OUT(c,
            "    const char *key;\n    json_t *x;\n    size_t i = 0;\n"
            "    if (!json_is_object(j))\n        return canon_json_fail(err, %s, \"expected a "
            "JSON object\");\n"
            "    v->len = json_object_size(j);\n"
            "    v->entries = v->len ? canon_arena_alloc(a, v->len * sizeof *v->entries) : NULL;\n"
            "    if (v->len && !v->entries)\n        return canon_json_fail(err, %s, \"out of "
            "memory\");\n"
            "    json_object_foreach((json_t *)j, key, x) {\n"
            "        v->entries[i].key.len = strlen(key);\n"
            "        v->entries[i].key.data = canon_arena_strndup(a, key, v->entries[i].key.len);\n"
            "        if (!v->entries[i].key.data)\n"
            "            return canon_json_fail(err, %s, \"out of memory\");\n"
            "        if (%s != 0)\n            return canon_json_fail(err, %s, %s);\n"
            "        i++;\n    }\n    return 0;\n",
            path, path, path, from_json_expr(c, n->items, "x", "v->entries[i].value", "err"),
            lit(c, gc_fmt(c, "%s{}", t->path)), lit(c, reason(c, n->items)));
        break;
    case GC_OPT:
    case GC_OPTREC: {
        const reg_node *in = n->branches[1 - t->null_index];
        int rec = t->kind == GC_OPTREC;
        OUT(c, "    const char *name;\n    const json_t *x;\n");
        if (!rec && !expr_uses_arena(in))
            OUT(c, "    (void)a;\n");
        if (rec)
            OUT(c, "    if (json_is_null(j)) {\n        *v = NULL;\n        return 0;\n    }\n");
        else
            OUT(c, "    if (json_is_null(j)) {\n        v->has = false;\n"
                   "        memset(&v->value, 0, sizeof v->value);\n        return 0;\n    }\n");
        OUT(c,
            "    if (!canon_json_union_form(j, &name, &x) || %s)\n"
            "        x = j; /* a plain value: a field default, or python's avro */\n",
            branch_test(c, in, "name", 1));
        if (rec)
            OUT(c,
                "    *v = canon_arena_alloc(a, sizeof **v);\n    if (!*v)\n"
                "        return canon_json_fail(err, %s, \"out of memory\");\n"
                "    if (%s_from_json(x, *v, a, err) != 0)\n"
                "        return canon_json_fail(err, %s, \"invalid value\");\n    return 0;\n",
                path, gc_find(c, in)->cname, path);
        else
            OUT(c,
                "    v->has = true;\n    if (%s != 0)\n        return canon_json_fail(err, %s, "
                "%s);\n"
                "    return 0;\n",
                from_json_expr(c, in, "x", "v->value", "err"), path, lit(c, reason(c, in)));
        break;
    }
    case GC_UNION:
        from_json_union(c, t);
        break;
    default:
        break;
    }
    OUT(c, "}\n\n");
}
