/* gen.h - binding generators: C, Python and Java code from an Avro schema.
 *
 * A generator walks a parsed schema (registry/schema.h) and writes source files into a
 * gen_files set in memory; the caller writes the set to a directory (canon gen) or packs
 * it as a tar.gz (GET /canon/bindings/{lang}). Generators never touch the file system,
 * so the same code serves the CLI and the HTTP endpoint.
 *
 * When the schema's root is a canonical entity (a record with canon.key satisfying the
 * contract, registry/canon_contract.h), the generators also emit the derived update and
 * envelope types (docs/wire.md, registry/canon_derive.h), the update builder, the
 * envelope decoder and the producer/consumer helpers.
 *
 * Thread-safety: generators keep no global state; one gen_files per call.
 */
#ifndef GEN_H
#define GEN_H

#include <stddef.h>

#include "../common/err.h"
#include "../registry/schema.h"

typedef enum gen_lang { GEN_LANG_C, GEN_LANG_PYTHON, GEN_LANG_JAVA } gen_lang;

/* Parses "c", "python" or "java"; returns 0 and sets *out, or -1. */
int gen_lang_parse(const char *name, gen_lang *out);
const char *gen_lang_name(gen_lang lang);

/* An ordered set of generated files: relative path -> content. */
typedef struct gen_files gen_files;

gen_files *gen_files_new(void);
void gen_files_free(gen_files *f); /* NULL is fine */

/* Appends formatted text to the file at path (created empty on first use). Paths are
 * relative, '/'-separated, without "..". Allocation failure is sticky: the set remembers
 * it and gen_files_write_dir()/gen_files_tar_gz() report CG_ENOMEM, so generators need
 * not check every call. */
void gen_files_printf(gen_files *f, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends len raw bytes to the file at path. */
void gen_files_append(gen_files *f, const char *path, const char *data, size_t len);

size_t gen_files_count(const gen_files *f);
/* The i-th file in creation order; pointers belong to f. */
const char *gen_files_path(const gen_files *f, size_t i);
const char *gen_files_data(const gen_files *f, size_t i, size_t *len);

/* Writes every file under dir (created, with parents, as needed); existing files are
 * replaced. */
cg_err *gen_files_write_dir(const gen_files *f, const char *dir);

/* Packs every file under the directory name prefix into a gzip-compressed POSIX tar
 * archive. On success *out (malloc'ed, caller frees) holds *len bytes. */
cg_err *gen_files_tar_gz(const gen_files *f, const char *prefix, unsigned char **out, size_t *len);

typedef struct gen_opts {
    /* Name of the generated type for a root schema that is not a named type ("int",
     * an array, a union): default "Root". */
    const char *root_name;
    /* Where the schema came from, written into a header comment of every file
     * ("schema.avsc", "http://127.0.0.1:8081 subject canon.person.entity version 3"). */
    const char *origin;
    /* Registry the producer helpers look update schema ids up in; NULL: the helpers need
     * it at run time. */
    const char *registry_url;
    /* Also emit the round-trip program used by tests/bindings/roundtrip: reads Avro JSON
     * datums of the root type, one a line, on stdin; writes the lower-case hex of each
     * datum's Avro binary encoding, one a line, on stdout. */
    int harness;
} gen_opts;

/* Each generator adds its files to out. schema_text is the text the schema was parsed
 * from (embedded in the binding as the writer schema). Errors: CG_EINVALID_SCHEMA for a
 * schema the language cannot express, naming the type and the reason. */
cg_err *gen_c(const reg_schema *s, const char *schema_text, const gen_opts *o, gen_files *out);
cg_err *gen_python(const reg_schema *s, const char *schema_text, const gen_opts *o, gen_files *out);
cg_err *gen_java(const reg_schema *s, const char *schema_text, const gen_opts *o, gen_files *out);

/* Dispatches to the generator of lang. */
cg_err *gen_run(gen_lang lang, const reg_schema *s, const char *schema_text, const gen_opts *o,
                gen_files *out);

#endif
