/* gen_java_internal.h - what the Java generator's files (codegen/gen_java*.c) share.
 *
 * The generator walks the schema graph once to list its named types, then writes one
 * Java source file per named type (record, enum, fixed), a small fixed runtime
 * (package canongate.runtime), the Maven pom.xml and, for a canonical entity, the
 * update builder and the producer/consumer helpers. Many small strings are built along
 * the way (type names, accessor names); they live in an arena owned by the jgen and die
 * with it, so the emitters read like the Java they write. Not for other modules. */
#ifndef GEN_JAVA_INTERNAL_H
#define GEN_JAVA_INTERNAL_H

#include <stddef.h>

#include "gen.h"
#include "gen_internal.h"

/* Versions the generated pom.xml and the harness classpath cache pin. */
#define JG_AVRO_VERSION  "1.12.1"
#define JG_KAFKA_VERSION "3.9.1"

typedef struct jgen {
    const gen_opts *o;
    gen_files *out;
    const char *origin;

    /* Named types to emit, in first-seen order, deduplicated by full name. */
    const reg_node **named;
    size_t n_named, cap_named;

    /* Logical types met anywhere: every class's SpecificData model registers the
     * conversions of all of them (a class's model must cover what it reaches). */
    int used_lt[REG_LT_DURATION + 1];

    /* Arena of strings returned by jg_strf(); freed by jg_free(). */
    char **arena;
    size_t n_arena, cap_arena;
    int oom;
} jgen;

/* ---- arena and strings (gen_java_names.c) ---- */
const char *jg_strf(jgen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jg_free(jgen *g);
/* A Java string literal (with quotes) of s: ASCII only, everything else \u-escaped. */
const char *jg_lit(jgen *g, const char *s);

/* ---- names (gen_java_names.c) ---- */
/* 1 if s is a Java keyword or literal (and so needs the '$' Avro Java appends). */
int jg_is_reserved(const char *s);
/* name, or name + "$" when reserved: what Avro Java's compiler calls the field/symbol. */
const char *jg_mangle(jgen *g, const char *name);
/* A record field's Java name: jg_mangle's, with '$' appended also when it is the first
 * part of a package the generated code names in expressions (java, org, canongate, the
 * first part of a namespace of the schema), which the field would hide. */
const char *jg_field(jgen *g, const char *name);
/* Java package of a named type ("" for the null namespace). */
const char *jg_package(jgen *g, const reg_node *n);
/* Simple class name and fully qualified name of a named type. */
const char *jg_class(jgen *g, const reg_node *n);
const char *jg_fqn(jgen *g, const reg_node *n);
/* Path of the source file of a named type: src/main/java/<pkg dirs>/<Class>.java */
const char *jg_source_path(jgen *g, const reg_node *n);
/* "FirstName" for field "first_name": the part after get/set/has/clear. */
const char *jg_accessor(jgen *g, const char *field);
/* The Java type a value of n has in a generated class; boxed for use as a type
 * argument or a nullable value. */
const char *jg_type(jgen *g, const reg_node *n, int boxed);
/* Java expression creating the Avro conversion of logical type l on type t, or NULL when
 * the binding keeps the underlying type (duration, unknown). */
const char *jg_conversion(const reg_node *n);

/* ---- schema text (gen_java_schema.c) ---- */
/* Writes `new org.apache.avro.Schema.Parser().parse("...", ...)` for the type rooted at
 * n, as SpecificData wants it: strings marked avro.java.string=String, java-class
 * properties removed (see docs/bindings-java.md, SERIALIZABLE_PACKAGES). */
void jg_emit_schema_parse(jgen *g, const char *path, const reg_node *n);
/* Writes a Java string expression (concatenated literals) of text. */
void jg_emit_text(jgen *g, const char *path, const char *text);

/* ---- emitters ---- */
void jg_header(jgen *g, const char *path, const char *package);
void jg_emit_record(jgen *g, const reg_node *n, int wrapper);
/* encode()/decode() of a record class, written out for its schema. */
void jg_emit_codec(jgen *g, const char *path, const reg_node *rec);
void jg_emit_enum(jgen *g, const reg_node *n);
void jg_emit_fixed(jgen *g, const reg_node *n);
void jg_emit_runtime(jgen *g);
void jg_emit_pom(jgen *g);
/* root_fqn: the class the harness reads and writes. */
void jg_emit_harness(jgen *g, const char *root_fqn);
/* canonical: the entity record; upd/env: its derived update and envelope records. */
void jg_emit_entity(jgen *g, const reg_node *canonical, const reg_node *upd, const reg_node *env,
                    const char *update_text, const char *envelope_text);

#endif
