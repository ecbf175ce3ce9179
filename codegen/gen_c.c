/* gen_c.c - the C binding generator: entry point, naming and the type table.
 *
 * gen_c() turns a parsed schema into a C binding: plain structs, Avro binary encode and
 * decode written out for the schema, Confluent framing and Avro JSON conversion, plus,
 * for a canonical entity, the update builder and the Kafka helpers. This file decides
 * what each type is called in C and which file defines it; gen_c_types.c, gen_c_binary.c,
 * gen_c_json.c and gen_c_entity.c write the code. docs/bindings-c.md describes the
 * output for its users.
 *
 * Naming (decided with the other generators, /work/notes/codegen.md): the prefix is the
 * root type's name in snake_case (org.canongate.canon.Person -> person); named types are
 * <prefix>_<snake name>_t unless the snake name already starts with the prefix
 * (PersonUpdate -> person_update_t); types of namespace canongate are canongate_*_t.
 * Unnamed arrays, maps and unions are named after the field they sit in
 * (Person.tags -> person_tags_t). Struct members keep the Avro field names; those that
 * are C keywords get a trailing '_'. Name clashes get a numeric suffix.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_c_internal.h"

/* ---- strings owned by the context --------------------------------------------------- */

static void *keep(gc_ctx *c, void *p)
{
    if (!p) {
        c->oom = 1;
        return NULL;
    }
    if (c->n_allocs == c->cap_allocs) {
        size_t cap = c->cap_allocs ? c->cap_allocs * 2 : 64;
        void **n = realloc(c->allocs, cap * sizeof *n);
        if (!n) {
            free(p);
            c->oom = 1;
            return NULL;
        }
        c->allocs = n;
        c->cap_allocs = cap;
    }
    c->allocs[c->n_allocs++] = p;
    return p;
}

char *gc_strdup(gc_ctx *c, const char *s)
{
    char *d = keep(c, strdup(s ? s : ""));
    return d ? d : "";
}

char *gc_fmt(gc_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    s = keep(c, s);
    return s ? s : "";
}

char *gc_snake(gc_ctx *c, const char *name)
{
    size_t n = strlen(name);
    char *out = keep(c, malloc(n * 2 + 1));
    if (!out)
        return "";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (isupper(ch) && i > 0 && name[i - 1] != '_') {
            unsigned char prev = (unsigned char)name[i - 1];
            int next_lower = i + 1 < n && islower((unsigned char)name[i + 1]);
            if (islower(prev) || isdigit(prev) || (isupper(prev) && next_lower))
                out[k++] = '_';
        }
        out[k++] = (char)tolower(ch);
    }
    out[k] = 0;
    return out;
}

char *gc_upper(gc_ctx *c, const char *name)
{
    char *s = gc_strdup(c, name);
    for (char *p = s; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return s;
}

/* C11 keywords, and names the standard headers the binding includes define as macros
 * or types, which a member name must not shadow. */
static const char *const c_reserved[] = {"auto",
                                         "break",
                                         "case",
                                         "char",
                                         "const",
                                         "continue",
                                         "default",
                                         "do",
                                         "double",
                                         "else",
                                         "enum",
                                         "extern",
                                         "float",
                                         "for",
                                         "goto",
                                         "if",
                                         "inline",
                                         "int",
                                         "long",
                                         "register",
                                         "restrict",
                                         "return",
                                         "short",
                                         "signed",
                                         "sizeof",
                                         "static",
                                         "struct",
                                         "switch",
                                         "typedef",
                                         "union",
                                         "unsigned",
                                         "void",
                                         "volatile",
                                         "while",
                                         "_Alignas",
                                         "_Alignof",
                                         "_Atomic",
                                         "_Bool",
                                         "_Complex",
                                         "_Generic",
                                         "_Imaginary",
                                         "_Noreturn",
                                         "_Static_assert",
                                         "_Thread_local",
                                         "bool",
                                         "true",
                                         "false",
                                         "NULL",
                                         "errno",
                                         "assert",
                                         "offsetof",
                                         "stdin",
                                         "stdout",
                                         "stderr",
                                         "EOF",
                                         "alignas",
                                         "alignof",
                                         "noreturn",
                                         "static_assert",
                                         "thread_local",
                                         NULL};

char *gc_ident(gc_ctx *c, const char *name)
{
    for (size_t i = 0; c_reserved[i]; i++)
        if (!strcmp(name, c_reserved[i]))
            return gc_fmt(c, "%s_", name);
    return gc_strdup(c, name);
}

char *gc_c_string(gc_ctx *c, const char *s, size_t len)
{
    char *out = keep(c, malloc(len * 4 + 3));
    if (!out)
        return "\"\"";
    size_t k = 0;
    out[k++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[k++] = '\\';
            out[k++] = (char)ch;
        } else if (ch == '\n') {
            out[k++] = '\\';
            out[k++] = 'n';
        } else if (ch < 0x20 || ch >= 0x7f || ch == '?') {
            /* octal: unlike \x it cannot swallow a following hex digit; '?' avoids trigraphs */
            k += (size_t)sprintf(out + k, "\\%03o", ch);
        } else {
            out[k++] = (char)ch;
        }
    }
    out[k++] = '"';
    out[k] = 0;
    return out;
}

/* ---- the type table ------------------------------------------------------------------ */

static int name_taken(gc_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_names; i++)
        if (!strcmp(c->names[i], name))
            return 1;
    return 0;
}

static void take_name(gc_ctx *c, char *name)
{
    if (c->n_names == c->cap_names) {
        size_t cap = c->cap_names ? c->cap_names * 2 : 32;
        char **n = realloc(c->names, cap * sizeof *n);
        if (!n) {
            c->oom = 1;
            return;
        }
        c->names = n;
        c->cap_names = cap;
    }
    c->names[c->n_names++] = name;
}

/* base if free; else base_<alt> (alt names the kind: a field "status" of enum type
 * Status gives person_status_t to the enum and person_status_opt_t to the optional);
 * else base_2, base_3, ... Also reserves cname_entry (a map's entry type). */
static char *unique_name(gc_ctx *c, const char *base, const char *alt)
{
    char *name = gc_strdup(c, base);
    if ((name_taken(c, name) || name_taken(c, gc_fmt(c, "%s_entry", name))) && alt)
        name = gc_fmt(c, "%s_%s", base, alt);
    for (int i = 2; name_taken(c, name) || name_taken(c, gc_fmt(c, "%s_entry", name)); i++)
        name = gc_fmt(c, "%s_%d", base, i);
    take_name(c, name);
    take_name(c, gc_fmt(c, "%s_entry", name));
    return name;
}

gc_type *gc_find(gc_ctx *c, const reg_node *n)
{
    int named = n->type == REG_RECORD || n->type == REG_ENUM || n->type == REG_FIXED;
    for (size_t i = 0; i < c->n_types; i++) {
        gc_type *t = c->types[i];
        if (t->kind == GC_WRAP)
            continue;
        if (named ? (t->node->fullname && !strcmp(t->node->fullname, n->fullname)) : t->node == n)
            return t;
    }
    return NULL;
}

static gc_type *add_type(gc_ctx *c, gc_kind kind, const reg_node *n, char *cname, char *path)
{
    gc_type *t = keep(c, calloc(1, sizeof *t));
    if (!t)
        return NULL;
    if (c->n_types == c->cap_types) {
        size_t cap = c->cap_types ? c->cap_types * 2 : 32;
        gc_type **nt = realloc(c->types, cap * sizeof *nt);
        if (!nt) {
            c->oom = 1;
            return NULL;
        }
        c->types = nt;
        c->cap_types = cap;
    }
    c->types[c->n_types++] = t;
    t->kind = kind;
    t->node = n;
    t->cname = cname;
    t->path = path;
    t->unit = c->unit;
    return t;
}

static int is_named(const reg_node *n)
{
    return n->type == REG_RECORD || n->type == REG_ENUM || n->type == REG_FIXED;
}

static char *named_cname(gc_ctx *c, const reg_node *n)
{
    const char *pfx =
        n->namespace_ && !strcmp(n->namespace_, "canongate") ? "canongate" : c->prefix;
    char *s = gc_snake(c, n->name);
    size_t pl = strlen(pfx);
    if (strcmp(s, pfx) != 0 && !(strncmp(s, pfx, pl) == 0 && s[pl] == '_'))
        s = gc_fmt(c, "%s_%s", pfx, s);
    return unique_name(c, s, NULL);
}

/* The member name of a union branch ("string", "int_", "postal_address"). */
static char *branch_member(gc_ctx *c, const reg_node *n)
{
    if (is_named(n))
        return gc_ident(c, gc_snake(c, n->name));
    return gc_ident(c, reg_type_name(n->type));
}

static cg_err *collect(gc_ctx *c, const reg_node *n, const char *ctxname, const char *ctxpath)
{
    gc_type *t;
    cg_err *err;
    switch (n->type) {
    case REG_RECORD:
    case REG_ENUM:
    case REG_FIXED:
        t = gc_find(c, n);
        if (t && t->walked)
            return NULL;
        if (!t)
            t = add_type(c,
                         n->type == REG_RECORD ? GC_RECORD
                         : n->type == REG_ENUM ? GC_ENUM
                                               : GC_FIXED,
                         n, named_cname(c, n), gc_strdup(c, n->name));
        if (!t)
            return cg_err_new(CG_ENOMEM, "out of memory");
        t->walked = 1;
        for (size_t i = 0; i < n->n_fields; i++) {
            const reg_field *f = &n->fields[i];
            err = collect(c, f->type, gc_fmt(c, "%s_%s", t->cname, gc_snake(c, f->name)),
                          gc_fmt(c, "%s.%s", n->name, f->name));
            if (err)
                return err;
        }
        return NULL;
    case REG_ARRAY:
    case REG_MAP:
        if (!add_type(c, n->type == REG_ARRAY ? GC_ARRAY : GC_MAP, n,
                      unique_name(c, ctxname, n->type == REG_ARRAY ? "array" : "map"),
                      gc_strdup(c, ctxpath)))
            return cg_err_new(CG_ENOMEM, "out of memory");
        return collect(c, n->items,
                       gc_fmt(c, "%s_%s", ctxname, n->type == REG_ARRAY ? "item" : "value"),
                       gc_fmt(c, "%s%s", ctxpath, n->type == REG_ARRAY ? "[]" : "{}"));
    case REG_UNION: {
        int null_index = -1;
        if (gc_prim_opt(n, NULL))
            return NULL; /* canon_opt_<type> of the runtime */
        for (size_t i = 0; i < n->n_branches; i++)
            if (n->branches[i]->type == REG_NULL)
                null_index = (int)i;
        if (n->n_branches == 2 && null_index >= 0) {
            const reg_node *inner = n->branches[1 - null_index];
            t = add_type(c, inner->type == REG_RECORD ? GC_OPTREC : GC_OPT, n,
                         unique_name(c, ctxname, "opt"), gc_strdup(c, ctxpath));
            if (!t)
                return cg_err_new(CG_ENOMEM, "out of memory");
            t->null_index = null_index;
            return collect(c, inner, gc_fmt(c, "%s_value", ctxname), ctxpath);
        }
        t = add_type(c, GC_UNION, n, unique_name(c, ctxname, "union"), gc_strdup(c, ctxpath));
        if (!t)
            return cg_err_new(CG_ENOMEM, "out of memory");
        t->members = keep(c, calloc(n->n_branches + 1, sizeof(char *)));
        t->tags = keep(c, calloc(n->n_branches + 1, sizeof(char *)));
        if (!t->members || !t->tags)
            return cg_err_new(CG_ENOMEM, "out of memory");
        for (size_t i = 0; i < n->n_branches; i++) {
            const reg_node *b = n->branches[i];
            char *m = branch_member(c, b);
            /* two named branches may share a short name (a.X, b.X), and "which" is taken */
            for (size_t k = 0; k < i; k++)
                if (t->members[k] && !strcmp(t->members[k], m))
                    m = gc_fmt(c, "%s_%zu", m, i);
            if (!strcmp(m, "which"))
                m = gc_strdup(c, "which_");
            size_t ml = strlen(m);
            t->tags[i] = gc_fmt(c, "%s_%.*s", gc_upper(c, t->cname),
                                (int)(m[ml - 1] == '_' ? ml - 1 : ml), gc_upper(c, m));
            if (b->type == REG_NULL)
                continue;
            t->members[i] = m;
            err = collect(c, b, gc_fmt(c, "%s_%s", t->cname, m),
                          gc_fmt(c, "%s<%s>", ctxpath, gc_branch_name(c, b)));
            if (err)
                return err;
        }
        return NULL;
    }
    default:
        return NULL;
    }
}

/* 1 if target is reachable from n; seen holds the records already walked. */
static int reaches(const reg_node *n, const reg_node *target, const reg_node **seen, size_t *n_seen,
                   size_t cap)
{
    if (n == target)
        return 1;
    switch (n->type) {
    case REG_RECORD:
        for (size_t k = 0; k < *n_seen; k++)
            if (seen[k] == n)
                return 0;
        if (*n_seen == cap)
            return 0;
        seen[(*n_seen)++] = n;
        for (size_t i = 0; i < n->n_fields; i++)
            if (reaches(n->fields[i].type, target, seen, n_seen, cap))
                return 1;
        return 0;
    case REG_ARRAY:
    case REG_MAP:
        return reaches(n->items, target, seen, n_seen, cap);
    case REG_UNION:
        for (size_t i = 0; i < n->n_branches; i++)
            if (reaches(n->branches[i], target, seen, n_seen, cap))
                return 1;
        return 0;
    default:
        return 0;
    }
}

static int is_recursive(const reg_node *rec)
{
    const reg_node *seen[256];
    size_t n_seen = 0;
    for (size_t i = 0; i < rec->n_fields; i++)
        if (reaches(rec->fields[i].type, rec, seen, &n_seen, 256))
            return 1;
    /* a graph too large to walk is treated as recursive: the check is only a cost */
    return n_seen == 256;
}

/* Gives the named types below n their names first, so that they get the plain names
 * and the arrays, maps and unions named after fields yield to them. */
static void name_named(gc_ctx *c, const reg_node *n)
{
    switch (n->type) {
    case REG_RECORD:
    case REG_ENUM:
    case REG_FIXED:
        if (gc_find(c, n))
            return;
        if (!add_type(c,
                      n->type == REG_RECORD ? GC_RECORD
                      : n->type == REG_ENUM ? GC_ENUM
                                            : GC_FIXED,
                      n, named_cname(c, n), gc_strdup(c, n->name)))
            return;
        for (size_t i = 0; i < n->n_fields; i++)
            name_named(c, n->fields[i].type);
        return;
    case REG_ARRAY:
    case REG_MAP:
        name_named(c, n->items);
        return;
    case REG_UNION:
        for (size_t i = 0; i < n->n_branches; i++)
            name_named(c, n->branches[i]);
        return;
    default:
        return;
    }
}

cg_err *gc_collect_unit(gc_ctx *c, int unit, const reg_node *root)
{
    c->unit = unit;
    size_t first = c->n_types;
    name_named(c, root);
    cg_err *err = collect(c, root, c->prefix, root->name ? root->name : "value");
    if (err)
        return err;
    for (size_t i = first; i < c->n_types; i++)
        if (c->types[i]->kind == GC_RECORD)
            c->types[i]->recursive = is_recursive(c->types[i]->node);
    return c->oom ? cg_err_new(CG_ENOMEM, "out of memory") : NULL;
}

const char *gc_ctype(gc_ctx *c, const reg_node *n)
{
    switch (n->type) {
    case REG_NULL:
        return "canon_null";
    case REG_BOOLEAN:
        return "bool";
    case REG_INT:
        return "int32_t";
    case REG_LONG:
        return "int64_t";
    case REG_FLOAT:
        return "float";
    case REG_DOUBLE:
        return "double";
    case REG_BYTES:
        return "canon_bytes";
    case REG_STRING:
        return "canon_str";
    default:
        break;
    }
    const reg_node *po = gc_prim_opt(n, NULL);
    if (po)
        return gc_fmt(c, "canon_opt_%s", gc_prim_name(po->type));
    gc_type *t = gc_find(c, n);
    if (!t)
        return "void";
    if (t->kind == GC_OPTREC) {
        const reg_node *inner = n->branches[1 - t->null_index];
        return gc_fmt(c, "%s_t *", gc_find(c, inner)->cname);
    }
    return gc_fmt(c, "%s_t", t->cname);
}

const char *gc_branch_name(gc_ctx *c, const reg_node *n)
{
    (void)c;
    if (is_named(n))
        return n->fullname;
    return reg_type_name(n->type);
}

const char *gc_prim_name(reg_type t)
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

const reg_node *gc_prim_opt(const reg_node *n, int *null_index)
{
    if (n->type != REG_UNION || n->n_branches != 2)
        return NULL;
    int ni = n->branches[0]->type == REG_NULL ? 0 : n->branches[1]->type == REG_NULL ? 1 : -1;
    if (ni < 0 || !gc_prim_name(n->branches[1 - ni]->type))
        return NULL;
    if (null_index)
        *null_index = ni;
    return n->branches[1 - ni];
}

int gc_is_struct_kind(gc_kind k)
{
    return k != GC_ENUM && k != GC_OPTREC;
}

/* Breaks a prototype longer than a line after its last comma that fits. */
const char *gc_wrap(gc_ctx *c, const char *sig)
{
    size_t n = strlen(sig);
    if (n <= 96)
        return sig;
    for (size_t i = 92; i > 0; i--)
        if (sig[i] == ',' && sig[i + 1] == ' ')
            return gc_fmt(c, "%.*s,\n    %s", (int)i, sig, sig + i + 2);
    return sig;
}

static const char *sig_of(gc_ctx *c, const gc_type *t, enum gc_op op);

const char *gc_sig(gc_ctx *c, const gc_type *t, enum gc_op op)
{
    return gc_wrap(c, sig_of(c, t, op));
}

static const char *sig_of(gc_ctx *c, const gc_type *t, enum gc_op op)
{
    const char *x = t->cname;
    const char *vt = gc_fmt(c, "%s_t", x);
    if (t->kind == GC_OPTREC)
        vt = gc_fmt(c, "%s_t", gc_find(c, t->node->branches[1 - t->null_index])->cname);
    switch (op) {
    case GC_OP_WRITE:
        if (t->kind == GC_ENUM)
            return gc_fmt(c, "void %s_write(canon_buf *b, %s v)", x, vt);
        return gc_fmt(c, "void %s_write(canon_buf *b, const %s *v)", x, vt);
    case GC_OP_READ:
        if (t->kind == GC_OPTREC)
            return gc_fmt(c, "int %s_read(canon_reader *r, %s **v)", x, vt);
        return gc_fmt(c, "int %s_read(canon_reader *r, %s *v)", x, vt);
    case GC_OP_TO_JSON:
        if (t->kind == GC_ENUM)
            return gc_fmt(c, "json_t *%s_to_json(%s v)", x, vt);
        if (t->kind == GC_FIXED)
            return gc_fmt(c, "json_t *%s_to_json(const %s *v)", x, vt);
        return gc_fmt(c, "json_t *%s_to_json(const %s *v, canon_error *err)", x, vt);
    case GC_OP_FROM_JSON:
        if (t->kind == GC_ENUM || t->kind == GC_FIXED)
            return gc_fmt(c, "int %s_from_json(const json_t *j, %s *v)", x, vt);
        if (t->kind == GC_OPTREC)
            return gc_fmt(
                c, "int %s_from_json(const json_t *j, %s **v, canon_arena *a, canon_error *err)", x,
                vt);
        return gc_fmt(
            c, "int %s_from_json(const json_t *j, %s *v, canon_arena *a, canon_error *err)", x, vt);
    }
    return "";
}

/* ---- the source file of a unit ------------------------------------------------------- */

static int is_public(const gc_type *t)
{
    return t->kind == GC_RECORD || t->kind == GC_ENUM || t->kind == GC_FIXED || t->kind == GC_WRAP;
}

void gc_emit_source(gc_ctx *c, int unit)
{
    gc_unit *u = &c->units[unit];
    c->file = gc_fmt(c, "%s.c", u->base);
    OUT(c,
        "/* %s.c - generated by canon gen from %s; do not edit.\n *\n"
        " * %s: Avro binary and Avro JSON, written out for the schema. See %s.h. */\n",
        u->base, c->origin, u->what, u->base);
    OUT(c, "#include <stdlib.h>\n#include <string.h>\n\n#include \"%s.h\"\n\n", u->base);
    if (u->schema_text) {
        OUT(c, "/* The writer schema this binding encodes with. */\nconst char %s_schema[] =\n",
            u->base);
        /* split the literal into lines so the file stays readable */
        const char *s = u->schema_text;
        size_t len = strlen(s);
        for (size_t i = 0; i < len || i == 0; i += 72)
            OUT(c, "    %s%s\n", gc_c_string(c, s + i, len - i < 72 ? len - i : 72),
                i + 72 >= len ? ";" : "");
        OUT(c, "\n");
    }
    int any = 0;
    for (size_t i = 0; i < c->n_types; i++) {
        gc_type *t = c->types[i];
        if (t->unit != unit || is_public(t))
            continue;
        if (!any)
            OUT(c, "/* Arrays, maps and unions of this schema (named after their field). */\n");
        any = 1;
        for (int op = GC_OP_WRITE; op <= GC_OP_FROM_JSON; op++)
            OUT(c, "static %s;\n", gc_sig(c, t, (enum gc_op)op));
    }
    if (any)
        OUT(c, "\n");
    OUT(c, "/* ---- Avro binary ---- */\n\n");
    for (size_t i = 0; i < c->n_types; i++) {
        gc_type *t = c->types[i];
        if (t->unit != unit || t->kind == GC_ENUM || t->kind == GC_FIXED)
            continue;
        gc_emit_write_fn(c, t);
        gc_emit_read_fn(c, t);
    }
    for (size_t i = 0; i < c->n_types; i++) {
        gc_type *t = c->types[i];
        if (t->unit == unit && (t->kind == GC_RECORD || t->kind == GC_WRAP))
            gc_emit_public_fns(c, t);
    }
    OUT(c, "/* ---- Avro JSON ---- */\n\n");
    for (size_t i = 0; i < c->n_types; i++) {
        gc_type *t = c->types[i];
        if (t->unit != unit)
            continue;
        gc_emit_to_json_fn(c, t);
        gc_emit_from_json_fn(c, t);
    }
}

/* ---- entry points ---------------------------------------------------------------------- */

/* The framework types of docs/wire.md, held in one record so that one parse yields all. */
static const char framework_schema[] =
    "{\"type\":\"record\",\"name\":\"Framework\",\"namespace\":\"canongate\",\"fields\":["
    "{\"name\":\"a\",\"type\":{\"type\":\"enum\",\"name\":\"UpdateOp\",\"symbols\":[\"UPSERT\","
    "\"DELETE\"]}},"
    "{\"name\":\"b\",\"type\":{\"type\":\"enum\",\"name\":\"ChangeOp\",\"symbols\":[\"CREATE\","
    "\"UPDATE\",\"DELETE\"]}},"
    "{\"name\":\"c\",\"type\":{\"type\":\"record\",\"name\":\"FieldVersion\",\"fields\":["
    "{\"name\":\"source\",\"type\":\"string\"},"
    "{\"name\":\"event_time\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"seq\",\"type\":\"long\"},"
    "{\"name\":\"partition\",\"type\":\"int\",\"default\":-1},"
    "{\"name\":\"offset\",\"type\":\"long\",\"default\":-1}]}},"
    "{\"name\":\"d\",\"type\":{\"type\":\"record\",\"name\":\"Cause\",\"fields\":["
    "{\"name\":\"topic\",\"type\":\"string\"},{\"name\":\"partition\",\"type\":\"int\"},"
    "{\"name\":\"offset\",\"type\":\"long\"}]}}]}";

static void ctx_free(gc_ctx *c)
{
    for (size_t i = 0; i < c->n_allocs; i++)
        free(c->allocs[i]);
    free(c->allocs);
    free(c->types);
    free(c->names);
}

cg_err *gc_generate(const reg_schema *s, const char *schema_text, const char *update_text,
                    const char *envelope_text, const gen_opts *o, gen_files *out)
{
    gc_ctx c;
    memset(&c, 0, sizeof c);
    c.out = out;
    c.o = o;
    c.origin = o && o->origin ? o->origin : "a schema";
    cg_err *err = NULL;
    reg_schema *fw = NULL, *upd = NULL, *env = NULL;
    const reg_node *root = reg_schema_root(s);
    int named = is_named(root);
    const char *root_name = o && o->root_name && *o->root_name ? o->root_name : "Root";

    if (!reg_name_valid(root_name)) {
        err = cg_err_new(CG_EINVAL, "root name '%s' is not a valid Avro name", root_name);
        goto done;
    }
    c.prefix = gc_snake(&c, named ? root->name : root_name);
    c.units[0].base = c.prefix;
    c.units[0].what = "the types of the schema";
    c.units[0].schema = s;
    c.units[0].schema_text = schema_text;
    c.n_units = 1;
    take_name(&c, gc_strdup(&c, "canongate")); /* the framework file's own prefix */
    if (named) {
        err = gc_collect_unit(&c, 0, root);
    } else {
        c.unit = 0;
        c.wrap =
            add_type(&c, GC_WRAP, root, unique_name(&c, c.prefix, NULL), gc_strdup(&c, root_name));
        if (c.wrap)
            name_named(&c, root);
        err = c.wrap ? collect(&c, root, gc_fmt(&c, "%s_value", c.prefix), root_name)
                     : cg_err_new(CG_ENOMEM, "out of memory");
    }
    if (err)
        goto done;

    if (update_text && envelope_text) {
        err = reg_schema_parse(framework_schema, strlen(framework_schema), NULL, 0, &fw);
        if (!err)
            err = reg_schema_parse(update_text, strlen(update_text), NULL, 0, &upd);
        if (!err)
            err = reg_schema_parse(envelope_text, strlen(envelope_text), NULL, 0, &env);
        if (err) {
            err = cg_err_wrap(err, "derived schemas of '%s': ", root->fullname);
            goto done;
        }
        c.units[1] = (gc_unit){gc_strdup(&c, "canongate"),
                               "the canongate framework types (docs/wire.md)", fw, NULL};
        c.units[2] = (gc_unit){gc_fmt(&c, "%s_update", c.prefix),
                               "the update schema (what domains write)", upd, update_text};
        c.units[3] =
            (gc_unit){gc_fmt(&c, "%s_envelope", c.prefix),
                      "the envelope schema (what the canon topic carries)", env, envelope_text};
        c.n_units = 4;
        const reg_node *fr = reg_schema_root(fw);
        c.unit = 1;
        for (size_t i = 0; i < fr->n_fields && !err; i++)
            err = gc_collect_unit(&c, 1, fr->fields[i].type);
        if (!err)
            err = gc_collect_unit(&c, 2, reg_schema_root(upd));
        if (!err)
            err = gc_collect_unit(&c, 3, reg_schema_root(env));
        if (err)
            goto done;
    }

    gc_emit_runtime(&c);
    for (size_t u = 0; u < c.n_units; u++) {
        gc_emit_header(&c, (int)u);
        if (c.err) {
            err = c.err;
            c.err = NULL;
            goto done;
        }
        gc_emit_source(&c, (int)u);
    }
    if (c.n_units == 4) {
        err = gc_emit_entity(&c, s, update_text, envelope_text);
        if (err)
            goto done;
    }
    if (o && o->harness)
        gc_emit_harness(&c, 0);
    if (c.oom)
        err = cg_err_new(CG_ENOMEM, "out of memory");
done:
    cg_err_free(c.err);
    ctx_free(&c);
    reg_schema_free(fw);
    reg_schema_free(upd);
    reg_schema_free(env);
    return err;
}
