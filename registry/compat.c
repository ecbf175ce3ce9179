/* compat.c - Avro schema compatibility (reader/writer resolution) and the registry's
 * compatibility levels.
 *
 * Implements the resolution rules of the Avro specification, section "Schema
 * Resolution", and the seven registry levels on top of them. A check walks the reader
 * and the writer schema together and reports every difference it finds (it does not
 * stop at the first; at most MAX_MESSAGES are listed, the rest counted), each as one
 * message in the style of Confluent's verbose incompatibility messages, naming the
 * rule, the path in both schemas, the field, the reader and writer fragments and the
 * version of the registered schema it was compared with.
 *
 * The rules, as implemented here (reader = the schema that decodes, writer = the schema
 * the data was written with):
 *   - Same primitive type, or a promotion: int -> long, float, double; long -> float,
 *     double; float -> double; string <-> bytes.
 *   - Records: same unqualified name, or the writer's name among the reader's aliases
 *     (compared by full name or by unqualified name, consistently with the unqualified
 *     rule). Each reader field is matched to a writer field by name, then by the reader
 *     field's aliases; a reader field with no writer field needs a default; a writer
 *     field the reader lacks is skipped.
 *   - Enums: same name (as records); every writer symbol must be a reader symbol unless
 *     the reader has an enum default (Avro 1.9+).
 *   - Fixed: same name (as records) and same size.
 *   - Arrays and maps: items / values recursively.
 *   - Writer union: every writer branch must be readable by the reader.
 *   - Reader union, writer not a union: the reader branch that resolution would select
 *     must read the writer. The specification says "the first schema in the reader's
 *     union that matches"; we select, like Avro Java's resolver, the first branch of the
 *     same type and full name, else the first of the same type whose unqualified name
 *     or alias matches, else the first the writer promotes to. The selected branch is
 *     then checked in depth, so a record nested in a union reports its own field-level
 *     problem (READER_FIELD_MISSING_DEFAULT_VALUE at /fields/1/type/1/fields/2) instead
 *     of a bare "union lacking writer type". No selectable branch: MISSING_UNION_BRANCH.
 *   - Recursive types: each (reader record, writer record) pair is walked once per
 *     check. A pair met again while it is being checked is assumed compatible (the
 *     coinductive reading of the rules: a recursive type resolves if every finite
 *     unfolding does); a pair met again after its check is not walked again, so its
 *     problems are reported once, at the first path that reached it (a type used by
 *     two fields is reported under the first). This keeps a check linear in the number
 *     of (reader, writer) edges: re-walking would be exponential for records that reach
 *     a shared record through several fields at every level. A check whose record pairs
 *     nest more than MAX_PAIR_DEPTH deep gives up with NESTING_TOO_DEEP (fail closed).
 *
 * Logical types: decision and reasons.
 *   The specification defines resolution on the underlying Avro types only; logical
 *   types are annotations that "must be ignored" by a reader that does not know them.
 *   Its one resolution rule for logical types is decimal's: "two schemas that are decimal
 *   logical types match if their scales and precisions match". Avro Java's
 *   SchemaCompatibility and Confluent's registry (which delegates to it) ignore logical
 *   types altogether, including decimal (AVRO-2078 was left unmerged), so they accept
 *   timestamp-millis -> timestamp-micros, or time-millis (int) -> timestamp-millis
 *   (long) through the int -> long promotion, although the numbers then mean something
 *   else. By default we follow the specification: decimal precision and scale must
 *   match when both sides are decimal; other logical types are not compared, and adding
 *   or removing an annotation is allowed (a reader falls back to the underlying type).
 *   With REG_COMPAT_STRICT_LOGICAL (see compat.h), a change between two different
 *   logical types (millis vs micros, time vs timestamp, date vs time-millis, local vs
 *   UTC timestamps, ...) is also a TYPE_MISMATCH, because the bytes still decode but
 *   their meaning changes silently. Canonical subjects should use the strict mode.
 *
 * Messages. Confluent's (client/.../avro/Difference.java) are
 *   {errorType:'T', description:'D', additionalInfo:'I'}
 * with D one sentence per error type naming the path in the "new" or "old" schema. We
 * keep those three keys and sentences and append readerPath, writerPath,
 * readerFragment, writerFragment (the sub-schemas in Parsing Canonical Form, with
 * logicalType, precision and scale kept so logical mismatches can be seen), field (the
 * dotted field names along the path) and version (the registered version compared
 * with, when not 0). The level is not repeated in each message: callers add it once,
 * as Confluent does ("{compatibility: 'BACKWARD'}").
 * The reader is the "new" schema in a BACKWARD check and the "old" one in a FORWARD
 * check. Paths follow Avro Java's locations: "/fields/<i>/type/items/...", rooted at
 * "/", with the rule's own token at the end (/name, /size, /symbols); union branch
 * indices appear in the path of the schema that has the union.
 *
 * The path in a description is the reader's, except for MISSING_ENUM_SYMBOLS and
 * MISSING_UNION_BRANCH (writer union), whose sentences name a place in the writer.
 *
 * Performance: one allocation per public call (the walk state, reused for every version
 * a transitive check visits), one small table of visited record pairs once a pair of
 * records is met (grown by doubling), and nothing else unless a problem is found: paths are kept as
 * a stack of segments and rendered only for a message. Field lookup tries the same position first,
 * so the common case of an evolving record is linear; a field that moved is found through a
 * name index of the writer record (built once per record and public call, for records of
 * more than LINEAR_FIELDS fields), so reordered records stay linear too. FULL_TRANSITIVE against
 * 100 versions of a 20-field record takes about 1 ms (test_compat checks < 20 ms).
 */
#include "compat.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct reg_compat_result {
    char **msgs; /* an entry is NULL when its message could not be allocated */
    size_t n, cap;
};

/* ---------------------------------------------------------------------------------- */
/* Growable string, used only to build messages (the error path).                      */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static int sb_reserve(sbuf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (sb_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sb_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Takes the string out of b; NULL if an allocation failed. */
static char *sb_take(sbuf *b)
{
    if (b->oom) {
        free(b->p);
        b->p = NULL;
        return NULL;
    }
    char *s = b->p ? b->p : strdup("");
    b->p = NULL;
    return s;
}

/* ---------------------------------------------------------------------------------- */
/* Fragments: a sub-schema in Parsing Canonical Form (plus logical type attributes).   */

typedef struct seen_set {
    const reg_node **v;
    size_t n, cap;
} seen_set;

/* Returns 1 if n was already written (then only its name is written again). */
static int seen_add(seen_set *s, const reg_node *n)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i] == n)
            return 1;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        const reg_node **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return 1; /* degrade to the name: still valid JSON */
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = n;
    return 0;
}

static void render_logical(sbuf *b, const reg_node *n)
{
    const char *lt = reg_logical_name(n->logical);
    if (!lt)
        return;
    sb_printf(b, ",\"logicalType\":\"%s\"", lt);
    if (n->logical == REG_LT_DECIMAL)
        sb_printf(b, ",\"precision\":%d,\"scale\":%d", n->precision, n->scale);
}

static void render_node(sbuf *b, const reg_node *n, seen_set *seen);

static void render_field(sbuf *b, const reg_field *f, seen_set *seen)
{
    sb_printf(b, "{\"name\":\"%s\",\"type\":", f->name);
    render_node(b, f->type, seen);
    sb_puts(b, "}");
}

static void render_node(sbuf *b, const reg_node *n, seen_set *seen)
{
    switch (n->type) {
    case REG_RECORD:
    case REG_ENUM:
    case REG_FIXED:
        if (seen_add(seen, n)) {
            sb_printf(b, "\"%s\"", n->fullname);
            return;
        }
        sb_printf(b, "{\"name\":\"%s\",\"type\":\"%s\"", n->fullname, reg_type_name(n->type));
        if (n->type == REG_RECORD) {
            sb_puts(b, ",\"fields\":[");
            for (size_t i = 0; i < n->n_fields; i++) {
                if (i)
                    sb_puts(b, ",");
                render_field(b, &n->fields[i], seen);
            }
            sb_puts(b, "]");
        } else if (n->type == REG_ENUM) {
            sb_puts(b, ",\"symbols\":[");
            for (size_t i = 0; i < n->n_symbols; i++)
                sb_printf(b, "%s\"%s\"", i ? "," : "", n->symbols[i]);
            sb_puts(b, "]");
        } else {
            sb_printf(b, ",\"size\":%zu", n->size);
        }
        render_logical(b, n);
        sb_puts(b, "}");
        return;
    case REG_ARRAY:
    case REG_MAP:
        sb_printf(b, "{\"type\":\"%s\",\"%s\":", n->type == REG_ARRAY ? "array" : "map",
                  n->type == REG_ARRAY ? "items" : "values");
        render_node(b, n->items, seen);
        sb_puts(b, "}");
        return;
    case REG_UNION:
        sb_puts(b, "[");
        for (size_t i = 0; i < n->n_branches; i++) {
            if (i)
                sb_puts(b, ",");
            render_node(b, n->branches[i], seen);
        }
        sb_puts(b, "]");
        return;
    default:
        if (n->logical == REG_LT_NONE) {
            sb_printf(b, "\"%s\"", reg_type_name(n->type));
        } else {
            sb_printf(b, "{\"type\":\"%s\"", reg_type_name(n->type));
            render_logical(b, n);
            sb_puts(b, "}");
        }
        return;
    }
}

/* ---------------------------------------------------------------------------------- */
/* Paths ("/fields/1/type"): a stack of segments, rendered only when a problem is      */
/* reported, so that a compatible check spends nothing on them.                        */

#define PATH_MAX_SEGS 512 /* the parser allows 128 nested types, each up to 3 segments */

typedef struct path_seg {
    const char *tok;  /* static token, or NULL for an index */
    const char *name; /* for a field's index: the field's name (for the "field" key) */
    size_t idx;
} path_seg;

typedef struct path {
    size_t n; /* may exceed PATH_MAX_SEGS; deeper segments are rendered as "/..." */
    path_seg seg[PATH_MAX_SEGS];
} path;

/* Appends "/tok" (tok must outlive the walk: a literal or a schema name). Returns the
 * depth to restore with path_pop(). */
static size_t path_push(path *p, const char *tok)
{
    size_t old = p->n;
    if (old < PATH_MAX_SEGS)
        p->seg[old] = (path_seg){tok, NULL, 0};
    p->n = old + 1;
    return old;
}

/* Appends "/i"; name, when not NULL, is the name of the field at index i. */
static size_t path_push_index(path *p, size_t i, const char *name)
{
    size_t old = p->n;
    if (old < PATH_MAX_SEGS)
        p->seg[old] = (path_seg){NULL, name, i};
    p->n = old + 1;
    return old;
}

static void path_pop(path *p, size_t old)
{
    p->n = old;
}

static void sb_path(sbuf *b, const path *p)
{
    if (p->n == 0) {
        sb_puts(b, "/");
        return;
    }
    for (size_t i = 0; i < p->n && i < PATH_MAX_SEGS; i++) {
        if (p->seg[i].tok)
            sb_printf(b, "/%s", p->seg[i].tok);
        else
            sb_printf(b, "/%zu", p->seg[i].idx);
    }
    if (p->n > PATH_MAX_SEGS)
        sb_puts(b, "/...");
}

static int has_field(const path *p)
{
    for (size_t i = 0; i < p->n && i < PATH_MAX_SEGS; i++) {
        if (p->seg[i].name)
            return 1;
    }
    return 0;
}

/* The names of the fields along p, dot-separated ("address.country"); nothing at the
 * top level. */
static void sb_field_names(sbuf *b, const path *p)
{
    int first = 1;
    for (size_t i = 0; i < p->n && i < PATH_MAX_SEGS; i++) {
        if (p->seg[i].name) {
            sb_printf(b, "%s%s", first ? "" : ".", p->seg[i].name);
            first = 0;
        }
    }
}

/* ---------------------------------------------------------------------------------- */
/* The walk.                                                                           */

enum memo_state { M_EMPTY, M_NEW, M_ACTIVE, M_DONE };

/* Messages listed per pair of schemas; further problems are counted in one summary
 * message, so that a pathological pair cannot produce megabytes of text. */
#define MAX_MESSAGES 100

/* Record pairs being checked at once, nested; see record_pair(). */
#define MAX_PAIR_DEPTH 500 /* about 300 bytes of stack each (measured, -O2) */

typedef struct memo_ent {
    const reg_node *r, *w;
    unsigned char state;
} memo_ent;

/* One entry of the field-name index: field idx of writer record rec is called name. An
 * entry with name NULL marks rec as indexed. */
typedef struct name_ent {
    const reg_node *rec;
    const char *name;
    size_t idx;
} name_ent;

/* Records with at most this many fields are searched linearly: cheaper than hashing. */
#define LINEAR_FIELDS 8

typedef struct walk {
    reg_compat_result *res;
    int version;
    unsigned flags;
    const char *rword, *wword; /* "new" / "old" */
    path rp, wp;
    sbuf rtext, wtext; /* rp and wp rendered, for the message being built */
    memo_ent *memo;
    size_t memo_cap, memo_used;
    name_ent *names; /* field-name index of writer records, see field_index() */
    size_t names_cap, names_used;
    unsigned depth; /* record pairs being checked, nested */
    size_t problems;
    size_t shown, hidden; /* messages appended, problems not listed (MAX_MESSAGES) */
    int stop;             /* out of memory or too deep: give up (a problem has been counted) */
} walk;

static const char *const type_upper[] = {
    [REG_NULL] = "NULL",   [REG_BOOLEAN] = "BOOLEAN", [REG_INT] = "INT",
    [REG_LONG] = "LONG",   [REG_FLOAT] = "FLOAT",     [REG_DOUBLE] = "DOUBLE",
    [REG_BYTES] = "BYTES", [REG_STRING] = "STRING",   [REG_RECORD] = "RECORD",
    [REG_ENUM] = "ENUM",   [REG_ARRAY] = "ARRAY",     [REG_MAP] = "MAP",
    [REG_UNION] = "UNION", [REG_FIXED] = "FIXED",
};

static const char *tname(const reg_node *n)
{
    if ((size_t)n->type < sizeof type_upper / sizeof type_upper[0] && type_upper[n->type])
        return type_upper[n->type];
    return "?";
}

static const char *render_path(sbuf *b, const path *p)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
    sb_path(b, p);
    return b->oom ? "?" : b->p;
}

/* The current reader / writer path as text; valid until the next call. */
static const char *rpath(walk *wk)
{
    return render_path(&wk->rtext, &wk->rp);
}

static const char *wpath(walk *wk)
{
    return render_path(&wk->wtext, &wk->wp);
}

static int result_push(reg_compat_result *r, char *msg)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        char **v = realloc(r->msgs, cap * sizeof *v);
        if (!v)
            return -1;
        r->msgs = v;
        r->cap = cap;
    }
    r->msgs[r->n++] = msg;
    return 0;
}

/* Records one problem. desc and info are complete strings; rfield, when set, is the
 * reader fragment instead of rn (a reader field the writer lacks). */
static void problem(walk *wk, const char *type, const char *desc, const char *info,
                    const reg_node *rn, const reg_field *rfield, const reg_node *wn)
{
    wk->problems++;
    if (!wk->res)
        return;
    if (wk->shown >= MAX_MESSAGES && strcmp(type, "NESTING_TOO_DEEP") != 0) {
        wk->hidden++; /* summarised at the end of the check */
        return;
    }
    wk->shown++;
    sbuf b = {0};
    seen_set seen = {0};
    sb_printf(&b,
              "{errorType:'%s', description:'%s', additionalInfo:'%s', readerPath:'%s', "
              "writerPath:'%s",
              type, desc, info, rpath(wk), wpath(wk));
    /* The field in words: the reader's field names, or the writer's when the rule is
     * about the writer (its enum, its union branch) or the reader is at its top level. */
    int writer_side =
        strcmp(type, "MISSING_ENUM_SYMBOLS") == 0 || strcmp(type, "MISSING_UNION_BRANCH") == 0;
    const path *fp = (writer_side || !has_field(&wk->rp)) ? &wk->wp : &wk->rp;
    if (has_field(fp)) {
        sb_puts(&b, "', field:'");
        sb_field_names(&b, fp);
    }
    sb_puts(&b, "', readerFragment:'");
    if (rfield)
        render_field(&b, rfield, &seen);
    else
        render_node(&b, rn, &seen);
    sb_puts(&b, "', writerFragment:'");
    seen.n = 0; /* each fragment stands alone */
    render_node(&b, wn, &seen);
    sb_puts(&b, "'");
    if (wk->version > 0)
        sb_printf(&b, ", version: %d", wk->version);
    sb_puts(&b, "}");
    free(seen.v);
    char *msg = sb_take(&b);
    if (result_push(wk->res, msg) != 0)
        free(msg); /* the problem is still counted: the verdict does not depend on memory */
}

/* problem() with a formatted description. */
static void problemf(walk *wk, const char *type, const char *info, const reg_node *rn,
                     const reg_field *rfield, const reg_node *wn, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static __attribute__((noinline)) void problemf(walk *wk, const char *type, const char *info,
                                               const reg_node *rn, const reg_field *rfield,
                                               const reg_node *wn, const char *fmt, ...)
{
    char desc[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc, sizeof desc, fmt, ap);
    va_end(ap);
    problem(wk, type, desc, info, rn, rfield, wn);
}

/* Not inlined: its buffers must not sit in the frames of the recursive walk. */
static __attribute__((noinline)) void type_mismatch(walk *wk, const reg_node *r, const reg_node *w,
                                                    const char *info)
{
    char buf[160];
    if (!info) {
        snprintf(buf, sizeof buf, "reader type: %s not compatible with writer type: %s", tname(r),
                 tname(w));
        info = buf;
    }
    problemf(wk, "TYPE_MISMATCH", info, r, NULL, w,
             "The type (path '%s') of a field in the %s schema does not match with the %s schema",
             rpath(wk), wk->rword, wk->wword);
}

/* Can a writer value of type wt be read as rt, rt != wt? */
static int promotable(reg_type wt, reg_type rt)
{
    switch (wt) {
    case REG_INT:
        return rt == REG_LONG || rt == REG_FLOAT || rt == REG_DOUBLE;
    case REG_LONG:
        return rt == REG_FLOAT || rt == REG_DOUBLE;
    case REG_FLOAT:
        return rt == REG_DOUBLE;
    case REG_STRING:
        return rt == REG_BYTES;
    case REG_BYTES:
        return rt == REG_STRING;
    default:
        return 0;
    }
}

static int is_named(reg_type t)
{
    return t == REG_RECORD || t == REG_ENUM || t == REG_FIXED;
}

static const char *unqualified(const char *fullname)
{
    const char *dot = strrchr(fullname, '.');
    return dot ? dot + 1 : fullname;
}

/* The specification's name rule for named types: same unqualified name, or the writer's
 * name among the reader's aliases. */
static int names_match(const reg_node *r, const reg_node *w)
{
    if (strcmp(r->name, w->name) == 0)
        return 1;
    for (size_t i = 0; i < r->n_aliases; i++) {
        if (strcmp(r->aliases[i], w->fullname) == 0 ||
            strcmp(unqualified(r->aliases[i]), w->name) == 0)
            return 1;
    }
    return 0;
}

/* Not inlined: its buffers must not sit in the frames of the recursive walk. */
static __attribute__((noinline)) void check_names(walk *wk, const reg_node *r, const reg_node *w)
{
    if (names_match(r, w))
        return;
    size_t ro = path_push(&wk->rp, "name"), wo = path_push(&wk->wp, "name");
    char info[600];
    snprintf(info, sizeof info, "expected: %s", w->fullname);
    problemf(wk, "NAME_MISMATCH", info, r, NULL, w,
             "The name of the schema has changed (path '%s')", rpath(wk));
    path_pop(&wk->rp, ro);
    path_pop(&wk->wp, wo);
}

/* Logical type rules; see the decision at the top of this file. */
/* Not inlined: its buffers must not sit in the frames of the recursive walk. */
static __attribute__((noinline)) void check_logical(walk *wk, const reg_node *r, const reg_node *w)
{
    char info[256];
    if (r->logical == REG_LT_DECIMAL && w->logical == REG_LT_DECIMAL) {
        if (r->precision != w->precision || r->scale != w->scale) {
            snprintf(info, sizeof info,
                     "reader decimal(%d,%d) not compatible with writer decimal(%d,%d): "
                     "precision and scale must match",
                     r->precision, r->scale, w->precision, w->scale);
            type_mismatch(wk, r, w, info);
        }
        return;
    }
    if ((wk->flags & REG_COMPAT_STRICT_LOGICAL) && r->logical != REG_LT_NONE &&
        w->logical != REG_LT_NONE && r->logical != w->logical) {
        snprintf(info, sizeof info,
                 "reader logical type %s not compatible with writer logical type %s",
                 reg_logical_name(r->logical), reg_logical_name(w->logical));
        type_mismatch(wk, r, w, info);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int has_symbol(const reg_node *e, const char *sym)
{
    for (size_t i = 0; i < e->n_symbols; i++) {
        if (strcmp(e->symbols[i], sym) == 0)
            return 1;
    }
    return 0;
}

/* Not inlined: its buffers must not sit in the frames of the recursive walk. */
static __attribute__((noinline)) void check_symbols(walk *wk, const reg_node *r, const reg_node *w)
{
    if (r->enum_default)
        return; /* unknown writer symbols read as the reader's default */
    size_t missing = 0;
    for (size_t i = 0; i < w->n_symbols; i++)
        missing += !has_symbol(r, w->symbols[i]);
    if (!missing)
        return;
    /* Sorted, as Avro Java prints its TreeSet: "[C, D]". */
    const char **v = malloc(missing * sizeof *v);
    sbuf info = {0};
    sb_puts(&info, "[");
    if (v) {
        size_t k = 0;
        for (size_t i = 0; i < w->n_symbols; i++) {
            if (!has_symbol(r, w->symbols[i]))
                v[k++] = w->symbols[i];
        }
        qsort(v, k, sizeof *v, cmp_str);
        for (size_t i = 0; i < k; i++)
            sb_printf(&info, "%s%s", i ? ", " : "", v[i]);
        free(v);
    }
    sb_puts(&info, "]");
    size_t ro = path_push(&wk->rp, "symbols"), wo = path_push(&wk->wp, "symbols");
    const char *syms = info.oom ? "?" : info.p;
    problemf(wk, "MISSING_ENUM_SYMBOLS", syms, r, NULL, w,
             "The %s schema is missing enum symbols '%s' at path '%s' in the %s schema", wk->rword,
             syms, wpath(wk), wk->wword);
    path_pop(&wk->rp, ro);
    path_pop(&wk->wp, wo);
    free(info.p);
}

/* Not inlined: its buffers must not sit in the frames of the recursive walk. */
static __attribute__((noinline)) void check_size(walk *wk, const reg_node *r, const reg_node *w)
{
    if (r->size == w->size)
        return;
    size_t ro = path_push(&wk->rp, "size"), wo = path_push(&wk->wp, "size");
    char info[80];
    snprintf(info, sizeof info, "expected: %zu, found: %zu", w->size, r->size);
    problemf(wk, "FIXED_SIZE_MISMATCH", info, r, NULL, w,
             "The size of FIXED type field at path '%s' in the %s schema does not match with the "
             "%s schema",
             rpath(wk), wk->rword, wk->wword);
    path_pop(&wk->rp, ro);
    path_pop(&wk->wp, wo);
}

static void cmp(walk *wk, const reg_node *r, const reg_node *w);

/* --- memo of record pairs --- */

static size_t memo_hash(const reg_node *r, const reg_node *w)
{
    uint64_t h = (uint64_t)(uintptr_t)r * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uintptr_t)w + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
    return (size_t)(h ^ (h >> 29));
}

static memo_ent *memo_find_slot(memo_ent *tab, size_t cap, const reg_node *r, const reg_node *w)
{
    size_t i = memo_hash(r, w) & (cap - 1);
    while (tab[i].state != M_EMPTY && !(tab[i].r == r && tab[i].w == w))
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

/* The entry for (r, w), created in state M_NEW if new. NULL when out of memory.
 * The pointer is valid until the next call (the table may grow). */
static memo_ent *memo_get(walk *wk, const reg_node *r, const reg_node *w)
{
    if (wk->memo_used + 1 > wk->memo_cap / 2) {
        size_t cap = wk->memo_cap ? wk->memo_cap * 2 : 32;
        memo_ent *tab = calloc(cap, sizeof *tab);
        if (!tab)
            return NULL;
        for (size_t i = 0; i < wk->memo_cap; i++) {
            if (wk->memo[i].state != M_EMPTY)
                *memo_find_slot(tab, cap, wk->memo[i].r, wk->memo[i].w) = wk->memo[i];
        }
        free(wk->memo);
        wk->memo = tab;
        wk->memo_cap = cap;
    }
    memo_ent *e = memo_find_slot(wk->memo, wk->memo_cap, r, w);
    if (e->state == M_EMPTY) {
        e->r = r;
        e->w = w;
        e->state = M_NEW;
        wk->memo_used++;
    }
    return e;
}

/* --- field-name index of writer records ---
 *
 * Matching each reader field to a writer field by a scan of the writer's fields makes a
 * pair of n-field records cost O(n^2) when the fields do not keep their positions. So
 * the walk keeps one open-addressing table over (writer record, field name), filled for
 * a record the first time one of its fields is looked up and kept for the whole public
 * call: a transitive check meets the same writer records again for every version, and
 * the schemas (hence the nodes and names the table points into) outlive the call. */

static size_t name_hash(const reg_node *rec, const char *name)
{
    uint64_t h = (uint64_t)(uintptr_t)rec * 0x9E3779B97F4A7C15ull;
    if (name) {
        /* FNV-1a over the name */
        uint64_t f = 0xcbf29ce484222325ull;
        for (const unsigned char *p = (const unsigned char *)name; *p; p++)
            f = (f ^ *p) * 0x100000001b3ull;
        h ^= f;
    } else {
        h ^= 0x5851F42D4C957F2Dull; /* the "indexed" marker */
    }
    return (size_t)(h ^ (h >> 31));
}

static name_ent *name_slot(name_ent *tab, size_t cap, const reg_node *rec, const char *name)
{
    size_t i = name_hash(rec, name) & (cap - 1);
    while (tab[i].rec &&
           !(tab[i].rec == rec &&
             (tab[i].name == name || (tab[i].name && name && !strcmp(tab[i].name, name)))))
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

/* Room for `more` entries at a load of at most 1/2. Returns 0 when out of memory. */
static int names_reserve(walk *wk, size_t more)
{
    if (wk->names_used + more <= wk->names_cap / 2)
        return 1;
    size_t cap = wk->names_cap ? wk->names_cap : 64;
    while (wk->names_used + more > cap / 2)
        cap *= 2;
    name_ent *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return 0;
    for (size_t i = 0; i < wk->names_cap; i++) {
        if (wk->names[i].rec)
            *name_slot(tab, cap, wk->names[i].rec, wk->names[i].name) = wk->names[i];
    }
    free(wk->names);
    wk->names = tab;
    wk->names_cap = cap;
    return 1;
}

/* Indexes w's fields unless done already. Returns 0 when out of memory (the caller then
 * scans, which is slower but gives the same answer). */
static int field_index(walk *wk, const reg_node *w)
{
    if (wk->names && name_slot(wk->names, wk->names_cap, w, NULL)->rec)
        return 1;
    if (!names_reserve(wk, w->n_fields + 1))
        return 0;
    for (size_t j = 0; j < w->n_fields; j++) {
        name_ent *e = name_slot(wk->names, wk->names_cap, w, w->fields[j].name);
        if (!e->rec) { /* the first of two equal names wins, as the scan would */
            *e = (name_ent){w, w->fields[j].name, j};
            wk->names_used++;
        }
    }
    *name_slot(wk->names, wk->names_cap, w, NULL) = (name_ent){w, NULL, 0};
    wk->names_used++;
    return 1;
}

static const reg_field *scan_fields(const reg_node *w, const char *name)
{
    for (size_t j = 0; j < w->n_fields; j++) {
        if (strcmp(w->fields[j].name, name) == 0)
            return &w->fields[j];
    }
    return NULL;
}

static const reg_field *find_field(walk *wk, const reg_node *w, const char *name, int indexed)
{
    if (!indexed)
        return scan_fields(w, name);
    const name_ent *e = name_slot(wk->names, wk->names_cap, w, name);
    return e->rec ? &w->fields[e->idx] : NULL;
}

/* The writer field that fills reader field rf (position i): by name, then by the reader
 * field's aliases. The same position is tried first: evolving records mostly keep it. */
static const reg_field *writer_field(walk *wk, const reg_field *rf, size_t i, const reg_node *w)
{
    if (i < w->n_fields && strcmp(w->fields[i].name, rf->name) == 0)
        return &w->fields[i];
    int indexed = w->n_fields > LINEAR_FIELDS && field_index(wk, w);
    const reg_field *wf = find_field(wk, w, rf->name, indexed);
    for (size_t a = 0; !wf && a < rf->n_aliases; a++)
        wf = find_field(wk, w, rf->aliases[a], indexed);
    return wf;
}

static void check_fields(walk *wk, const reg_node *r, const reg_node *w)
{
    size_t ro = path_push(&wk->rp, "fields");
    for (size_t i = 0; i < r->n_fields && !wk->stop; i++) {
        const reg_field *rf = &r->fields[i];
        size_t ro2 = path_push_index(&wk->rp, i, rf->name);
        const reg_field *wf = writer_field(wk, rf, i, w);
        if (!wf) {
            if (!rf->default_json)
                problemf(wk, "READER_FIELD_MISSING_DEFAULT_VALUE", rf->name, NULL, rf, w,
                         "The field '%s' at path '%s' in the %s schema has no default value and "
                         "is missing in the %s schema",
                         rf->name, rpath(wk), wk->rword, wk->wword);
        } else {
            size_t wo = path_push(&wk->wp, "fields");
            path_push_index(&wk->wp, (size_t)(wf - w->fields), wf->name);
            path_push(&wk->wp, "type");
            size_t ro3 = path_push(&wk->rp, "type");
            cmp(wk, rf->type, wf->type);
            path_pop(&wk->rp, ro3);
            path_pop(&wk->wp, wo);
        }
        path_pop(&wk->rp, ro2);
    }
    path_pop(&wk->rp, ro);
}

/* Two cycles of coprime lengths nest up to n * m distinct record pairs: refuse rather
 * than exhaust the stack of a server thread. Not inlined, like the checks above. */
static __attribute__((noinline)) void too_deep(walk *wk, const reg_node *r, const reg_node *w)
{
    wk->stop = 1;
    char info[96];
    snprintf(info, sizeof info, "more than %d nested record pairs", MAX_PAIR_DEPTH);
    problemf(wk, "NESTING_TOO_DEEP", info, r, NULL, w,
             "The %s and %s schemas nest records too deeply to be compared (path '%s')", wk->rword,
             wk->wword, rpath(wk));
}

static void record_pair(walk *wk, const reg_node *r, const reg_node *w)
{
    memo_ent *e = memo_get(wk, r, w);
    if (!e) {
        /* Without the memo a recursive type would not terminate: fail closed. */
        wk->stop = 1;
        problem(wk, "OUT_OF_MEMORY", "out of memory during the compatibility check",
                "out of memory", r, NULL, w);
        return;
    }
    /* M_ACTIVE: recursion; the pair is assumed compatible, its own walk reports its
     * problems. M_DONE: checked at another path, its problems reported there. */
    if (e->state != M_NEW)
        return;
    if (wk->depth >= MAX_PAIR_DEPTH) {
        too_deep(wk, r, w);
        return;
    }
    e->state = M_ACTIVE;
    wk->depth++;
    check_names(wk, r, w);
    check_fields(wk, r, w);
    wk->depth--;
    e = memo_get(wk, r, w); /* the table may have moved; the entry exists, so no failure */
    if (e)
        e->state = M_DONE;
}

/* The reader union branch that resolution selects for writer type w (not a union), or
 * -1. See the top of the file for the order. */
static long select_branch(const reg_node *r, const reg_node *w)
{
    for (size_t i = 0; i < r->n_branches; i++) {
        const reg_node *b = r->branches[i];
        if (b->type == w->type && (!is_named(w->type) || strcmp(b->fullname, w->fullname) == 0))
            return (long)i;
    }
    if (is_named(w->type)) {
        for (size_t i = 0; i < r->n_branches; i++) {
            const reg_node *b = r->branches[i];
            if (b->type == w->type && names_match(b, w))
                return (long)i;
        }
    }
    for (size_t i = 0; i < r->n_branches; i++) {
        if (promotable(w->type, r->branches[i]->type))
            return (long)i;
    }
    return -1;
}

/* Not inlined: its buffer must not sit in the frames of the recursive walk. */
static __attribute__((noinline)) void missing_branch(walk *wk, const reg_node *r, const reg_node *w,
                                                     int writer_in_union)
{
    char info[80];
    snprintf(info, sizeof info, "reader union lacking writer type: %s", tname(w));
    if (writer_in_union)
        problemf(wk, "MISSING_UNION_BRANCH", info, r, NULL, w,
                 "The %s schema is missing a type inside a union field at path '%s' in the "
                 "%s schema",
                 wk->rword, wpath(wk), wk->wword);
    else
        problemf(wk, "MISSING_UNION_BRANCH", info, r, NULL, w,
                 "The union at path '%s' in the %s schema has no branch that can read the "
                 "type at path '%s' in the %s schema",
                 rpath(wk), wk->rword, wpath(wk), wk->wword);
}

static void reader_union(walk *wk, const reg_node *r, const reg_node *w, int writer_in_union)
{
    long i = select_branch(r, w);
    if (i < 0) {
        missing_branch(wk, r, w, writer_in_union);
        return;
    }
    size_t ro = path_push_index(&wk->rp, (size_t)i, NULL);
    cmp(wk, r->branches[i], w);
    path_pop(&wk->rp, ro);
}

static void writer_union(walk *wk, const reg_node *r, const reg_node *w)
{
    for (size_t i = 0; i < w->n_branches && !wk->stop; i++) {
        size_t wo = path_push_index(&wk->wp, i, NULL);
        if (r->type == REG_UNION)
            reader_union(wk, r, w->branches[i], 1);
        else
            cmp(wk, r, w->branches[i]);
        path_pop(&wk->wp, wo);
    }
}

static void cmp(walk *wk, const reg_node *r, const reg_node *w)
{
    if (wk->stop)
        return;
    if (w->type == REG_UNION) {
        writer_union(wk, r, w);
        return;
    }
    if (r->type == REG_UNION) {
        reader_union(wk, r, w, 0);
        return;
    }
    if (r->type != w->type) {
        if (promotable(w->type, r->type))
            check_logical(wk, r, w);
        else
            type_mismatch(wk, r, w, NULL);
        return;
    }
    size_t ro, wo;
    switch (r->type) {
    case REG_RECORD:
        record_pair(wk, r, w);
        return;
    case REG_ARRAY:
    case REG_MAP: {
        const char *tok = r->type == REG_ARRAY ? "items" : "values";
        ro = path_push(&wk->rp, tok);
        wo = path_push(&wk->wp, tok);
        cmp(wk, r->items, w->items);
        path_pop(&wk->rp, ro);
        path_pop(&wk->wp, wo);
        return;
    }
    case REG_ENUM:
        check_names(wk, r, w);
        check_symbols(wk, r, w);
        return;
    case REG_FIXED:
        check_names(wk, r, w);
        check_size(wk, r, w);
        check_logical(wk, r, w);
        return;
    default:
        check_logical(wk, r, w);
        return;
    }
}

/* A walk is allocated once per public call and reused for every pair it checks (a
 * transitive check runs up to 2n walks). Heap, not stack: the two path stacks are 16 KB.
 * Not calloc: only the header needs initialising. NULL when out of memory. */
static walk *walk_new(void)
{
    walk *wk = malloc(sizeof *wk);
    if (!wk)
        return NULL;
    wk->rtext = (sbuf){0};
    wk->wtext = (sbuf){0};
    wk->memo = NULL;
    wk->memo_cap = 0;
    wk->memo_used = 0;
    wk->names = NULL;
    wk->names_cap = 0;
    wk->names_used = 0;
    return wk;
}

static void walk_free(walk *wk)
{
    if (!wk)
        return;
    free(wk->rtext.p);
    free(wk->wtext.p);
    free(wk->memo);
    free(wk->names);
    free(wk);
}

/* Checks one pair; returns the number of problems appended to res (or found, when res
 * is NULL). wk NULL means allocation failed: one problem is counted (and an "out of
 * memory" entry appended) so that callers fail closed. */
static size_t can_read(walk *wk, const reg_schema *reader, const reg_schema *writer, int version,
                       unsigned flags, reg_compat_result *res)
{
    if (!wk) {
        if (res)
            result_push(res, NULL);
        return 1;
    }
    wk->rp.n = 0;
    wk->wp.n = 0;
    if (wk->memo_used)
        memset(wk->memo, 0, wk->memo_cap * sizeof *wk->memo); /* M_EMPTY is 0 */
    wk->memo_used = 0;
    wk->depth = 0;
    wk->problems = 0;
    wk->shown = 0;
    wk->hidden = 0;
    wk->stop = 0;
    wk->res = res;
    wk->version = version;
    wk->flags = flags;
    int reader_is_new = !(flags & REG_COMPAT_READER_IS_OLD);
    wk->rword = reader_is_new ? "new" : "old";
    wk->wword = reader_is_new ? "old" : "new";
    cmp(wk, reg_schema_root(reader), reg_schema_root(writer));
    if (res && wk->hidden) {
        sbuf b = {0};
        sb_printf(&b,
                  "{errorType:'MORE_PROBLEMS', description:'%zu more problems found comparing the "
                  "%s schema with the %s schema are not listed', additionalInfo:'%zu'",
                  wk->hidden, wk->rword, wk->wword, wk->hidden);
        if (version > 0)
            sb_printf(&b, ", version: %d", version);
        sb_puts(&b, "}");
        char *msg = sb_take(&b);
        if (result_push(res, msg) != 0)
            free(msg);
        return wk->shown + 1;
    }
    return wk->problems;
}

/* ---------------------------------------------------------------------------------- */
/* Public API.                                                                         */

static const char *const level_names[] = {
    [REG_COMPAT_NONE] = "NONE",
    [REG_COMPAT_BACKWARD] = "BACKWARD",
    [REG_COMPAT_BACKWARD_TRANSITIVE] = "BACKWARD_TRANSITIVE",
    [REG_COMPAT_FORWARD] = "FORWARD",
    [REG_COMPAT_FORWARD_TRANSITIVE] = "FORWARD_TRANSITIVE",
    [REG_COMPAT_FULL] = "FULL",
    [REG_COMPAT_FULL_TRANSITIVE] = "FULL_TRANSITIVE",
};

#define N_LEVELS (sizeof level_names / sizeof level_names[0])

const char *reg_compat_level_name(reg_compat_level l)
{
    if ((size_t)l < N_LEVELS)
        return level_names[l];
    return "UNKNOWN";
}

int reg_compat_level_parse(const char *name, reg_compat_level *out)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < N_LEVELS; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            if (out)
                *out = (reg_compat_level)i;
            return 0;
        }
    }
    return -1;
}

reg_compat_result *reg_compat_result_new(void)
{
    return calloc(1, sizeof(reg_compat_result));
}

void reg_compat_result_free(reg_compat_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->msgs[i]);
    free(r->msgs);
    free(r);
}

size_t reg_compat_result_count(const reg_compat_result *r)
{
    return r ? r->n : 0;
}

const char *reg_compat_result_message(const reg_compat_result *r, size_t i)
{
    if (!r || i >= r->n)
        return NULL;
    return r->msgs[i] ? r->msgs[i]
                      : "{errorType:'UNKNOWN', description:'out of memory while "
                        "describing an incompatibility'}";
}

size_t reg_compat_can_read_ex(const reg_schema *reader, const reg_schema *writer, int version,
                              unsigned flags, reg_compat_result *r)
{
    walk *wk = walk_new();
    size_t n = can_read(wk, reader, writer, version, flags, r);
    walk_free(wk);
    return n;
}

size_t reg_compat_can_read(const reg_schema *reader, const reg_schema *writer, int version,
                           reg_compat_result *r)
{
    return reg_compat_can_read_ex(reader, writer, version, 0, r);
}

size_t reg_compat_check_ex(reg_compat_level level, const reg_schema *candidate,
                           const reg_schema *const *existing, const int *versions, size_t n,
                           unsigned flags, reg_compat_result *r)
{
    int backward = 0, forward = 0, transitive = 0;
    switch (level) {
    case REG_COMPAT_NONE:
        break;
    case REG_COMPAT_BACKWARD:
        backward = 1;
        break;
    case REG_COMPAT_BACKWARD_TRANSITIVE:
        backward = transitive = 1;
        break;
    case REG_COMPAT_FORWARD:
        forward = 1;
        break;
    case REG_COMPAT_FORWARD_TRANSITIVE:
        forward = transitive = 1;
        break;
    case REG_COMPAT_FULL:
        backward = forward = 1;
        break;
    case REG_COMPAT_FULL_TRANSITIVE:
        backward = forward = transitive = 1;
        break;
    }
    if (n == 0 || (!backward && !forward))
        return reg_compat_result_count(r);
    unsigned base = flags & ~(unsigned)REG_COMPAT_READER_IS_OLD;
    size_t total = 0;
    walk *wk = walk_new();
    for (size_t i = transitive ? 0 : n - 1; i < n; i++) {
        int version = versions ? versions[i] : (int)(i + 1);
        if (backward)
            total += can_read(wk, candidate, existing[i], version, base, r);
        if (forward)
            total +=
                can_read(wk, existing[i], candidate, version, base | REG_COMPAT_READER_IS_OLD, r);
    }
    walk_free(wk);
    return r ? reg_compat_result_count(r) : total;
}

size_t reg_compat_check(reg_compat_level level, const reg_schema *candidate,
                        const reg_schema *const *existing, const int *versions, size_t n,
                        reg_compat_result *r)
{
    return reg_compat_check_ex(level, candidate, existing, versions, n, 0, r);
}
