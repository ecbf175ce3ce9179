/* gen_python_internal.h - what the Python generator's files (codegen/gen_python*.c) share.
 *
 * The generator walks the schema graph once to list its named types and unions, then
 * writes one implementation module holding every type of the binding (so recursive and
 * cross-namespace references need no circular imports), one re-export module per other
 * namespace, the shared `canongate` package (framework types and runtime, byte for byte
 * the same in every binding), pyproject.toml and, with gen_opts.harness, roundtrip.sh.
 * Layout and type mapping: docs/bindings-python.md.
 *
 * Many small strings are built on the way (class names, expressions); they live in an
 * arena owned by the pyg and die with it, so the emitters read like the Python they
 * write. Not for other modules. */
#ifndef GEN_PYTHON_INTERNAL_H
#define GEN_PYTHON_INTERNAL_H

#include <stddef.h>

#include "gen.h"

/* One union of the schema, and how its values look in Python. */
typedef enum pg_union_kind {
    PG_UNION_OPTIONAL,  /* null and one other branch: the value or None */
    PG_UNION_PLAIN,     /* branches of distinct Python types: the value itself */
    PG_UNION_AMBIGUOUS, /* two branches share a Python type (int and long, ...): a
                           (branch name, value) tuple, so the branch survives a round trip */
} pg_union_kind;

typedef struct pg_union {
    const reg_node *node;
    pg_union_kind kind;
    size_t index;    /* numbers the helper functions _u<index>_... */
    const char *key; /* normalized form: unions of one form share their helpers */
    int emit;        /* the first union of its form: writes the helpers */
} pg_union;

typedef struct pyg {
    const gen_opts *o;
    gen_files *out;
    const char *origin;
    const char *path; /* the file being written */
    int framework;    /* writing canongate/__init__.py: framework types are local */

    /* Named types to emit, in first-seen order, deduplicated by full name; cls[i] is the
     * Python class name of named[i] inside the implementation module. */
    const reg_node **named;
    const char **cls;
    size_t n_named, cap_named;

    pg_union *unions;
    size_t n_unions, cap_unions;

    char **arena;
    size_t n_arena, cap_arena;
    int oom;
    int walrus;        /* numbers the := variables of the module: each has one type */
    const char *where; /* what the conversions being written convert ("n.Rec.field",
                        * a union), named by encode errors; NULL: "value" */
    const char *bad;   /* first thing the generator could not express (arena), or NULL */
} pyg;

/* ---- arena and literals (gen_python_names.c) ---- */
const char *pg_strf(pyg *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pg_free(pyg *g);
/* A copy of s the caller may modify; lives in the arena like pg_strf's strings. */
char *pg_dup(pyg *g, const char *s);
/* A Python str literal (with quotes) of UTF-8 text s. */
const char *pg_lit(pyg *g, const char *s);
/* A Python bytes literal of len bytes. */
const char *pg_bytes_lit(pyg *g, const unsigned char *b, size_t len);
/* Text with every line prefixed by indent, for docstrings and comments: newlines kept,
 * triple quotes and backslashes made harmless. */
const char *pg_doc(pyg *g, const char *s);

/* ---- names (gen_python_names.c) ---- */
/* 1 if s is a Python keyword (hard or soft) or a name the generated code uses itself. */
int pg_is_keyword(const char *s);
/* Attribute name of a record field: name, or name + "_" when it would clash with a
 * keyword, a builtin used in type hints, a generated method or a class of the module. */
const char *pg_field_attr(pyg *g, const char *name);
/* Member name of an enum symbol. */
const char *pg_enum_member(pyg *g, const char *symbol);
/* A module/package path component: escaped when a keyword (and at top level, when a
 * standard-library module name, which would shadow or be shadowed). */
const char *pg_component(pyg *g, const char *name, int top_level);
/* snake_case of a type name: "TestMessage" -> "test_message". */
const char *pg_snake(pyg *g, const char *name);
/* Dotted Python module of an Avro namespace for binding module mod ("" ns: mod). */
const char *pg_module_of(pyg *g, const char *ns, const char *mod);

/* ---- type walk and expressions (gen_python_types.c) ---- */
/* Lists named types and unions reachable from n (idempotent; call per root). */
void pg_collect(pyg *g, const reg_node *n);
/* Assigns class names once every root is collected. */
void pg_name_classes(pyg *g, const char *root_ns);
/* Python reference to the class of a named type ("Person", "canongate.UpdateOp"). */
const char *pg_class(pyg *g, const reg_node *n);
/* 1 for the framework types that live in package canongate. */
int pg_is_framework(const reg_node *n);
/* The module-level symbol -> member dict of an enum ("_E_Color", "_E_canongate_UpdateOp"). */
const char *pg_enum_table(pyg *g, const reg_node *n);
const pg_union *pg_union_of(pyg *g, const reg_node *n);
/* The Avro JSON name of a union branch: full name of a named type, else the type. */
const char *pg_branch_name(const reg_node *b);
/* The Python type of values of b as a key ("int", "datetime", a record's full name). */
const char *pg_py_kind(const reg_node *b);
int pg_is_named(const reg_node *n);
/* Type hint of a value of n. */
const char *pg_hint(pyg *g, const reg_node *n);
/* Expression converting expr (binding value of n) into fastavro's form, or NULL when it
 * is the same value. depth numbers the walrus/comprehension variables. */
const char *pg_to_avro(pyg *g, const reg_node *n, const char *expr, int depth);
/* Expression converting expr (fastavro's decoded form) into the binding value, or NULL
 * when the same. */
const char *pg_from_avro(pyg *g, const reg_node *n, const char *expr, int depth);
/* Expression converting the binding value into Avro JSON (Python objects for json). */
const char *pg_to_json(pyg *g, const reg_node *n, const char *expr, int depth);
/* Expression reading Avro JSON (checked) into the binding value. */
const char *pg_from_json(pyg *g, const reg_node *n, const char *expr, int depth);
/* Python expression of a field default (Avro default JSON); NULL on a default it cannot
 * express (reported by the caller). *mutable set when a default_factory is needed. */
const char *pg_default(pyg *g, const reg_node *n, const json_t *v, int *mutable_);
/* The fastavro-facing schema JSON of the type rooted at n (ambiguous union branches
 * wrapped in one-field records, same bytes on the wire), as compact text; arena. */
const char *pg_fastavro_schema(pyg *g, const reg_node *n);

/* ---- emitters ---- */
void pg_header(pyg *g, const char *what); /* gen_python_module.c */
void pg_emit_module_body(pyg *g, const reg_node *root, const char *root_text,
                         const char *root_wrapper); /* gen_python_module.c */
/* The parsed schemas (_P_<Class>), one per class with codec methods; written last so
 * that the module reads types first. */
void pg_emit_parsed(pyg *g, const reg_node *root, const char *root_wrapper);
void pg_emit_unions(pyg *g); /* gen_python_unions.c */
cg_err *pg_emit_entity(pyg *g, const reg_node *canonical, const reg_node *upd, const reg_node *env,
                       const char *upd_text, const char *env_text);
/* canongate/_runtime.py, the same bytes in every binding (gen_python_runtime.c). */
void pg_emit_runtime(gen_files *out);
/* pyproject.toml, README.md and, with o->harness, roundtrip.sh/roundtrip.py
 * (gen_python_pkg.c). module: the implementation module; root_cls: the class the
 * harness drives. */
void pg_emit_package(pyg *g, const char *module, const char *root_cls, int entity);

/* The generator with the derived schemas given (NULL, NULL: not a canonical entity);
 * gen_python() derives them with registry/canon_derive.h. Tests call it directly with
 * hand-written derived schemas. */
cg_err *pg_generate(const reg_schema *s, const char *schema_text, const gen_opts *o,
                    const char *update_text, const char *envelope_text, gen_files *out);

#endif
