/* gen_c_binary.c - Avro binary encoders and decoders, written out for the schema.
 *
 * Each type gets a _write function (straight-line appends to a canon_buf; no allocation
 * unless the buffer has to grow) and a _read function (bounds-checked reads from a
 * canon_reader; everything that needs memory comes from the arena). Records also get
 * the public entry points: init, encode, encode_framed, decode, decode_framed.
 *
 * Decoding trusts nothing: every length, count, index and varint is checked against
 * the input and the schema before use (the checks live in canon_rt.h), recursion depth
 * is bounded for recursive records, and a failure names the innermost field.
 */
#include <string.h>

#include <jansson.h>

#include "gen_c_internal.h"

static const char *prim_suffix(reg_type t)
{
    switch (t) {
    case REG_BOOLEAN:
        return "bool";
    case REG_INT:
        return "int";
    case REG_LONG:
        return "long";
    case REG_FLOAT:
        return "float";
    case REG_DOUBLE:
        return "double";
    case REG_BYTES:
        return "bytes";
    case REG_STRING:
        return "str";
    default:
        return NULL;
    }
}

/* Statement(s) appending the value at lvalue e, of type n, to b. */
static void write_value(gc_ctx *c, const char *ind, const reg_node *n, const char *e)
{
    const char *p = prim_suffix(n->type);
    if (n->type == REG_NULL)
        return;
    if (p) {
        OUT(c, "%scanon_write_%s(b, %s);\n", ind, p, e);
        return;
    }
    int ni;
    const reg_node *po = gc_prim_opt(n, &ni);
    if (po) {
        OUT(c, "%scanon_write_opt_%s(b, &%s, %d);\n", ind, gc_prim_name(po->type), e, ni);
        return;
    }
    gc_type *t = gc_find(c, n);
    if (t->kind == GC_ENUM || t->kind == GC_OPTREC)
        OUT(c, "%s%s_write(b, %s);\n", ind, t->cname, e);
    else
        OUT(c, "%s%s_write(b, &%s);\n", ind, t->cname, e);
}

/* Statement(s) reading a value of type n into lvalue e; on failure, return -1 naming
 * path. */
static void read_value(gc_ctx *c, const char *ind, const reg_node *n, const char *e,
                       const char *path)
{
    const char *p = prim_suffix(n->type);
    if (n->type == REG_NULL)
        return;
    int ni;
    const reg_node *po = gc_prim_opt(n, &ni);
    if (p)
        OUT(c, "%sif (canon_read_%s(r, &%s) != 0)\n", ind, p, e);
    else if (po)
        OUT(c, "%sif (canon_read_opt_%s(r, &%s, %d) != 0)\n", ind, gc_prim_name(po->type), e, ni);
    else
        OUT(c, "%sif (%s_read(r, &%s) != 0)\n", ind, gc_find(c, n)->cname, e);
    OUT(c, "%s    return canon_read_fail(r, %s);\n", ind, gc_c_string(c, path, strlen(path)));
}

static const char *lit(gc_ctx *c, const char *s)
{
    return gc_c_string(c, s, strlen(s));
}

void gc_emit_write_fn(gc_ctx *c, gc_type *t)
{
    const reg_node *n = t->node;
    const char *st = t->kind == GC_RECORD || t->kind == GC_WRAP ? "" : "static ";
    OUT(c, "%s%s\n{\n", st, gc_sig(c, t, GC_OP_WRITE));
    switch (t->kind) {
    case GC_RECORD:
        if (n->n_fields == 0)
            OUT(c, "    (void)b;\n    (void)v;\n");
        for (size_t i = 0; i < n->n_fields; i++)
            write_value(c, "    ", n->fields[i].type,
                        gc_fmt(c, "v->%s", gc_ident(c, n->fields[i].name)));
        if (n->n_fields && gen_min_size(n, 0) == 0) {
            int all_null = 1;
            for (size_t i = 0; i < n->n_fields; i++)
                all_null &= n->fields[i].type->type == REG_NULL;
            if (all_null)
                OUT(c, "    (void)b;\n    (void)v;\n");
        }
        break;
    case GC_WRAP:
        if (n->type == REG_NULL)
            OUT(c, "    (void)b;\n    (void)v;\n");
        write_value(c, "    ", n, "v->value");
        break;
    case GC_ARRAY:
        OUT(c, "    if (v->len > 0) {\n        canon_write_long(b, (int64_t)v->len);\n"
               "        for (size_t i = 0; i < v->len; i++) {\n");
        write_value(c, "            ", n->items, "v->items[i]");
        if (n->items->type == REG_NULL)
            OUT(c, "            /* null items encode to nothing */\n");
        OUT(c, "        }\n    }\n    canon_write_long(b, 0);\n");
        break;
    case GC_MAP:
        OUT(c, "    if (v->len > 0) {\n        canon_write_long(b, (int64_t)v->len);\n"
               "        for (size_t i = 0; i < v->len; i++) {\n"
               "            canon_write_str(b, v->entries[i].key);\n");
        write_value(c, "            ", n->items, "v->entries[i].value");
        OUT(c, "        }\n    }\n    canon_write_long(b, 0);\n");
        break;
    case GC_OPT:
        OUT(c,
            "    if (!v->has) {\n        canon_write_long(b, %d);\n        return;\n    }\n"
            "    canon_write_long(b, %d);\n",
            t->null_index, 1 - t->null_index);
        write_value(c, "    ", n->branches[1 - t->null_index], "v->value");
        break;
    case GC_OPTREC:
        OUT(c,
            "    if (!v) {\n        canon_write_long(b, %d);\n        return;\n    }\n"
            "    canon_write_long(b, %d);\n    %s_write(b, v);\n",
            t->null_index, 1 - t->null_index, gc_find(c, n->branches[1 - t->null_index])->cname);
        break;
    case GC_UNION:
        OUT(c, "    switch (v->which) {\n");
        for (size_t i = 0; i < n->n_branches; i++) {
            const reg_node *br = n->branches[i];
            OUT(c, "    case %s:\n        canon_write_long(b, %zu);\n", t->tags[i], i);
            if (br->type == REG_RECORD) {
                OUT(c,
                    "        if (!v->%s)\n            canon_buf_fail(b, CANON_EENCODE, %s, "
                    "\"NULL record pointer\");\n        else\n            %s_write(b, v->%s);\n",
                    t->members[i], lit(c, t->path), gc_find(c, br)->cname, t->members[i]);
            } else if (t->members[i]) {
                write_value(c, "        ", br, gc_fmt(c, "v->%s", t->members[i]));
            }
            OUT(c, "        return;\n");
        }
        OUT(c, "    }\n    canon_buf_fail(b, CANON_EENCODE, %s, \"union tag out of range\");\n",
            lit(c, t->path));
        break;
    default:
        break;
    }
    OUT(c, "}\n\n");
}

void gc_emit_read_fn(gc_ctx *c, gc_type *t)
{
    const reg_node *n = t->node;
    const char *path = lit(c, t->path);
    const char *st = t->kind == GC_RECORD || t->kind == GC_WRAP ? "" : "static ";
    OUT(c, "%s%s\n{\n", st, gc_sig(c, t, GC_OP_READ));
    switch (t->kind) {
    case GC_RECORD:
        if (t->recursive)
            OUT(c,
                "    if (++r->depth > CANON_MAX_DEPTH) {\n"
                "        canon_read_error(r, \"records nested too deeply\");\n"
                "        return canon_read_fail(r, %s);\n    }\n",
                path);
        if (n->n_fields == 0 || gen_min_size(n, 0) == 0)
            OUT(c, "    (void)r;\n    (void)v;\n");
        for (size_t i = 0; i < n->n_fields; i++) {
            const reg_field *f = &n->fields[i];
            read_value(c, "    ", f->type, gc_fmt(c, "v->%s", gc_ident(c, f->name)),
                       gc_fmt(c, "%s.%s", n->name, f->name));
        }
        if (t->recursive)
            OUT(c, "    r->depth--;\n");
        OUT(c, "    return 0;\n");
        break;
    case GC_WRAP:
        if (n->type == REG_NULL)
            OUT(c, "    (void)r;\n    (void)v;\n");
        read_value(c, "    ", n, "v->value", t->path);
        OUT(c, "    return 0;\n");
        break;
    case GC_ARRAY:
    case GC_MAP: {
        int arr = t->kind == GC_ARRAY;
        const char *items = arr ? "items" : "entries";
        OUT(c,
            "    size_t n, cap = 0;\n    v->%s = NULL;\n    v->len = 0;\n    for (;;) {\n"
            "        if (canon_read_block(r, %zu, v->len, &n) != 0)\n"
            "            return canon_read_fail(r, %s);\n"
            "        if (n == 0)\n            return 0;\n"
            "        v->%s = canon_read_grow(r, v->%s, v->len, n, &cap, sizeof *v->%s);\n"
            "        if (!v->%s)\n            return canon_read_fail(r, %s);\n"
            "        for (size_t i = v->len; i < v->len + n; i++) {\n",
            items, arr ? gen_min_size(n->items, 0) : 1 + gen_min_size(n->items, 0), path, items,
            items, items, items, path);
        if (arr) {
            read_value(c, "            ", n->items, "v->items[i]", gc_fmt(c, "%s[]", t->path));
            if (n->items->type == REG_NULL)
                OUT(c, "            v->items[i] = 0;\n");
        } else {
            read_value(c, "            ", &(reg_node){.type = REG_STRING}, "v->entries[i].key",
                       gc_fmt(c, "%s (key)", t->path));
            read_value(c, "            ", n->items, "v->entries[i].value",
                       gc_fmt(c, "%s{}", t->path));
            if (n->items->type == REG_NULL)
                OUT(c, "            v->entries[i].value = 0;\n");
        }
        OUT(c, "        }\n        v->len += n;\n    }\n");
        break;
    }
    case GC_OPT: {
        const reg_node *in = n->branches[1 - t->null_index];
        OUT(c,
            "    size_t i;\n"
            "    if (canon_read_index(r, 2, &i, \"union branch index out of range\") != 0)\n"
            "        return canon_read_fail(r, %s);\n"
            "    v->has = i == %d;\n    if (!v->has) {\n"
            "        memset(&v->value, 0, sizeof v->value);\n        return 0;\n    }\n",
            path, 1 - t->null_index);
        read_value(c, "    ", in, "v->value", t->path);
        OUT(c, "    return 0;\n");
        break;
    }
    case GC_OPTREC:
        OUT(c,
            "    size_t i;\n"
            "    if (canon_read_index(r, 2, &i, \"union branch index out of range\") != 0)\n"
            "        return canon_read_fail(r, %s);\n"
            "    if (i == %d) {\n        *v = NULL;\n        return 0;\n    }\n"
            "    *v = canon_arena_alloc(r->arena, sizeof **v);\n"
            "    if (!*v) {\n        canon_read_error(r, \"out of memory\");\n"
            "        return canon_read_fail(r, %s);\n    }\n"
            "    if (%s_read(r, *v) != 0)\n        return canon_read_fail(r, %s);\n"
            "    return 0;\n",
            path, t->null_index, path, gc_find(c, n->branches[1 - t->null_index])->cname, path);
        break;
    case GC_UNION:
        OUT(c,
            "    size_t i;\n"
            "    if (canon_read_index(r, %zu, &i, \"union branch index out of range\") != 0)\n"
            "        return canon_read_fail(r, %s);\n"
            "    v->which = (%s_branch)i;\n    switch (v->which) {\n",
            n->n_branches, path, t->cname);
        for (size_t i = 0; i < n->n_branches; i++) {
            const reg_node *br = n->branches[i];
            if (!t->members[i])
                continue;
            OUT(c, "    case %s:\n", t->tags[i]);
            const char *bp = gc_fmt(c, "%s<%s>", t->path, gc_branch_name(c, br));
            if (br->type == REG_RECORD) {
                OUT(c,
                    "        v->%s = canon_arena_alloc(r->arena, sizeof *v->%s);\n"
                    "        if (!v->%s) {\n            canon_read_error(r, \"out of memory\");\n"
                    "            return canon_read_fail(r, %s);\n        }\n"
                    "        if (%s_read(r, v->%s) != 0)\n            return canon_read_fail(r, "
                    "%s);\n",
                    t->members[i], t->members[i], t->members[i], path, gc_find(c, br)->cname,
                    t->members[i], lit(c, bp));
            } else {
                read_value(c, "        ", br, gc_fmt(c, "v->%s", t->members[i]), bp);
            }
            OUT(c, "        break;\n");
        }
        OUT(c, "    default:\n        break;\n    }\n    return 0;\n");
        break;
    default:
        break;
    }
    OUT(c, "}\n\n");
}

/* ---- init: zero, then the defaults C can state as constants -------------------------- */

static const char *int_lit(gc_ctx *c, json_int_t v, int is_long)
{
    if (is_long && v == (json_int_t)INT64_MIN)
        return "INT64_MIN";
    if (!is_long && v == INT32_MIN)
        return "INT32_MIN";
    return gc_fmt(c, is_long ? "INT64_C(%lld)" : "%lld", (long long)v);
}

static void init_default(gc_ctx *c, const reg_field *f, const char *lv)
{
    const json_t *d = f->default_json;
    const reg_node *n = f->type;
    if (!d)
        return;
    gc_type *t = gc_find(c, n);
    int ni;
    const reg_node *po = gc_prim_opt(n, &ni);
    if (po) {
        if (ni == 0)
            return; /* the default is null: zero already says so */
        OUT(c, "    %s.has = true;\n", lv);
        lv = gc_fmt(c, "%s.value", lv);
        n = po;
    } else if (t && (t->kind == GC_OPT || t->kind == GC_OPTREC)) {
        if (t->null_index == 0)
            return; /* the default is null: zero already says so */
        if (t->kind == GC_OPTREC) {
            OUT(c, "    /* %s: its record default is applied by from_json only */\n", f->name);
            return;
        }
        OUT(c, "    %s.has = true;\n", lv);
        lv = gc_fmt(c, "%s.value", lv);
        n = n->branches[1 - t->null_index];
    } else if (t && t->kind == GC_UNION) {
        if (!t->members[0])
            return;
        lv = gc_fmt(c, "%s.%s", lv, t->members[0]); /* which is 0 already */
        n = n->branches[0];
        if (n->type == REG_RECORD) {
            OUT(c, "    /* %s: its record default is applied by from_json only */\n", f->name);
            return;
        }
    }
    switch (n->type) {
    case REG_BOOLEAN:
        OUT(c, "    %s = %s;\n", lv, json_is_true(d) ? "true" : "false");
        break;
    case REG_INT:
    case REG_LONG:
        if (json_is_integer(d))
            OUT(c, "    %s = %s;\n", lv, int_lit(c, json_integer_value(d), n->type == REG_LONG));
        break;
    case REG_FLOAT:
    case REG_DOUBLE:
        if (json_is_number(d))
            OUT(c, "    %s = %.17g%s;\n", lv, json_number_value(d),
                n->type == REG_FLOAT ? "f" : "");
        break;
    case REG_STRING:
        if (json_is_string(d))
            OUT(c, "    %s = (canon_str){%s, %zu};\n", lv,
                gc_c_string(c, json_string_value(d), json_string_length(d)), json_string_length(d));
        break;
    case REG_ENUM:
        if (json_is_string(d))
            OUT(c, "    %s = %s_%s;\n", lv, gc_upper(c, gc_find(c, n)->cname),
                json_string_value(d));
        break;
    case REG_ARRAY:
    case REG_MAP:
        if (json_is_array(d) ? json_array_size(d) : json_object_size(d))
            OUT(c, "    /* %s: its non-empty default is applied by from_json only */\n", f->name);
        break;
    case REG_NULL:
        break;
    default:
        OUT(c, "    /* %s: its default is applied by from_json only */\n", f->name);
        break;
    }
}

void gc_emit_public_fns(gc_ctx *c, gc_type *t)
{
    const char *x = t->cname;
    OUT(c, "%s\n{\n    memset(v, 0, sizeof *v);\n", gc_public_sig(c, t, 0));
    if (t->kind == GC_RECORD)
        for (size_t i = 0; i < t->node->n_fields; i++)
            init_default(c, &t->node->fields[i],
                         gc_fmt(c, "v->%s", gc_ident(c, t->node->fields[i].name)));
    OUT(c, "}\n\n");
    OUT(c,
        "%s\n{\n    size_t start = b->len;\n    %s_write(b, v);\n"
        "    return canon_buf_finish(b, start, err);\n}\n\n",
        gc_public_sig(c, t, 1), x);
    OUT(c,
        "%s\n{\n    size_t start = b->len;\n    canon_write_frame(b, schema_id);\n"
        "    %s_write(b, v);\n    return canon_buf_finish(b, start, err);\n}\n\n",
        gc_public_sig(c, t, 2), x);
    OUT(c,
        "%s\n{\n    canon_reader r;\n    canon_reader_init(&r, data, len, a);\n"
        "    return canon_read_finish(&r, %s_read(&r, out), err);\n}\n\n",
        gc_public_sig(c, t, 3), x);
    OUT(c,
        "%s\n{\n    canon_reader r;\n    canon_reader_init(&r, data, len, a);\n"
        "    if (canon_read_frame(&r, schema_id) != 0)\n"
        "        return canon_read_finish(&r, canon_read_fail(&r, \"Confluent header\"), err);\n"
        "    return canon_read_finish(&r, %s_read(&r, out), err);\n}\n\n",
        gc_public_sig(c, t, 4), x);
    OUT(c,
        "%s\n{\n    canon_reader r;\n    canon_reader_init(&r, data, len, a);\n"
        "    r.view = true;\n"
        "    return canon_read_finish(&r, %s_read(&r, out), err);\n}\n\n",
        gc_public_sig(c, t, 5), x);
    OUT(c,
        "%s\n{\n    canon_reader r;\n    canon_reader_init(&r, data, len, a);\n"
        "    r.view = true;\n"
        "    if (canon_read_frame(&r, schema_id) != 0)\n"
        "        return canon_read_finish(&r, canon_read_fail(&r, \"Confluent header\"), err);\n"
        "    return canon_read_finish(&r, %s_read(&r, out), err);\n}\n\n",
        gc_public_sig(c, t, 6), x);
}
