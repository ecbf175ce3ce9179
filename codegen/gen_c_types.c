/* gen_c_types.c - the header of a generated C unit: type definitions and prototypes.
 *
 * C needs a struct defined before another struct holds it by value, while pointers
 * only need a forward declaration. The header therefore declares every struct first
 * (typedef struct x x_t), then the enums, then defines the structs depth-first along
 * their by-value members; recursion in a schema always passes through a pointer (array
 * items, map entries, a record inside a union), so the order always exists for a schema
 * that has finite values.
 */
#include <string.h>

#include "gen_c_internal.h"

/* Writes text as the body of a C comment on one line, defusing comment terminators. */
static void comment(gc_ctx *c, const char *indent, const char *text)
{
    if (!text || !*text)
        return;
    char *s = gc_strdup(c, text);
    for (char *p = s; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
        if (p[0] == '*' && p[1] == '/')
            p[1] = '|';
    }
    OUT(c, "%s/* %s */\n", indent, s);
}

static const char *decl(gc_ctx *c, const char *ctype, const char *name)
{
    size_t n = strlen(ctype);
    return gc_fmt(c, "%s%s%s", ctype, n && ctype[n - 1] == '*' ? "" : " ", name);
}

static const char *logical_note(gc_ctx *c, const reg_node *n)
{
    if (n->logical == REG_LT_NONE)
        return "";
    if (n->logical == REG_LT_DECIMAL)
        return gc_fmt(c, " /* decimal(%d, %d): unscaled two's-complement, big-endian */",
                      n->precision, n->scale);
    if (n->logical == REG_LT_DURATION)
        return " /* duration: months, days, milliseconds (3 x uint32 little-endian) */";
    return gc_fmt(c, " /* %s */", reg_logical_name(n->logical));
}

static void define(gc_ctx *c, gc_type *t, int unit);

static void need(gc_ctx *c, const reg_node *n, int unit)
{
    gc_type *d = gc_find(c, n);
    if (d && d->unit == unit && gc_is_struct_kind(d->kind))
        define(c, d, unit);
}

static void define(gc_ctx *c, gc_type *t, int unit)
{
    const reg_node *n = t->node;
    if (t->state == 2 || c->err)
        return;
    if (t->state == 1) {
        c->err = cg_err_new(CG_EINVALID_SCHEMA,
                            "type '%s' contains itself without an array, map or union in "
                            "between: it has no finite value, and no C struct can hold it",
                            t->path);
        return;
    }
    t->state = 1;
    switch (t->kind) {
    case GC_RECORD:
        for (size_t i = 0; i < n->n_fields; i++)
            need(c, n->fields[i].type, unit);
        break;
    case GC_WRAP:
        need(c, n, unit);
        break;
    case GC_OPT:
        need(c, n->branches[1 - t->null_index], unit);
        break;
    case GC_UNION:
        for (size_t i = 0; i < n->n_branches; i++)
            if (n->branches[i]->type != REG_RECORD)
                need(c, n->branches[i], unit);
        break;
    case GC_MAP:
        need(c, n->items, unit);
        break;
    default:
        break;
    }
    if (c->err)
        return;

    const char *x = t->cname;
    switch (t->kind) {
    case GC_RECORD:
        comment(c, "", n->doc ? gc_fmt(c, "%s: %s", n->fullname, n->doc) : n->fullname);
        OUT(c, "struct %s {\n", x);
        for (size_t i = 0; i < n->n_fields; i++) {
            const reg_field *f = &n->fields[i];
            comment(c, "    ", f->doc);
            OUT(c, "    %s;%s\n", decl(c, gc_ctype(c, f->type), gc_ident(c, f->name)),
                logical_note(c, f->type));
        }
        if (n->n_fields == 0)
            OUT(c, "    canon_null empty_; /* a record without fields */\n");
        OUT(c, "};\n\n");
        break;
    case GC_WRAP:
        OUT(c, "/* The root type: %s. Its Avro encoding and JSON are those of the value. */\n",
            reg_type_name(n->type));
        OUT(c, "struct %s {\n    %s;%s\n};\n\n", x, decl(c, gc_ctype(c, n), "value"),
            logical_note(c, n));
        break;
    case GC_FIXED:
        comment(c, "", n->doc ? gc_fmt(c, "%s: %s", n->fullname, n->doc) : n->fullname);
        OUT(c, "struct %s {\n    uint8_t bytes[%zu];%s\n};\n\n", x, n->size ? n->size : 1,
            n->size ? logical_note(c, n) : " /* fixed of size 0: the byte is not encoded */");
        break;
    case GC_ARRAY:
        OUT(c, "/* %s: array */\nstruct %s {\n    %s;\n    size_t len;\n};\n\n", t->path, x,
            decl(c, gc_fmt(c, "%s *", gc_ctype(c, n->items)), "items"));
        break;
    case GC_MAP:
        OUT(c,
            "/* %s: map (entries in encoding order) */\nstruct %s_entry {\n"
            "    canon_str key;\n    %s;\n};\n\n",
            t->path, x, decl(c, gc_ctype(c, n->items), "value"));
        OUT(c, "struct %s {\n    %s_entry_t *entries;\n    size_t len;\n};\n\n", x, x);
        break;
    case GC_OPT:
        OUT(c,
            "/* %s: optional (null when has is false) */\nstruct %s {\n    bool has;\n"
            "    %s;%s\n};\n\n",
            t->path, x, decl(c, gc_ctype(c, n->branches[1 - t->null_index]), "value"),
            logical_note(c, n->branches[1 - t->null_index]));
        break;
    case GC_UNION: {
        OUT(c,
            "/* %s: union; which says the branch, the member of that name holds it */\n"
            "struct %s {\n    %s_branch which;\n",
            t->path, x, x);
        int any = 0;
        for (size_t i = 0; i < n->n_branches; i++)
            any |= t->members[i] != NULL;
        if (any) {
            OUT(c, "    union {\n");
            for (size_t i = 0; i < n->n_branches; i++)
                if (t->members[i])
                    OUT(c, "        %s;%s\n",
                        decl(c, gc_ctype(c, n->branches[i]),
                             n->branches[i]->type == REG_RECORD ? gc_fmt(c, "*%s", t->members[i])
                                                                : t->members[i]),
                        logical_note(c, n->branches[i]));
            OUT(c, "    };\n");
        }
        OUT(c, "};\n\n");
        break;
    }
    default:
        break;
    }
    t->state = 2;
}

static void emit_enum(gc_ctx *c, gc_type *t)
{
    const reg_node *n = t->node;
    const char *up = gc_upper(c, t->cname);
    comment(c, "", n->doc ? gc_fmt(c, "%s: %s", n->fullname, n->doc) : n->fullname);
    OUT(c, "typedef enum %s {\n", t->cname);
    for (size_t i = 0; i < n->n_symbols; i++)
        OUT(c, "    %s_%s = %zu,\n", up, n->symbols[i], i);
    OUT(c, "} %s_t;\n#define %s_SYMBOL_COUNT %zu\n\n", t->cname, up, n->n_symbols);
}

static void emit_branch_enum(gc_ctx *c, gc_type *t)
{
    OUT(c, "typedef enum %s_branch {\n", t->cname);
    for (size_t i = 0; i < t->node->n_branches; i++)
        OUT(c, "    %s = %zu, /* %s */\n", t->tags[i], i, gc_branch_name(c, t->node->branches[i]));
    OUT(c, "} %s_branch;\n\n", t->cname);
}

/* Enum and fixed read/write are tiny: inline, so other units' encoders inline them. */
static void emit_inline_fns(gc_ctx *c, gc_type *t)
{
    const char *x = t->cname;
    if (t->kind == GC_ENUM) {
        size_t n = t->node->n_symbols;
        OUT(c,
            "static inline %s\n{\n    if ((unsigned)v >= %zuu) {\n"
            "        canon_buf_fail(b, CANON_EENCODE, \"%s\", \"enum value out of range\");\n"
            "        return;\n    }\n    canon_write_int(b, (int32_t)v);\n}\n\n",
            gc_sig(c, t, GC_OP_WRITE), n, t->path);
        OUT(c,
            "static inline %s\n{\n    size_t i;\n"
            "    if (canon_read_index(r, %zu, &i, \"enum symbol index out of range\") != 0)\n"
            "        return -1;\n    *v = (%s_t)i;\n    return 0;\n}\n\n",
            gc_sig(c, t, GC_OP_READ), n, x);
        OUT(c, "extern const char *const %s_symbols[%zu];\n", x, n ? n : 1);
        OUT(c,
            "/* The symbol of v, or NULL when v is out of range. */\n"
            "const char *%s_symbol(%s_t v);\n",
            x, x);
    } else {
        size_t n = t->node->size;
        OUT(c, "static inline %s\n{\n    canon_write_raw(b, v->bytes, %zu);\n}\n\n",
            gc_sig(c, t, GC_OP_WRITE), n);
        OUT(c, "static inline %s\n{\n    return canon_read_raw(r, v->bytes, %zu);\n}\n\n",
            gc_sig(c, t, GC_OP_READ), n);
    }
    OUT(c, "%s;\n%s;\n\n", gc_sig(c, t, GC_OP_TO_JSON), gc_sig(c, t, GC_OP_FROM_JSON));
}

/* The record entry points; gen_c_binary.c defines them with the same texts. */
const char *gc_public_sig(gc_ctx *c, const gc_type *t, int which)
{
    const char *x = t->cname;
    switch (which) {
    case 0:
        return gc_fmt(c, "void %s_init(%s_t *v)", x, x);
    case 1:
        return gc_wrap(
            c, gc_fmt(c, "int %s_encode(const %s_t *v, canon_buf *b, canon_error *err)", x, x));
    case 2:
        return gc_wrap(c, gc_fmt(c,
                                 "int %s_encode_framed(const %s_t *v, int32_t schema_id, canon_buf "
                                 "*b, canon_error *err)",
                                 x, x));
    case 3:
        return gc_wrap(c, gc_fmt(c,
                                 "int %s_decode(%s_t *out, const void *data, size_t len, "
                                 "canon_arena *a, canon_error *err)",
                                 x, x));
    case 4:
        return gc_wrap(c, gc_fmt(c,
                                 "int %s_decode_framed(%s_t *out, int32_t *schema_id, const void "
                                 "*data, size_t len, canon_arena *a, canon_error *err)",
                                 x, x));
    case 5:
        return gc_wrap(c, gc_fmt(c,
                                 "int %s_decode_view(%s_t *out, const void *data, size_t len, "
                                 "canon_arena *a, canon_error *err)",
                                 x, x));
    default:
        return gc_wrap(c, gc_fmt(c,
                                 "int %s_decode_framed_view(%s_t *out, int32_t *schema_id, const "
                                 "void *data, size_t len, canon_arena *a, canon_error *err)",
                                 x, x));
    }
}

static void emit_record_protos(gc_ctx *c, gc_type *t)
{
    OUT(c, "/* %s */\n", t->kind == GC_WRAP ? t->path : t->node->fullname);
    for (int i = 0; i < GC_N_PUBLIC_SIGS; i++)
        OUT(c, "%s;\n", gc_public_sig(c, t, i));
    for (int op = GC_OP_WRITE; op <= GC_OP_FROM_JSON; op++)
        OUT(c, "%s;\n", gc_sig(c, t, (enum gc_op)op));
    OUT(c, "\n");
}

void gc_emit_header(gc_ctx *c, int unit)
{
    gc_unit *u = &c->units[unit];
    const char *guard = gc_fmt(c, "%s_H", gc_upper(c, u->base));
    c->file = gc_fmt(c, "%s.h", u->base);
    OUT(c, "/* %s.h - generated by canon gen from %s; do not edit.\n *\n", u->base, c->origin);
    OUT(c,
        " * C binding of %s: plain structs, Avro binary encode/decode, Confluent\n"
        " * framing and Avro JSON. Memory: see canon_rt.h and docs/bindings-c.md; in short,\n"
        " * decoded values live in the canon_arena passed to decode, and values you build\n"
        " * point wherever you like (the binding never frees them).\n */\n",
        u->what);
    OUT(c, "#ifndef %s\n#define %s\n\n#include \"canon_rt.h\"\n", guard, guard);
    if (unit >= 2)
        OUT(c, "#include \"%s.h\"\n#include \"%s.h\"\n", c->units[0].base, c->units[1].base);
    OUT(c, "\n");
    if (u->schema_text)
        OUT(c,
            "/* The schema this binding writes (JSON text). */\nextern const char %s_schema[];\n\n",
            u->base);

    int any = 0;
    for (size_t i = 0; i < c->n_types; i++) {
        gc_type *t = c->types[i];
        if (t->unit != unit || !gc_is_struct_kind(t->kind))
            continue;
        OUT(c, "typedef struct %s %s_t;\n", t->cname, t->cname);
        if (t->kind == GC_MAP)
            OUT(c, "typedef struct %s_entry %s_entry_t;\n", t->cname, t->cname);
        any = 1;
    }
    if (any)
        OUT(c, "\n");
    for (size_t i = 0; i < c->n_types; i++) {
        gc_type *t = c->types[i];
        if (t->unit == unit && t->kind == GC_ENUM)
            emit_enum(c, t);
        if (t->unit == unit && t->kind == GC_UNION)
            emit_branch_enum(c, t);
    }
    for (size_t i = 0; i < c->n_types && !c->err; i++) {
        gc_type *t = c->types[i];
        if (t->unit == unit && gc_is_struct_kind(t->kind))
            define(c, t, unit);
    }
    if (c->err)
        return;

    OUT(c, "/* Functions. For each record R (and the root wrapper):\n"
           " *   R_init(v)                  zero it, then set the schema's scalar defaults\n"
           " *   R_encode(v, buf, err)      append the Avro binary encoding to buf\n"
           " *   R_encode_framed(v, id, buf, err)  the same behind the Confluent header\n"
           " *   R_decode(out, data, len, arena, err)  decode exactly len untrusted bytes;\n"
           " *                              strings, arrays, maps and records go into arena\n"
           " *   R_decode_framed(out, &id, data, len, arena, err)  check and strip the header\n"
           " *   R_decode_view(...), R_decode_framed_view(...)  the same, but strings and bytes\n"
           " *                              point into data (not NUL-terminated): faster, and\n"
           " *                              data must outlive the decoded value\n"
           " *   R_to_json(v, err)          Avro JSON (new reference), NULL on error\n"
           " *   R_from_json(j, out, arena, err)  Avro JSON (or plain values in unions)\n"
           " *   R_write(buf, v), R_read(reader, out)  building blocks for other encoders\n"
           " * int results: 0 on success, -1 with err (may be NULL) filled. */\n\n");
    for (size_t i = 0; i < c->n_types; i++) {
        gc_type *t = c->types[i];
        if (t->unit != unit)
            continue;
        if (t->kind == GC_ENUM || t->kind == GC_FIXED)
            emit_inline_fns(c, t);
    }
    for (size_t i = 0; i < c->n_types; i++) {
        gc_type *t = c->types[i];
        if (t->unit == unit && (t->kind == GC_RECORD || t->kind == GC_WRAP))
            emit_record_protos(c, t);
    }
    if (unit < 2) /* the update and envelope headers are closed by gen_c_entity.c */
        OUT(c, "#endif\n");
}
