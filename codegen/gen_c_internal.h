/* gen_c_internal.h - shared state of the C binding generator (gen_c*.c).
 *
 * The generator works in two passes. The first (gen_c.c) walks the schema and gives
 * every type that needs a C definition a gc_type: named types (record, enum, fixed),
 * and the unnamed composites (array, map, union) named after the field they sit in
 * ("person_tags"). The second pass writes, per unit (one .h/.c pair: the canonical
 * schema, its update schema, its envelope schema, the canongate framework types), the
 * type definitions (gen_c_types.c), Avro binary (gen_c_binary.c) and Avro JSON
 * (gen_c_json.c) functions, and for a canonical entity the builder and helpers
 * (gen_c_entity.c). Output goes to a gen_files set; nothing touches the file system.
 */
#ifndef GEN_C_INTERNAL_H
#define GEN_C_INTERNAL_H

#include <stddef.h>

#include "gen.h"
#include "gen_internal.h"

typedef enum gc_kind {
    GC_RECORD,
    GC_ENUM,
    GC_FIXED,
    GC_ARRAY,
    GC_MAP,
    GC_UNION,  /* general union: tag + C union */
    GC_OPT,    /* ["null", T] with T not a record: { bool has; T value; } */
    GC_OPTREC, /* ["null", R] with R a record: R * (NULL is null); no struct of its own */
    GC_WRAP,   /* root wrapper of a schema whose root is not a named type */
} gc_kind;

typedef struct gc_type {
    gc_kind kind;
    const reg_node *node; /* the type (for GC_WRAP: the wrapped root type) */
    char *cname;          /* C base name: "person_address"; types are cname_t */
    char *path;           /* what error messages call it: "PostalAddress", "Person.tags" */
    int unit;             /* index of the unit whose files define it */
    int state;            /* header emission: 0 not yet, 1 in progress, 2 defined */
    int recursive;        /* record reachable from itself (decode checks depth) */
    int walked;           /* named type: its fields were collected */
    char **members;       /* GC_UNION: C member per branch (NULL for null) */
    char **tags;          /* GC_UNION: tag constant per branch */
    int null_index;       /* GC_OPT, GC_OPTREC: branch index of null */
} gc_type;

typedef struct gc_unit {
    char *base;       /* file base name: "person", "person_update" */
    const char *what; /* one line for the file comment */
    const reg_schema *schema;
    const char *schema_text; /* the writer schema, embedded as <base>_schema */
} gc_unit;

typedef struct gc_ctx {
    gen_files *out;
    const gen_opts *o;
    const char *origin;
    char *prefix; /* snake_case name of the root type */
    gc_type **types;
    size_t n_types, cap_types;
    char **names; /* C identifiers taken (type base names) */
    size_t n_names, cap_names;
    gc_unit units[4];
    size_t n_units;
    int unit;         /* unit being collected or emitted */
    const char *file; /* file being written */
    cg_err *err;      /* first error of an emitter that returns void */
    gc_type *wrap;    /* root wrapper, when the root is not a named type */
    void **allocs;    /* every string the generator made, freed at the end */
    size_t n_allocs, cap_allocs;
    int oom;
} gc_ctx;

enum gc_op { GC_OP_WRITE, GC_OP_READ, GC_OP_TO_JSON, GC_OP_FROM_JSON };

#define OUT(c, ...) gen_files_printf((c)->out, (c)->file, __VA_ARGS__)

/* gen_c.c: naming and the type table */
char *gc_strdup(gc_ctx *c, const char *s);
char *gc_fmt(gc_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *gc_snake(gc_ctx *c, const char *name);
char *gc_upper(gc_ctx *c, const char *name);
char *gc_ident(gc_ctx *c, const char *name);             /* keyword-escaped identifier */
char *gc_c_string(gc_ctx *c, const char *s, size_t len); /* C string literal, quoted */
gc_type *gc_find(gc_ctx *c, const reg_node *n);          /* NULL for primitives */
cg_err *gc_collect_unit(gc_ctx *c, int unit, const reg_node *root);
const char *gc_ctype(gc_ctx *c, const reg_node *n);       /* C type of a value of n */
const char *gc_branch_name(gc_ctx *c, const reg_node *n); /* Avro JSON union branch */
int gc_is_struct_kind(gc_kind k);
/* ["null", T] with T primitive: the runtime's canon_opt_<name> types serve it. Returns T
 * (and the index of null), or NULL when n is something else. */
const reg_node *gc_prim_opt(const reg_node *n, int *null_index);
/* "bool", "int", "long", "float", "double", "bytes", "str": the runtime's name of a
 * primitive in canon_write_<name>, canon_opt_<name>, ... NULL for others. */
const char *gc_prim_name(reg_type t);
/* The prototype of a type's function for op (without ';'), e.g.
 * "void person_write(canon_buf *b, const person_t *v)". */
const char *gc_sig(gc_ctx *c, const gc_type *t, enum gc_op op);
/* sig, broken after a comma when longer than a line. */
const char *gc_wrap(gc_ctx *c, const char *sig);
/* Generation with the derived schemas given (gen_c() derives them itself when
 * registry/canon_derive.c is built; tests pass hand-written ones). update_text and
 * envelope_text are NULL for a schema that is not a canonical entity. */
cg_err *gc_generate(const reg_schema *s, const char *schema_text, const char *update_text,
                    const char *envelope_text, const gen_opts *o, gen_files *out);

/* gen_c_types.c */
void gc_emit_header(gc_ctx *c, int unit);
/* Prototype (no ';') of a record's init (0), encode, encode_framed, decode,
 * decode_framed, decode_view, decode_framed_view (6). */
#define GC_N_PUBLIC_SIGS 7
const char *gc_public_sig(gc_ctx *c, const gc_type *t, int which);

/* gen_c_binary.c */
void gc_emit_write_fn(gc_ctx *c, gc_type *t);
void gc_emit_read_fn(gc_ctx *c, gc_type *t);
void gc_emit_public_fns(gc_ctx *c, gc_type *t); /* init, encode, decode, framed, view */

/* gen_c_json.c */
void gc_emit_to_json_fn(gc_ctx *c, gc_type *t);
void gc_emit_from_json_fn(gc_ctx *c, gc_type *t);

/* gen_c.c: the source file of a unit */
void gc_emit_source(gc_ctx *c, int unit);

/* gen_c_entity.c */
cg_err *gc_emit_entity(gc_ctx *c, const reg_schema *canonical, const char *update_text,
                       const char *envelope_text);

/* gen_c_runtime.c: the runtime files (canon_rt.h/.c, canon_resolve.h/.c, canon_registry.c) */
void gc_emit_runtime(gc_ctx *c);

/* gen_c_harness.c */
void gc_emit_harness(gc_ctx *c, int unit);

#endif
