/* mapping_internal.h - helpers of the declarative mapping shared by mapping.c and its
 * tests: the JSON line table, domain paths, string normalisation and name suggestions
 * (the date/time formats are public: time_format.h). Not part of the translator's public
 * API (translators/mapping.h).
 */
#ifndef TR_MAPPING_INTERNAL_H
#define TR_MAPPING_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../common/err.h"
#include "time_format.h"

/* ---- line table ------------------------------------------------------------------ */

/* jansson keeps no positions of parsed values, so the mapping text is scanned once more
 * by a small tokenizer that follows the JSON grammar and records, for each member and
 * array item, its JSON Pointer (RFC 6901: "/fields/email/from") and the line where its
 * key (or, for an item, its value) starts. The text must be valid JSON (jansson checked
 * it first). */
typedef struct tr_lines tr_lines;

/* Returns NULL when memory is short. */
tr_lines *tr_lines_scan(const char *text, size_t len);
void tr_lines_free(tr_lines *l); /* NULL is fine */
/* The line of pointer; when it is not in the table, the line of its nearest ancestor
 * that is (1 for the root). */
int tr_lines_find(const tr_lines *l, const char *pointer);
/* Appends the RFC 6901 escaped form of key to a pointer being built in buf (cap bytes,
 * NUL-terminated): "/" + key with "~" as "~0" and "/" as "~1". 0, or -1 if it does not
 * fit. */
int tr_pointer_append(char *buf, size_t cap, const char *key);

/* ---- paths into a domain record ---------------------------------------------------- */

typedef struct tr_step {
    char *key;    /* member name (owned), or NULL for an array index */
    size_t index; /* array index when key is NULL */
} tr_step;

typedef struct tr_path {
    char *text; /* as written in the mapping (owned) */
    tr_step *steps;
    size_t n_steps;
    size_t id; /* the node of the mapping's path trie where it ends (mapping.c) */
} tr_path;

/* Parses "a.b[0].c" / 'attrs["a.b"]'. On error returns CG_EINVAL with a message saying
 * what is wrong (without file or line: the caller adds them). */
cg_err *tr_path_parse(const char *text, tr_path *out);
void tr_path_clear(tr_path *p);
/* The value at p in root, or NULL when the path leads nowhere. Borrowed from root. */
const json_t *tr_path_get(const tr_path *p, const json_t *root);

/* ---- the path trie (mapping.c) -------------------------------------------------------- */

/* Every path the mapping reads, merged into one trie, so that applying a record walks
 * the record once and looks no key up by hashing (jansson's json_object_get hashes the
 * key on every call: it was 40% of apply's time). Node 0 is the record itself; each node
 * has an id, the index of its value in tr_output's vals_ while a record is applied. */
typedef struct tr_trie {
    char *key; /* member name, or NULL for an array index */
    size_t klen, index;
    size_t id;
    int terminal; /* a path ends here: its value is read as a whole */
    struct tr_trie *kids;
    size_t n_kids;
    int has_key_kids, has_index_kids;
} tr_trie;

/* The record's value at one trie node while a record is applied: a jansson value, or (j
 * NULL, s not NULL) a string's UTF-8 bytes as they stand in the record's text, which
 * tr_mapping_apply_text() points at instead of allocating a json_t per string it reads
 * (two mallocs and two frees per value were a fifth of its time). Both NULL: the path
 * leads nowhere in this record. The bytes are not NUL-terminated and belong to the
 * record. */
typedef struct tr_val {
    const json_t *j;
    const char *s;
    size_t n;
} tr_val;

struct tr_mapping;
struct tr_output;
/* The mapping's trie and its node count. Belongs to m. */
const tr_trie *tr_mapping_trie(const struct tr_mapping *m, size_t *n_nodes);
/* Records in vals the value at every node below t, walking v once. */
void tr_trie_walk(const tr_trie *t, const json_t *v, tr_val *vals);
/* Makes out->vals_ hold n nodes, all missing. */
cg_err *tr_output_vals_reserve(struct tr_output *out, size_t n);
/* tr_mapping_apply() once out->vals_ holds the record's values (vals_[0].j: the record, an
 * object, or NULL: apply reads values through the trie only). */
cg_err *tr_mapping_apply_vals(const struct tr_mapping *m, int64_t record_ts_ms, int64_t seq,
                              struct tr_output *out);

/* ---- strings ------------------------------------------------------------------------ */

enum tr_norm {
    TR_NORM_TRIM = 1,
    TR_NORM_LOWER = 2,
    TR_NORM_UPPER = 3,
    TR_NORM_COLLAPSE = 4,
};
#define TR_NORM_MAX 8 /* normalisations per value */

/* Applies ops[0..n) in place to s[0..len); returns the new length (never longer). */
size_t tr_normalize(char *s, size_t len, const uint8_t *ops, size_t n);
/* Parses a normalisation's name: its enum tr_norm value, or 0 if unknown. */
int tr_norm_parse(const char *name);

/* Levenshtein distance of a and b, capped at cap + 1 (for "did you mean"). */
size_t tr_edit_distance(const char *a, const char *b, size_t cap);
/* The candidate closest to name (distance at most 2, or 1 for short names), or NULL. */
const char *tr_suggest(const char *name, const char *const *candidates, size_t n);

/* How many of the first len bytes of the UTF-8 text s to show when at most max may be
 * shown: len when it fits, else max backed up to the start of a character, so that a
 * message quoting the text (a dead letter's canon.error.message header) stays UTF-8. */
size_t tr_utf8_cut(const char *s, size_t len, size_t max);

/* The 36-character lower-case text form of a UUID, plus NUL. */
void tr_uuid_format(const uint8_t u[16], char out[37]);

#endif
