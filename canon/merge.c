/* merge.c - decode an update, merge it into the state, encode the envelope (see merge.h).
 *
 * Everything a message needs is prepared when a schema is registered with the engine:
 * the writer schema is compiled (walk.h) and each of its fields is mapped onto the
 * current canonical schema with a small translation table per union branch (copy the
 * bytes, prefix another union index, widen int to float, remap an enum index, clear, or
 * "cannot translate"). A message is then one validating pass over its bytes that notes
 * where each field's value lies, a lookup of the key, per-field version comparisons,
 * and the envelope assembled from byte strings: a record's Avro encoding is the
 * concatenation of its fields' encodings, and the state keeps each field's canonical
 * encoding, so `before` and `after` are concatenations, with no generic values anywhere.
 *
 * Per message cost (bench/canon_merge measures it): the validating pass keeps no field
 * path unless it fails (then the field is walked again to say why); values whose writer
 * encoding already is the canonical one (the usual case) are taken from the message as
 * they are; `after` is written as runs copied from `before` around the changed fields;
 * field names are kept encoded, and each distinct provenance version is encoded once per
 * envelope. tests/unit/test_canon_merge_model.c holds all of this to a plain model, byte
 * for byte.
 *
 * Rules (../shared/DESIGN.md "Merge semantics"; details and decisions in
 * docs/aggregator.md):
 * - a provided field is applied when the update's version (event_time, source, seq) is
 *   greater than both the field's version and the last DELETE's version, or equal to the
 *   field's (and greater than the DELETE's) with a larger canonical encoding of the value;
 * - DELETE with version v: when v is newer than the last DELETE, every field whose
 *   version is v or older is forgotten and v is remembered;
 * - the state after any set of updates depends only on the set, not on the order
 *   (tests/unit/test_canon_merge.c checks it), because every decision is a comparison of
 *   versions (and, on an exact tie, of values), and versions compare by source name,
 *   never by arrival-order ids.
 */
#include "merge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/canon_derive.h"

#define MAX_TOP 32 /* fields of an update or envelope record (7 and 9 today) */

/* ---- translation tables ----------------------------------------------------------- */

enum { K_BAD, K_CLEAR, K_COPY, K_I2F, K_I2D, K_F2D, K_ENUM };

typedef struct bmap {
    uint8_t kind;
    uint8_t ident; /* the writer's bytes are the canonical encoding as they are */
    int32_t cb;    /* canonical union branch to write first, -1 when canonical is no union */
    int32_t *emap; /* K_ENUM: writer symbol index -> canonical index (-1: none) */
    uint32_t n_emap;
} bmap;

typedef struct tmap {
    uint8_t w_union; /* the writer value starts with a union index */
    uint32_t nb;
    bmap *b;
} tmap;

typedef struct cfield {
    char *name;
    size_t name_len;
    uint8_t *enc_name; /* the name as an Avro string (length, bytes): envelopes carry it */
    uint32_t enc_name_len;
    char **writers; /* NULL when any source may write */
    size_t *writer_lens;
    uint32_t n_writers;
    uint8_t *def; /* canonical encoding of the value of a field never set or cleared */
    uint32_t def_len;
    int has_def; /* 0: the field is required (neither defaulted nor nullable) */
} cfield;

typedef struct vfield {
    char *name;
    size_t name_len;
    int32_t cidx; /* canonical field, -1 when the canonical schema has none of that name */
    tmap m;
} vfield;

enum role {
    R_SKIP,
    R_KEY,
    R_SOURCE,
    R_TIME,
    R_SEQ,
    R_OP,
    R_PROVIDED,
    R_VALUES,
    R_VERSION,
    R_AFTER,
    R_PROV,
    R_DELETED
};

typedef struct prog {
    int32_t id;
    int is_env;
    canon_walk *w;
    uint32_t n_top;
    uint8_t role[MAX_TOP];
    uint32_t top_op[MAX_TOP];
    int32_t top_of[R_DELETED + 1];        /* role -> top-level field index, -1 when absent */
    int32_t delete_sym;                   /* update: index of DELETE in the writer's UpdateOp */
    uint32_t rec_op;                      /* values record (update) / canonical record (envelope) */
    int32_t after_branch, deleted_branch; /* envelope: union branches of the record */
    /* envelope: its FieldVersion has partition and offset (provenance, deleted) */
    uint8_t prov_origin, deleted_origin;
    uint32_t n_vf;
    vfield *vf;
} prog;

struct canon_engine {
    uint32_t n_fields, key_idx;
    cfield *f;
    uint32_t *req; /* the required fields (no default, not nullable), key excluded */
    uint32_t n_req;
    int32_t env_id;
    int env_origin; /* the envelope written (env_id) has FieldVersion's partition and offset */
    prog **progs;
    uint32_t n_progs, cap_progs;
    uint32_t max_vf;
};

static void tmap_free(tmap *m)
{
    for (uint32_t i = 0; m->b && i < m->nb; i++)
        free(m->b[i].emap);
    free(m->b);
}

static void prog_free(prog *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->n_vf; i++) {
        free(p->vf[i].name);
        tmap_free(&p->vf[i].m);
    }
    free(p->vf);
    canon_walk_free(p->w);
    free(p);
}

/* Two types with one encoding: same Parsing Canonical Form. */
static int same_type(const reg_node *a, const reg_node *b, int *oom)
{
    if (a == b)
        return 1;
    if (a->type != b->type)
        return 0;
    char *x = reg_node_canonical(a), *y = reg_node_canonical(b);
    int eq = x && y && !strcmp(x, y);
    if (!x || !y)
        *oom = 1;
    free(x);
    free(y);
    return eq;
}

static int names_match(const reg_node *w, const reg_node *c)
{
    if (!strcmp(w->fullname, c->fullname) || !strcmp(w->name, c->name))
        return 1;
    for (size_t i = 0; i < c->n_aliases; i++) {
        if (!strcmp(c->aliases[i], w->fullname))
            return 1;
    }
    return 0;
}

/* Can a value of writer type w become one of canonical type c without a generic value?
 * Identical types, the specification's promotions, and enums by symbol. */
static int conv(const reg_node *w, const reg_node *c, bmap *b, int *oom)
{
    if (same_type(w, c, oom)) {
        b->kind = K_COPY;
        return 1;
    }
    reg_type wt = w->type, ct = c->type;
    int integral = wt == REG_INT || wt == REG_LONG;
    if (integral && ct == REG_LONG) /* int and long share the zigzag varint encoding */
        b->kind = K_COPY;
    else if (integral && ct == REG_FLOAT)
        b->kind = K_I2F;
    else if ((integral && ct == REG_DOUBLE))
        b->kind = K_I2D;
    else if (wt == REG_FLOAT && ct == REG_DOUBLE)
        b->kind = K_F2D;
    else if ((wt == REG_STRING && ct == REG_BYTES) || (wt == REG_BYTES && ct == REG_STRING))
        b->kind = K_COPY;
    else if (wt == REG_ENUM && ct == REG_ENUM && names_match(w, c)) {
        b->emap = malloc((w->n_symbols ? w->n_symbols : 1) * sizeof(int32_t));
        if (!b->emap) {
            *oom = 1;
            return 0;
        }
        b->n_emap = (uint32_t)w->n_symbols;
        for (size_t i = 0; i < w->n_symbols; i++) {
            int32_t k = -1, dflt = -1;
            for (size_t j = 0; j < c->n_symbols; j++) {
                if (!strcmp(w->symbols[i], c->symbols[j]))
                    k = (int32_t)j;
                if (c->enum_default && !strcmp(c->enum_default, c->symbols[j]))
                    dflt = (int32_t)j;
            }
            b->emap[i] = k >= 0 ? k : dflt;
        }
        b->kind = K_ENUM;
    } else {
        return 0;
    }
    return 1;
}

/* The table that turns a value of writer type wt into canonical type ct. */
static int build_tmap(const reg_node *wt, const reg_node *ct, tmap *m)
{
    int oom = 0;
    m->w_union = wt->type == REG_UNION;
    m->nb = m->w_union ? (uint32_t)wt->n_branches : 1;
    m->b = calloc(m->nb ? m->nb : 1, sizeof(bmap));
    if (!m->b)
        return -1;
    for (uint32_t i = 0; i < m->nb; i++) {
        const reg_node *wb = m->w_union ? wt->branches[i] : wt;
        bmap *b = &m->b[i];
        b->cb = -1;
        b->kind = K_BAD;
        if (ct->type != REG_UNION) {
            if (wb->type == REG_NULL && ct->type != REG_NULL)
                b->kind = K_CLEAR;
            else
                conv(wb, ct, b, &oom);
            continue;
        }
        if (wb->type == REG_NULL)
            b->kind = K_CLEAR;
        for (size_t j = 0; j < ct->n_branches; j++) {
            if (same_type(wb, ct->branches[j], &oom)) {
                b->kind = K_COPY;
                b->cb = (int32_t)j;
                break;
            }
        }
        for (size_t j = 0; b->cb < 0 && wb->type != REG_NULL && j < ct->n_branches; j++) {
            if (conv(wb, ct->branches[j], b, &oom))
                b->cb = (int32_t)j;
        }
    }
    for (uint32_t i = 0; i < m->nb; i++) {
        bmap *b = &m->b[i];
        b->ident = b->kind == K_COPY && (m->w_union ? b->cb == (int32_t)i : b->cb < 0);
    }
    return oom ? -1 : 0;
}

/* Is the writer value at [p, end) its own canonical encoding (no translation needed)? */
static int is_ident(const tmap *m, const uint8_t *p, const uint8_t *end)
{
    if (!m->w_union)
        return m->b[0].ident;
    if (p >= end || *p >= 0x80)
        return 0; /* a union index over 63: translate() handles it */
    uint32_t z = *p, bi = (z >> 1) ^ -(z & 1);
    return bi < m->nb && m->b[bi].ident;
}

/* Translates the writer value at [p, end) into out. *clear is set for "clear". Returns 0,
 * or -1 with why filled. The bytes were validated against the writer schema already. */
static int translate(const tmap *m, const uint8_t *p, const uint8_t *end, canon_wbuf *out,
                     int *clear, char *why, size_t whysz)
{
    uint32_t bi = 0;
    *clear = 0;
    if (m->w_union) {
        int64_t v;
        if (canon_read_long_fast(&p, end, &v) || v < 0 || (uint64_t)v >= m->nb) {
            snprintf(why, whysz, "bad union index");
            return -1;
        }
        bi = (uint32_t)v;
    }
    const bmap *b = &m->b[bi];
    if (b->kind == K_CLEAR) {
        *clear = 1;
        return 0;
    }
    if (b->kind == K_BAD) {
        snprintf(why, whysz,
                 "the writer's type (branch %u) has no counterpart in the "
                 "canonical schema that this aggregator can translate",
                 bi);
        return -1;
    }
    if (b->cb >= 0)
        canon_wbuf_long(out, b->cb);
    int64_t l;
    float f;
    switch (b->kind) {
    case K_COPY:
        canon_wbuf_put(out, p, (size_t)(end - p));
        return 0;
    case K_I2F:
        if (canon_read_long_fast(&p, end, &l))
            break;
        canon_wbuf_float(out, (float)l);
        return 0;
    case K_I2D:
        if (canon_read_long_fast(&p, end, &l))
            break;
        canon_wbuf_double(out, (double)l);
        return 0;
    case K_F2D:
        if (canon_read_float(&p, end, &f))
            break;
        canon_wbuf_double(out, (double)f);
        return 0;
    case K_ENUM:
        if (canon_read_long_fast(&p, end, &l) || l < 0 || (uint64_t)l >= b->n_emap)
            break;
        if (b->emap[l] < 0) {
            snprintf(why, whysz,
                     "enum symbol %lld is unknown to the canonical enum, which has "
                     "no default",
                     (long long)l);
            return -1;
        }
        canon_wbuf_long(out, b->emap[l]);
        return 0;
    }
    snprintf(why, whysz, "value does not decode");
    return -1;
}

/* ---- engine ------------------------------------------------------------------------ */

const char *canon_reason_name(canon_reason r)
{
    switch (r) {
    case CANON_OK:
        return "OK";
    case CANON_R_FRAMING:
        return "FRAMING";
    case CANON_R_UNKNOWN_SCHEMA:
        return "UNKNOWN_SCHEMA";
    case CANON_R_DECODE:
        return "DECODE";
    case CANON_R_KEY_MISMATCH:
        return "KEY_MISMATCH";
    case CANON_R_WRITER:
        return "WRITER";
    case CANON_R_FIELD:
        return "FIELD";
    case CANON_R_TYPE:
        return "TYPE";
    case CANON_R_REQUIRED:
        return "REQUIRED";
    case CANON_R_SOURCE:
        return "SOURCE";
    case CANON_R_UNLISTED_SOURCE:
        return "UNLISTED_SOURCE";
    case CANON_R_KEY_TOO_LONG:
        return "KEY_TOO_LONG";
    case CANON_R_TOO_LARGE:
        return "TOO_LARGE";
    }
    return "UNKNOWN";
}

static int32_t canonical_field(const canon_engine *e, const reg_node *croot, const char *name)
{
    for (uint32_t i = 0; i < e->n_fields; i++) {
        if (i == e->key_idx)
            continue;
        const reg_field *f = &croot->fields[i];
        if (!strcmp(f->name, name))
            return (int32_t)i;
        for (size_t a = 0; a < f->n_aliases; a++) {
            if (!strcmp(f->aliases[a], name))
                return (int32_t)i;
        }
    }
    return -1;
}

/* The canonical record the engine was built from is needed while compiling writer
 * schemas (types are compared), so the engine keeps a private parse of it. */
typedef struct engine_priv {
    canon_engine pub;
    reg_schema *canonical;
} engine_priv;

static cg_err *add_prog(canon_engine *e, prog *p)
{
    for (uint32_t i = 0; i < e->n_progs; i++) {
        if (e->progs[i]->id == p->id) {
            prog_free(e->progs[i]);
            e->progs[i] = p;
            goto done;
        }
    }
    if (e->n_progs == e->cap_progs) {
        uint32_t c = e->cap_progs ? e->cap_progs * 2 : 8;
        prog **q = realloc(e->progs, c * sizeof(*q));
        if (!q) {
            prog_free(p);
            return cg_err_new(CG_ENOMEM, "out of memory registering a schema");
        }
        e->progs = q;
        e->cap_progs = c;
    }
    e->progs[e->n_progs++] = p;
done:
    if (p->n_vf > e->max_vf)
        e->max_vf = p->n_vf;
    return NULL;
}

static const prog *find_prog(const canon_engine *e, int32_t id)
{
    for (uint32_t i = 0; i < e->n_progs; i++) {
        if (e->progs[i]->id == id)
            return e->progs[i];
    }
    return NULL;
}

int canon_engine_has_schema(const canon_engine *e, int32_t id)
{
    return find_prog(e, id) != NULL;
}

static int is_type(const reg_node *n, reg_type t)
{
    return n && n->type == t;
}

/* 1: FieldVersion as first derived (source, event_time, seq); 2: with the update's
 * partition and offset after them (docs/wire.md); 0: neither. Envelopes of both shapes
 * stay on canon topics, so both restore. */
static int is_field_version(const reg_node *n)
{
    if (!is_type(n, REG_RECORD) || (n->n_fields != 3 && n->n_fields != 5) ||
        strcmp(n->fields[0].name, "source") || !is_type(n->fields[0].type, REG_STRING) ||
        strcmp(n->fields[1].name, "event_time") || !is_type(n->fields[1].type, REG_LONG) ||
        strcmp(n->fields[2].name, "seq") || !is_type(n->fields[2].type, REG_LONG))
        return 0;
    if (n->n_fields == 3)
        return 1;
    return !strcmp(n->fields[3].name, "partition") && is_type(n->fields[3].type, REG_INT) &&
                   !strcmp(n->fields[4].name, "offset") && is_type(n->fields[4].type, REG_LONG)
               ? 2
               : 0;
}

/* Maps the fields of writer record rec (update values, or envelope after) by name. */
static cg_err *map_fields(canon_engine *e, prog *p, const reg_node *rec)
{
    const reg_node *croot = reg_schema_root(((engine_priv *)e)->canonical);
    /* Two records to map (an `after` union with two record branches): which one would
     * hold the fields? Refused, which also keeps the first table from leaking. */
    if (p->vf)
        return cg_err_new(CG_EINVALID_SCHEMA,
                          "schema %d: two records hold the entity's fields (docs/wire.md has one)",
                          p->id);
    p->rec_op = canon_walk_op(p->w, rec);
    /* n_vf only once vf exists: prog_free() walks n_vf entries of it. */
    p->vf = calloc(rec->n_fields ? rec->n_fields : 1, sizeof(vfield));
    if (!p->vf)
        return cg_err_new(CG_ENOMEM, "out of memory compiling a schema");
    p->n_vf = (uint32_t)rec->n_fields;
    for (uint32_t i = 0; i < p->n_vf; i++) {
        const reg_field *wf = &rec->fields[i];
        vfield *v = &p->vf[i];
        v->name = strdup(wf->name);
        if (!v->name)
            return cg_err_new(CG_ENOMEM, "out of memory compiling a schema");
        v->name_len = strlen(v->name);
        v->cidx = canonical_field(e, croot, wf->name);
        if (v->cidx < 0) {
            /* A renamed field: the writer's field may carry the canonical name as alias. */
            for (size_t a = 0; a < wf->n_aliases && v->cidx < 0; a++)
                v->cidx = canonical_field(e, croot, wf->aliases[a]);
        }
        if (v->cidx >= 0 && build_tmap(wf->type, croot->fields[v->cidx].type, &v->m))
            return cg_err_new(CG_ENOMEM, "out of memory compiling a schema");
    }
    return NULL;
}

static cg_err *compile_prog(canon_engine *e, int32_t id, const reg_schema *s, int is_env)
{
    cg_err *err = NULL;
    const reg_node *root = reg_schema_root(s);
    const reg_node *croot = reg_schema_root(((engine_priv *)e)->canonical);
    const char *what = is_env ? "envelope" : "update";
    prog *p = calloc(1, sizeof(*p));
    if (!p)
        return cg_err_new(CG_ENOMEM, "out of memory compiling a schema");
    p->id = id;
    p->is_env = is_env;
    p->delete_sym = -1;
    p->after_branch = p->deleted_branch = -1;
    for (int r = 0; r <= R_DELETED; r++)
        p->top_of[r] = -1;
    if (!is_type(root, REG_RECORD) || root->n_fields > MAX_TOP) {
        err = cg_err_new(CG_EINVALID_SCHEMA,
                         "schema %d is not an %s schema (not a record "
                         "of at most %d fields)",
                         id, what, MAX_TOP);
        goto fail;
    }
    if ((err = canon_walk_compile(root, &p->w)))
        goto fail;
    p->n_top = (uint32_t)root->n_fields;
    const char *keyname = croot->fields[e->key_idx].name;
    for (uint32_t i = 0; i < p->n_top; i++) {
        const reg_field *f = &root->fields[i];
        const reg_node *t = f->type;
        int r = R_SKIP, ok = 1;
        p->top_op[i] = canon_walk_op(p->w, t);
        if (!is_env) {
            if (!strcmp(f->name, keyname) || (i == 0 && t->type == REG_STRING)) {
                r = R_KEY;
                ok = is_type(t, REG_STRING);
            } else if (!strcmp(f->name, "source")) {
                r = R_SOURCE;
                ok = is_type(t, REG_STRING);
            } else if (!strcmp(f->name, "event_time")) {
                r = R_TIME;
                ok = is_type(t, REG_LONG);
            } else if (!strcmp(f->name, "seq")) {
                r = R_SEQ;
                ok = is_type(t, REG_LONG);
            } else if (!strcmp(f->name, "op")) {
                r = R_OP;
                ok = is_type(t, REG_ENUM);
                for (size_t k = 0; ok && k < t->n_symbols; k++) {
                    if (!strcmp(t->symbols[k], "DELETE"))
                        p->delete_sym = (int32_t)k;
                }
            } else if (!strcmp(f->name, "provided")) {
                r = R_PROVIDED;
                ok = is_type(t, REG_ARRAY) && is_type(t->items, REG_STRING);
            } else if (!strcmp(f->name, "values")) {
                r = R_VALUES;
                ok = is_type(t, REG_RECORD);
                if (ok && (err = map_fields(e, p, t)))
                    goto fail;
            }
        } else {
            if (!strcmp(f->name, "key")) {
                r = R_KEY;
                ok = is_type(t, REG_STRING);
            } else if (!strcmp(f->name, "version")) {
                r = R_VERSION;
                ok = is_type(t, REG_LONG);
            } else if (!strcmp(f->name, "after")) {
                r = R_AFTER;
                ok = is_type(t, REG_UNION);
                for (size_t k = 0; ok && k < t->n_branches; k++) {
                    if (t->branches[k]->type == REG_RECORD) {
                        p->after_branch = (int32_t)k;
                        if ((err = map_fields(e, p, t->branches[k])))
                            goto fail;
                    }
                }
                ok = ok && p->after_branch >= 0;
            } else if (!strcmp(f->name, "provenance")) {
                r = R_PROV;
                int shape = is_type(t, REG_MAP) ? is_field_version(t->items) : 0;
                ok = shape != 0;
                p->prov_origin = shape == 2;
            } else if (!strcmp(f->name, "deleted")) {
                r = R_DELETED;
                ok = is_type(t, REG_UNION);
                for (size_t k = 0; ok && k < t->n_branches; k++) {
                    int shape = is_field_version(t->branches[k]);
                    if (shape) {
                        p->deleted_branch = (int32_t)k;
                        p->deleted_origin = shape == 2;
                    }
                }
                ok = ok && p->deleted_branch >= 0;
            }
        }
        if (!ok) {
            err = cg_err_new(CG_EINVALID_SCHEMA,
                             "schema %d: field '%s' is not what an %s "
                             "schema has there (docs/wire.md)",
                             id, f->name, what);
            goto fail;
        }
        p->role[i] = (uint8_t)r;
        if (r != R_SKIP)
            p->top_of[r] = (int32_t)i;
    }
    int missing = is_env ? (p->top_of[R_KEY] < 0 || p->top_of[R_VERSION] < 0 ||
                            p->top_of[R_AFTER] < 0 || p->top_of[R_PROV] < 0)
                         : (p->top_of[R_KEY] < 0 || p->top_of[R_SOURCE] < 0 ||
                            p->top_of[R_TIME] < 0 || p->top_of[R_VALUES] < 0);
    if (missing) {
        err = cg_err_new(CG_EINVALID_SCHEMA,
                         "schema %d is not an %s schema: a field of "
                         "docs/wire.md is missing",
                         id, what);
        goto fail;
    }
    return add_prog(e, p);
fail:
    prog_free(p);
    return err;
}

cg_err *canon_engine_add_update_schema(canon_engine *e, int32_t id, const reg_schema *update)
{
    return compile_prog(e, id, update, 0);
}

cg_err *canon_engine_add_envelope_schema(canon_engine *e, int32_t id, const reg_schema *env)
{
    cg_err *err = compile_prog(e, id, env, 1);
    /* A registry that derived the entity's envelope before FieldVersion had partition and
     * offset still has that shape under the id written: envelopes then keep it. */
    if (!err && id == e->env_id)
        e->env_origin = find_prog(e, id)->prov_origin;
    return err;
}

cg_err *canon_engine_new(const reg_schema *canonical, int32_t envelope_id, canon_engine **out)
{
    cg_err *err = NULL;
    char *text = NULL, *envtext = NULL;
    reg_schema *env = NULL;
    engine_priv *ep = calloc(1, sizeof(*ep));
    if (!ep)
        return cg_err_new(CG_ENOMEM, "out of memory creating an engine");
    canon_engine *e = &ep->pub;
    /* A private copy of the canonical schema: the caller may free its own. */
    if ((err = reg_canon_derive_envelope(canonical, &envtext)))
        goto done;
    {
        json_t *j = reg_node_json(reg_schema_root(canonical), 0);
        if (!j) {
            err = cg_err_new(CG_ENOMEM, "out of memory creating an engine");
            goto done;
        }
        text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
    }
    if (!text) {
        err = cg_err_new(CG_ENOMEM, "out of memory creating an engine");
        goto done;
    }
    if ((err = reg_schema_parse(text, strlen(text), NULL, 0, &ep->canonical)))
        goto done;
    const reg_node *root = reg_schema_root(ep->canonical);
    const json_t *kp = root->props ? json_object_get(root->props, "canon.key") : NULL;
    e->n_fields = (uint32_t)root->n_fields;
    e->key_idx = UINT32_MAX;
    for (uint32_t i = 0; kp && json_is_string(kp) && i < e->n_fields; i++) {
        if (!strcmp(root->fields[i].name, json_string_value(kp)))
            e->key_idx = i;
    }
    if (e->key_idx == UINT32_MAX || root->fields[e->key_idx].type->type != REG_STRING) {
        err = cg_err_new(CG_EINVALID_SCHEMA, "not a canonical schema: canon.key must name a "
                                             "string field");
        goto done;
    }
    e->f = calloc(e->n_fields, sizeof(cfield));
    if (!e->f) {
        err = cg_err_new(CG_ENOMEM, "out of memory creating an engine");
        goto done;
    }
    for (uint32_t i = 0; i < e->n_fields; i++) {
        const reg_field *f = &root->fields[i];
        cfield *c = &e->f[i];
        c->name = strdup(f->name);
        c->name_len = c->name ? strlen(f->name) : 0;
        canon_wbuf en = {0};
        canon_wbuf_str(&en, f->name, c->name_len);
        c->enc_name = en.p;
        c->enc_name_len = (uint32_t)en.len;
        if (!c->name || !canon_wbuf_ok(&en)) {
            err = cg_err_new(CG_ENOMEM, "out of memory creating an engine");
            goto done;
        }
        const json_t *wr = f->props ? json_object_get(f->props, "canon.writers") : NULL;
        if (wr && json_is_array(wr)) {
            c->n_writers = (uint32_t)json_array_size(wr);
            c->writers = calloc(c->n_writers + 1, sizeof(char *));
            c->writer_lens = calloc(c->n_writers + 1, sizeof(size_t));
            for (uint32_t k = 0; c->writers && c->writer_lens && k < c->n_writers; k++) {
                const char *s = json_string_value(json_array_get(wr, k));
                c->writers[k] = strdup(s ? s : "");
                if (!c->writers[k])
                    break;
                c->writer_lens[k] = strlen(c->writers[k]);
            }
            if (!c->writers || !c->writer_lens || (c->n_writers && !c->writers[c->n_writers - 1])) {
                err = cg_err_new(CG_ENOMEM, "out of memory creating an engine");
                goto done;
            }
        }
        canon_wbuf d = {0};
        if (f->default_json) {
            if ((err = canon_encode_default(f->type, f->default_json, &d))) {
                canon_wbuf_free(&d);
                err = cg_err_wrap(err, "field '%s': ", f->name);
                goto done;
            }
            c->has_def = 1;
        } else if (f->type->type == REG_UNION) {
            for (size_t k = 0; k < f->type->n_branches; k++) {
                if (f->type->branches[k]->type == REG_NULL && !c->has_def) {
                    canon_wbuf_long(&d, (int64_t)k);
                    c->has_def = 1;
                }
            }
        } else if (f->type->type == REG_NULL) {
            c->has_def = 1;
        }
        if (d.oom) {
            canon_wbuf_free(&d);
            err = cg_err_new(CG_ENOMEM, "out of memory creating an engine");
            goto done;
        }
        c->def = d.p; /* may be NULL with def_len 0 (e.g. a null default) */
        c->def_len = (uint32_t)d.len;
    }
    e->req = calloc(e->n_fields, sizeof(uint32_t));
    if (!e->req) {
        err = cg_err_new(CG_ENOMEM, "out of memory creating an engine");
        goto done;
    }
    for (uint32_t i = 0; i < e->n_fields; i++) {
        if (i != e->key_idx && !e->f[i].has_def)
            e->req[e->n_req++] = i;
    }
    e->env_id = envelope_id;
    if ((err = reg_schema_parse(envtext, strlen(envtext), NULL, 0, &env)))
        goto done;
    if ((err = canon_engine_add_envelope_schema(e, envelope_id, env)))
        goto done;
    *out = e;
    e = NULL;
done:
    free(text);
    free(envtext);
    reg_schema_free(env);
    canon_engine_free(e);
    return err;
}

void canon_engine_free(canon_engine *e)
{
    if (!e)
        return;
    for (uint32_t i = 0; e->f && i < e->n_fields; i++) {
        free(e->f[i].name);
        free(e->f[i].enc_name);
        for (uint32_t k = 0; e->f[i].writers && k < e->f[i].n_writers; k++)
            free(e->f[i].writers[k]);
        free(e->f[i].writers);
        free(e->f[i].writer_lens);
        free(e->f[i].def);
    }
    free(e->f);
    free(e->req);
    for (uint32_t i = 0; i < e->n_progs; i++)
        prog_free(e->progs[i]);
    free(e->progs);
    reg_schema_free(((engine_priv *)e)->canonical);
    free(e);
}

uint32_t canon_engine_n_fields(const canon_engine *e)
{
    return e->n_fields;
}

const char *canon_engine_field_name(const canon_engine *e, uint32_t i)
{
    return i < e->n_fields ? e->f[i].name : NULL;
}

uint32_t canon_engine_key_field(const canon_engine *e)
{
    return e->key_idx;
}

/* ---- results ----------------------------------------------------------------------- */

void canon_result_init(canon_result *r)
{
    memset(r, 0, sizeof(*r));
    r->schema_id = -1;
}

void canon_result_clear(canon_result *r)
{
    canon_wbuf_free(&r->envelope);
    canon_wbuf_free(&r->vals_);
    free(r->spans_);
    free(r->changed);
    free(r->fields_);
    free(r->old_);
    free(r->voff_);
    free(r->vlen_);
    free(r->vptr_);
    free(r->prov_);
    free(r->seen_);
    canon_result_init(r);
}

static int result_reserve(canon_result *r, const canon_engine *e)
{
    if (r->cap_fields_ < e->n_fields) {
        free(r->fields_);
        free(r->old_);
        free(r->voff_);
        free(r->vlen_);
        free(r->vptr_);
        free(r->prov_);
        free(r->changed);
        r->vptr_ = calloc(e->n_fields, sizeof(*r->vptr_));
        r->vlen_ = calloc(e->n_fields, sizeof(uint32_t));
        r->prov_ = calloc(e->n_fields, 1);
        r->fields_ = calloc(e->n_fields, sizeof(canon_field_state));
        r->old_ = calloc(e->n_fields, sizeof(canon_field_state));
        r->voff_ = calloc(e->n_fields, sizeof(uint32_t));
        r->changed = calloc(e->n_fields, sizeof(uint32_t));
        r->cap_fields_ = r->cap_changed_ = e->n_fields;
        if (!r->fields_ || !r->old_ || !r->voff_ || !r->changed || !r->vlen_ || !r->prov_ ||
            !r->vptr_) {
            r->cap_fields_ = r->cap_changed_ = 0;
            return -1;
        }
    }
    uint32_t nv = e->max_vf ? e->max_vf : 1;
    if (r->cap_spans_ < nv) {
        free(r->spans_);
        free(r->seen_);
        r->spans_ = calloc(2 * (size_t)nv, sizeof(*r->spans_));
        r->seen_ = calloc(nv, 1);
        r->cap_spans_ = r->cap_seen_ = nv;
        if (!r->spans_ || !r->seen_) {
            r->cap_spans_ = r->cap_seen_ = 0;
            return -1;
        }
    }
    return 0;
}

__attribute__((format(printf, 3, 4))) static void reject(canon_result *r, canon_reason why,
                                                         const char *fmt, ...)
{
    va_list ap;
    r->verdict = CANON_REJECT;
    r->reason = why;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

/* ---- assembling ------------------------------------------------------------------------ */

static int field_has_value(const canon_field_state *f)
{
    return f->present && !f->cleared;
}

/* An entity exists (its record can be written) when some field was decided and every
 * required field holds a value. */
static int alive(const canon_engine *e, const canon_field_state *fs)
{
    for (uint32_t k = 0; k < e->n_req; k++) {
        if (!field_has_value(&fs[e->req[k]]))
            return 0;
    }
    for (uint32_t i = 0; i < e->n_fields; i++) {
        if (fs[i].present && i != e->key_idx)
            return 1;
    }
    return 0;
}

static void effective(const canon_engine *e, const canon_field_state *fs, uint32_t i,
                      const uint8_t **p, size_t *n, int *none)
{
    *none = 0;
    if (field_has_value(&fs[i])) {
        *p = fs[i].val;
        *n = fs[i].len;
    } else {
        *p = e->f[i].def;
        *n = e->f[i].def_len;
        *none = !e->f[i].has_def;
    }
}

static void put_record(const canon_engine *e, const canon_field_state *fs, const void *key,
                       size_t key_len, canon_wbuf *b)
{
    for (uint32_t i = 0; i < e->n_fields; i++) {
        if (i == e->key_idx) {
            canon_wbuf_str(b, key, key_len);
            continue;
        }
        const uint8_t *p;
        size_t n;
        int none;
        effective(e, fs, i, &p, &n, &none);
        canon_wbuf_put(b, p, n);
    }
}

/* Raw writers for finish(): it reserves room first, then writes through a local pointer,
 * which the compiler keeps in a register (a canon_wbuf's len is reloaded after every
 * byte store, since bytes may alias anything). */
static inline uint8_t *w_long(uint8_t *o, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        *o++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *o++ = (uint8_t)z;
    return o;
}

static inline uint8_t *w_put(uint8_t *o, const void *s, size_t n)
{
    canon_copy(o, (const uint8_t *)s, n);
    return o + n;
}

static inline uint8_t *w_str(uint8_t *o, const void *s, size_t n)
{
    return w_put(w_long(o, (int64_t)n), s, n);
}

/* A FieldVersion with source name s; with origin, the shape that has the update's
 * partition and offset. At most n + 5 * 10 bytes. */
static inline uint8_t *w_version(uint8_t *o, const char *s, size_t n, const canon_version *v,
                                 int origin)
{
    o = w_str(o, s, n);
    o = w_long(o, v->event_time);
    o = w_long(o, v->seq);
    if (origin) {
        o = w_long(o, v->partition);
        o = w_long(o, v->offset);
    }
    return o;
}

static void put_version(const canon_state *st, const canon_version *v, int origin, canon_wbuf *b)
{
    size_t n = 0;
    const char *s = canon_state_source_name(st, v->source, &n);
    if (!s)
        s = "";
    if (b->cap - b->len < n + 5 * 10 && canon_wbuf_reserve(b, n + 5 * 10))
        return; /* oom is set on b */
    b->len = (size_t)(w_version(b->p + b->len, s, n, v, origin) - b->p);
}

static int same_version(const canon_version *a, const canon_version *b)
{
    return a->event_time == b->event_time && a->seq == b->seq && a->source == b->source &&
           a->offset == b->offset && a->partition == b->partition;
}

/* Encoded provenance values: an entity's fields share a few versions (one update sets
 * several fields), so each distinct version is encoded once per envelope and copied. */
#define VCACHE 8
typedef struct vcache {
    uint32_t n;
    canon_version v[VCACHE];
    uint16_t len[VCACHE];
    uint8_t enc[VCACHE][255 + 5 * 10]; /* source (at most 255 bytes), an int and three longs */
} vcache;

/* The entry of v in c, encoding it there first if new; -1 when it does not fit (cache
 * full, or a source name over 255 bytes, which only a restored record can have). */
static int vcache_entry(const canon_state *st, vcache *c, const canon_version *v, int origin)
{
    for (uint32_t k = 0; k < c->n; k++) {
        if (same_version(&c->v[k], v))
            return (int)k;
    }
    size_t n = 0;
    const char *s = canon_state_source_name(st, v->source, &n);
    if (c->n == VCACHE || (s && n > 255))
        return -1;
    uint8_t *o = w_version(c->enc[c->n], s ? s : "", s ? n : 0, v, origin);
    c->v[c->n] = *v;
    c->len[c->n] = (uint16_t)(o - c->enc[c->n]);
    return (int)c->n++;
}

/* One provenance entry: the field's encoded name, then its version. */
static void put_provenance(const canon_state *st, vcache *c, const cfield *f,
                           const canon_version *v, int origin, canon_wbuf *b)
{
    int k = vcache_entry(st, c, v, origin);
    size_t need = f->enc_name_len + (k < 0 ? 0 : c->len[k]);
    if (k < 0 || (b->cap - b->len < need && canon_wbuf_reserve(b, need))) {
        canon_wbuf_put(b, f->enc_name, f->enc_name_len);
        put_version(st, v, origin, b);
        return;
    }
    uint8_t *o = b->p + b->len;
    o = w_put(o, f->enc_name, f->enc_name_len);
    o = w_put(o, c->enc[k], c->len[k]);
    b->len = (size_t)(o - b->p);
}

/* Writes the record of fields fs at o, noting in off[i] where field i starts relative to
 * the record. */
static uint8_t *w_record(const canon_engine *e, const canon_field_state *fs, const void *key,
                         size_t key_len, uint8_t *o, uint32_t *off)
{
    uint8_t *rec = o;
    for (uint32_t i = 0; i < e->n_fields; i++) {
        off[i] = (uint32_t)(o - rec);
        if (i == e->key_idx) {
            o = w_str(o, key, key_len);
        } else if (field_has_value(&fs[i])) {
            o = w_put(o, fs[i].val, fs[i].len);
        } else {
            o = w_put(o, e->f[i].def, e->f[i].def_len);
        }
    }
    return o;
}

static cg_err *finish(const canon_engine *e, canon_state *st, const canon_msg *m, canon_entity *ent,
                      canon_result *r)
{
    int was = alive(e, r->old_), is = alive(e, r->fields_);
    /* changed fields, and room for the records: each field at most its old value, its new
     * value or its default, in each of before and after */
    size_t room = 64 + 3 * (10 + ent->key_len);
    r->n_changed = 0;
    for (uint32_t i = 0; i < e->n_fields; i++) {
        if (i == e->key_idx)
            continue;
        const canon_field_state *x = &r->old_[i], *y = &r->fields_[i];
        int hx = field_has_value(x), hy = field_has_value(y);
        const cfield *cf = &e->f[i];
        room += 2 * (size_t)cf->def_len + (hx ? x->len : 0) + (hy ? y->len : 0);
        if (!hx && !hy)
            continue; /* both the default */
        const uint8_t *a = hx ? x->val : cf->def, *b = hy ? y->val : cf->def;
        size_t na = hx ? x->len : cf->def_len, nb = hy ? y->len : cf->def_len;
        int xa = !hx && !cf->has_def, xb = !hy && !cf->has_def;
        if (xa != xb || na != nb || (na && a != b && memcmp(a, b, na)))
            r->changed[r->n_changed++] = i;
    }
    r->op = !was && is ? CANON_CREATE : !is ? CANON_DELETE : CANON_UPDATE;
    r->version = ent->version + 1;

    canon_wbuf *b = &r->envelope;
    b->len = 0;
    if (canon_wbuf_reserve(b, room))
        return cg_err_new(CG_ENOMEM, "out of memory encoding an envelope");
    uint8_t *o = b->p;
    uint8_t hdr[5] = {0, (uint8_t)((uint32_t)e->env_id >> 24), (uint8_t)((uint32_t)e->env_id >> 16),
                      (uint8_t)((uint32_t)e->env_id >> 8), (uint8_t)e->env_id};
    o = w_put(o, hdr, 5);
    o = w_str(o, ent->key, ent->key_len);
    o = w_long(o, (int64_t)r->version);
    o = w_long(o, r->op);
    uint8_t *before = NULL, *before_end = NULL;
    *o++ = was ? 2 : 0; /* union branch 1 (zigzag 2): the record; 0: null */
    if (was) {
        before = o;
        o = w_record(e, r->old_, ent->key, ent->key_len, o, r->voff_);
        before_end = o;
    }
    *o++ = is ? 2 : 0;
    if (is && was) {
        /* after is before with the changed fields replaced: the unchanged runs between
         * them (the key included) are copied from before in one piece each. voff_ (the
         * decoded values' offsets, no longer needed here) holds where each field starts
         * in before. */
        uint32_t run = 0; /* first field of the run not yet copied */
        for (uint32_t k = 0; k < r->n_changed; k++) {
            uint32_t c = r->changed[k];
            const canon_field_state *f = &r->fields_[c];
            size_t n = r->voff_[c] - r->voff_[run];
            memcpy(o, before + r->voff_[run], n);
            o += n;
            o = field_has_value(f) ? w_put(o, f->val, f->len)
                                   : w_put(o, e->f[c].def, e->f[c].def_len);
            run = c + 1;
        }
        const uint8_t *from = run < e->n_fields ? before + r->voff_[run] : before_end;
        memcpy(o, from, (size_t)(before_end - from));
        o += before_end - from;
    } else if (is) {
        o = w_record(e, r->fields_, ent->key, ent->key_len, o, r->voff_);
    }
    b->len = (size_t)(o - b->p);

    if (r->n_changed) {
        canon_wbuf_long(b, r->n_changed);
        for (uint32_t k = 0; k < r->n_changed; k++)
            canon_wbuf_put(b, e->f[r->changed[k]].enc_name, e->f[r->changed[k]].enc_name_len);
    }
    canon_wbuf_byte(b, 0);
    uint32_t np = 0;
    for (uint32_t i = 0; i < e->n_fields; i++)
        np += r->fields_[i].present;
    if (np) {
        vcache vc;
        vc.n = 0;
        canon_wbuf_long(b, np);
        for (uint32_t i = 0; i < e->n_fields; i++) {
            if (!r->fields_[i].present)
                continue;
            put_provenance(st, &vc, &e->f[i], &r->fields_[i].ver, e->env_origin, b);
        }
    }
    canon_wbuf_byte(b, 0);
    if (ent->has_deleted) {
        canon_wbuf_byte(b, 2);
        put_version(st, &ent->deleted, e->env_origin, b);
    } else {
        canon_wbuf_byte(b, 0);
    }
    const char *topic = m->topic ? m->topic : "";
    size_t tl = strlen(topic);
    if (!canon_wbuf_reserve(b, tl + 30)) {
        o = b->p + b->len;
        o = w_str(o, topic, tl);
        o = w_long(o, m->partition);
        o = w_long(o, m->offset);
        b->len = (size_t)(o - b->p);
    }
    if (!canon_wbuf_ok(b))
        return cg_err_new(CG_ENOMEM, "out of memory encoding an envelope");
    /* What librdkafka counts against message.max.bytes: the value, the key, and the
     * record's framing (no headers on canon records). */
    size_t wire = b->len + ent->key_len + CANON_RECORD_FRAMING;
    if (m->max_record && wire > m->max_record) {
        reject(r, CANON_R_TOO_LARGE,
               "the canon record would take %zu bytes (envelope %zu, key %zu), more than the "
               "limit of %zu (the producers' message.max.bytes, or the canon topic's "
               "max.message.bytes less batch framing)",
               wire, b->len, ent->key_len, m->max_record);
        b->len = 0;
        return NULL;
    }

    ent->version = r->version;
    ent->fields = r->fields_;
    cg_err *err = canon_state_put(st, ent);
    if (err)
        return err;
    r->verdict = CANON_PUBLISH;
    return NULL;
}

/* ---- merge --------------------------------------------------------------------------- */

static int key_printable(const void *k, size_t n)
{
    const unsigned char *s = k;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    }
    return 1;
}

static void reset(canon_result *r)
{
    r->verdict = CANON_REJECT;
    r->reason = CANON_OK;
    r->message[0] = '\0';
    r->schema_id = -1;
    r->n_changed = r->n_applied = r->n_stale = r->n_ignored = 0;
    r->envelope.len = 0;
    r->vals_.len = 0;
}

/* Decoding, without any state: framing, one validating pass, the framework fields, the
 * provided list mapped to canonical fields, and the values translated. */
static int decode(const canon_engine *e, const void *value, size_t value_len, canon_result *r,
                  canon_update *u, int direct)
{
    const uint8_t *v = value;
    memset(u, 0, sizeof(*u));
    u->schema_id = -1;
    if (!v || value_len < 5 || v[0] != 0) {
        reject(r, CANON_R_FRAMING,
               "value is not in Confluent framing (magic byte 0, 4-byte schema id, Avro body)");
        return -1;
    }
    r->schema_id = u->schema_id =
        (int32_t)((uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 8 | v[4]);
    const prog *p = find_prog(e, r->schema_id);
    if (!p || p->is_env) {
        reject(r, CANON_R_UNKNOWN_SCHEMA,
               "schema id %d is not a known update schema of this entity", r->schema_id);
        return -1;
    }

    /* One validating pass; spans of the top-level fields and of each values field. */
    const uint8_t *pos = v + 5, *end = v + value_len;
    const uint8_t *ts[MAX_TOP];
    const uint8_t *sv[MAX_TOP]; /* R_KEY, R_SOURCE: the string */
    size_t sl[MAX_TOP];
    int64_t lv[MAX_TOP]; /* R_TIME, R_SEQ, R_OP: the value */
    const uint8_t **vs = r->spans_, **ve = r->spans_ + p->n_vf;
    for (uint32_t i = 0; i < p->n_top; i++) {
        ts[i] = pos;
        int rc;
        /* The framework fields are read as they are checked (compile_prog() made sure of
         * their types); the rest is walked. Both refuse the same bytes as
         * canon_walk_skip(). */
        switch (p->role[i]) {
        case R_KEY:
        case R_SOURCE:
            rc = canon_read_str_fast(&pos, end, &sv[i], &sl[i]);
            break;
        case R_TIME:
        case R_SEQ:
            rc = canon_read_long_fast(&pos, end, &lv[i]);
            break;
        case R_OP:
            rc = canon_read_long_fast(&pos, end, &lv[i]) || lv[i] < 0 ||
                 lv[i] >= (int64_t)canon_walk_count(p->w, p->top_op[i]);
            break;
        case R_VALUES:
            rc = canon_walk_record_check(p->w, p->rec_op, &pos, end, vs, ve);
            break;
        default:
            rc = canon_walk_check(p->w, p->top_op[i], &pos, end);
            break;
        }
        if (rc) {
            /* Rare: walk the field again, keeping its path, to say what is wrong. */
            const char *name = canon_walk_field_name(p->w, 0, i);
            pos = ts[i];
            rc = p->role[i] == R_VALUES ? canon_walk_record(p->w, p->rec_op, &pos, end, vs, ve,
                                                            name, r->message, sizeof(r->message))
                                        : canon_walk_skip(p->w, p->top_op[i], &pos, end, name,
                                                          r->message, sizeof(r->message));
        }
        if (rc) {
            r->verdict = CANON_REJECT;
            r->reason = CANON_R_DECODE;
            return -1;
        }
    }
    if (pos != end) {
        reject(r, CANON_R_DECODE, "%zu bytes left over after the update record",
               (size_t)(end - pos));
        return -1;
    }

    /* The framework fields (read above). */
    const uint8_t *q;
    int64_t opi = 0;
    u->key = sv[p->top_of[R_KEY]];
    u->key_len = sl[p->top_of[R_KEY]];
    u->source = sv[p->top_of[R_SOURCE]];
    u->source_len = sl[p->top_of[R_SOURCE]];
    u->event_time = lv[p->top_of[R_TIME]];
    if (p->top_of[R_SEQ] >= 0)
        u->seq = lv[p->top_of[R_SEQ]];
    if (p->top_of[R_OP] >= 0)
        opi = lv[p->top_of[R_OP]];
    u->is_delete = p->delete_sym >= 0 && opi == p->delete_sym;
    u->n_fields = e->n_fields;
    u->provided = r->prov_;
    u->val_off = r->voff_;
    u->val_len = r->vlen_;
    memset(r->prov_, 0, e->n_fields);

    /* Provided fields: deduplicated, each a field of the writer's values record. */
    memset(r->seen_, 0, p->n_vf);
    uint32_t last = UINT32_MAX;
    if (!u->is_delete && p->top_of[R_PROVIDED] >= 0) {
        q = ts[p->top_of[R_PROVIDED]];
        for (;;) {
            int64_t count = 0, size = 0;
            canon_read_long_fast(&q, end, &count);
            if (count == 0)
                break;
            if (count < 0) {
                count = -count;
                canon_read_long_fast(&q, end, &size);
            }
            for (int64_t k = 0; k < count; k++) {
                const uint8_t *name = NULL;
                size_t n = 0;
                canon_read_str_fast(&q, end, &name, &n);
                /* Names usually come in schema order: look after the last match first. */
                uint32_t j = p->n_vf, k0 = last + 1 < p->n_vf ? last + 1 : 0;
                for (uint32_t t = 0; n && t < p->n_vf; t++) {
                    uint32_t x = k0 + t < p->n_vf ? k0 + t : k0 + t - p->n_vf;
                    const vfield *f = &p->vf[x];
                    if (f->name_len == n && f->name[0] == (char)name[0] &&
                        !memcmp(f->name, name, n)) {
                        j = x;
                        break;
                    }
                }
                if (j == p->n_vf) {
                    const cfield *kf = &e->f[e->key_idx];
                    reject(r, CANON_R_FIELD,
                           "provided: '%.*s' is not a field of update schema %d%s",
                           (int)(n > 100 ? 100 : n), (const char *)name, p->id,
                           n == kf->name_len && !memcmp(name, kf->name, n)
                               ? " (the key is never provided)"
                               : "");
                    return -1;
                }
                r->seen_[j] = 1;
                last = j;
            }
        }
    }

    /* Values, translated to the canonical encodings. */
    char why[200];
    for (uint32_t j = 0; j < p->n_vf; j++) {
        const vfield *vf = &p->vf[j];
        if (!r->seen_[j])
            continue;
        if (vf->cidx < 0) {
            u->n_ignored++;
            continue;
        }
        uint32_t c = (uint32_t)vf->cidx;
        int clear;
        if (direct && is_ident(&vf->m, vs[j], ve[j])) {
            /* canon_merge() takes the value from the message itself (vptr_). */
            r->prov_[c] = 1;
            r->vptr_[c] = vs[j];
            r->voff_[c] = UINT32_MAX;
            r->vlen_[c] = (uint32_t)(ve[j] - vs[j]);
            continue;
        }
        size_t off = r->vals_.len;
        if (translate(&vf->m, vs[j], ve[j], &r->vals_, &clear, why, sizeof(why))) {
            reject(r, CANON_R_TYPE, "values.%s: %s", vf->name, why);
            return -1;
        }
        r->prov_[c] = clear ? 2 : 1;
        r->voff_[c] = (uint32_t)off;
        r->vlen_[c] = (uint32_t)(r->vals_.len - off);
    }
    if (!canon_wbuf_ok(&r->vals_))
        return -2;
    u->vals = r->vals_.p;
    if (direct) {
        for (uint32_t c = 0; c < e->n_fields; c++) {
            if (r->prov_[c] == 1 && r->voff_[c] != UINT32_MAX)
                r->vptr_[c] = r->vals_.p + r->voff_[c];
        }
    }
    return 0;
}

int canon_update_decode(const canon_engine *e, const void *value, size_t value_len, canon_update *u,
                        canon_result *r)
{
    reset(r);
    if (result_reserve(r, e))
        return -2;
    return decode(e, value, value_len, r, u, 0);
}

/* Two updates of one version (a source that reused it) that give a field different
 * values: the larger canonical encoding (bytewise, a prefix first) wins, so that the
 * result does not depend on which came first. A clear compares as the default it reads
 * as, which is also how a restore sees it. Returns <0, 0 or >0 as the update's value is
 * smaller than, equal to or larger than the field's. */
static int tie_value_cmp(const canon_engine *e, const canon_field_state *fs, uint32_t c, int clear,
                         const uint8_t *val, size_t len)
{
    const uint8_t *old;
    size_t old_len;
    int none;
    effective(e, fs, c, &old, &old_len, &none);
    if (clear) {
        val = e->f[c].def;
        len = e->f[c].def_len;
    }
    size_t n = len < old_len ? len : old_len;
    int d = n ? memcmp(val, old, n) : 0;
    if (d)
        return d;
    return (len > old_len) - (len < old_len);
}

cg_err *canon_merge(const canon_engine *e, canon_state *st, const canon_msg *m, canon_result *r)
{
    canon_update u;
    reset(r);
    if (result_reserve(r, e))
        return cg_err_new(CG_ENOMEM, "out of memory merging");
    int rc = decode(e, m->value, m->value_len, r, &u, 1);
    if (rc == -2)
        return cg_err_new(CG_ENOMEM, "out of memory decoding an update");
    if (rc)
        return NULL;
    r->n_ignored = u.n_ignored;

    if (!m->key || m->key_len != u.key_len || memcmp(m->key, u.key, u.key_len)) {
        int pr = key_printable(u.key, u.key_len) && (!m->key || key_printable(m->key, m->key_len));
        if (pr)
            reject(r, CANON_R_KEY_MISMATCH, "body key '%.*s' differs from the message key '%.*s'",
                   (int)(u.key_len > 100 ? 100 : u.key_len), (const char *)u.key,
                   (int)(m->key_len > 100 ? 100 : m->key_len), m->key ? (const char *)m->key : "");
        else
            reject(r, CANON_R_KEY_MISMATCH, "body key differs from the message key");
        return NULL;
    }
    /* Refused here, not by canon_state_put: a failure there stops the pipeline, and the
     * same update would stop it again after every restart. */
    if (u.key_len > CANON_KEY_MAX) {
        reject(r, CANON_R_KEY_TOO_LONG,
               "key of %zu bytes is longer than the %d the aggregator keeps", u.key_len,
               CANON_KEY_MAX);
        return NULL;
    }
    if (u.source_len == 0 || u.source_len > 255) {
        reject(r, CANON_R_SOURCE, "source must be 1 to 255 bytes, not %zu", u.source_len);
        return NULL;
    }
    if (m->source_ok && !m->source_ok(m->source_opaque, u.source, u.source_len)) {
        reject(r, CANON_R_UNLISTED_SOURCE,
               "source '%.*s' is not a domain writer listed for this entity (auth file)",
               (int)u.source_len, (const char *)u.source);
        return NULL;
    }

    /* Writers (all or nothing), then fields that cannot be cleared. */
    for (uint32_t c = 0; c < e->n_fields; c++) {
        const cfield *cf = &e->f[c];
        if (!u.provided[c])
            continue;
        if (cf->writers) {
            uint32_t k;
            for (k = 0; k < cf->n_writers; k++) {
                if (cf->writer_lens[k] == u.source_len &&
                    !memcmp(cf->writers[k], u.source, u.source_len))
                    break;
            }
            if (k == cf->n_writers) {
                reject(r, CANON_R_WRITER, "source '%.*s' may not write field '%s' (canon.writers)",
                       (int)u.source_len, (const char *)u.source, cf->name);
                return NULL;
            }
        }
        if (u.provided[c] == 2 && !cf->has_def) {
            reject(r, CANON_R_REQUIRED,
                   "values.%s: field '%s' has no default and is not nullable, so it cannot be "
                   "cleared",
                   cf->name, cf->name);
            return NULL;
        }
    }

    canon_entity ent = {.fields = r->old_};
    canon_state_get(st, u.key, u.key_len, &ent);
    memcpy(r->fields_, r->old_, e->n_fields * sizeof(canon_field_state));
    canon_version uv = {
        .event_time = u.event_time, .seq = u.seq, .partition = m->partition, .offset = m->offset};
    /* Versions compare by the source's rank among all names, so the name is interned
     * before the decision; an update that then changes nothing gives it back (below). */
    uint32_t n_sources = canon_state_n_sources(st);
    uv.source = canon_state_source(st, (const char *)u.source, u.source_len);
    if (!uv.source)
        return cg_err_new(CG_ENOMEM, "out of memory interning a source");

    if (u.is_delete) {
        if (ent.has_deleted && canon_version_cmp(st, &uv, &ent.deleted) <= 0) {
            r->verdict = CANON_NOOP;
            goto unchanged;
        }
        /* A field of the DELETE's very version goes too: an update of that version
         * arriving after the DELETE is stale, so keeping it here would make the result
         * depend on the order. */
        for (uint32_t i = 0; i < e->n_fields; i++) {
            if (r->fields_[i].present && canon_version_cmp(st, &r->fields_[i].ver, &uv) <= 0)
                memset(&r->fields_[i], 0, sizeof(r->fields_[i]));
        }
        ent.has_deleted = 1;
        ent.deleted = uv;
        return finish(e, st, m, &ent, r);
    }

    for (uint32_t c = 0; c < e->n_fields; c++) {
        if (!u.provided[c])
            continue;
        canon_field_state *f = &r->fields_[c];
        int cmp = f->present ? canon_version_cmp(st, &uv, &f->ver) : 1;
        if (cmp == 0)
            cmp = tie_value_cmp(e, r->fields_, c, u.provided[c] == 2, r->vptr_[c], u.val_len[c]);
        if (cmp <= 0 || (ent.has_deleted && canon_version_cmp(st, &uv, &ent.deleted) <= 0)) {
            r->n_stale++;
            continue;
        }
        f->present = 1;
        f->cleared = u.provided[c] == 2;
        f->ver = uv;
        f->val = f->cleared ? NULL : r->vptr_[c];
        f->len = f->cleared ? 0 : u.val_len[c];
        r->n_applied++;
    }
    if (r->n_applied == 0) {
        r->verdict = CANON_NOOP;
        goto unchanged;
    }
    for (uint32_t k = 0; k < e->n_req; k++) {
        uint32_t i = e->req[k];
        if (!field_has_value(&r->fields_[i])) {
            reject(r, CANON_R_REQUIRED,
                   "field '%s' has no default: the update that creates the entity must set it",
                   e->f[i].name);
            goto unchanged;
        }
    }
    return finish(e, st, m, &ent, r);
unchanged:
    /* A source first seen in an update that changed nothing would stay in the table for
     * good (stale updates from ever new names would grow it without bound). */
    if (canon_state_n_sources(st) > n_sources)
        canon_state_source_drop_last(st, uv.source);
    return NULL;
}

/* ---- restore -------------------------------------------------------------------------- */

/* Reads a FieldVersion (with origin: the shape with partition and offset; without, they
 * are unknown, -1). */
static int read_fv(canon_state *st, const uint8_t **q, const uint8_t *end, int origin,
                   canon_version *v)
{
    const uint8_t *s;
    size_t n;
    int64_t part = -1;
    v->offset = -1;
    if (canon_read_str(q, end, &s, &n) || canon_read_long_fast(q, end, &v->event_time) ||
        canon_read_long_fast(q, end, &v->seq) ||
        (origin &&
         (canon_read_long_fast(q, end, &part) || canon_read_long_fast(q, end, &v->offset))))
        return -1;
    v->partition = (int32_t)part;
    v->source = canon_state_source(st, (const char *)s, n);
    return v->source ? 0 : -2;
}

cg_err *canon_restore(const canon_engine *e, canon_state *st, const void *key, size_t key_len,
                      const void *value, size_t value_len, canon_result *r)
{
    const uint8_t *v = value;
    if (!value)
        return NULL;
    if (result_reserve(r, e))
        return cg_err_new(CG_ENOMEM, "out of memory restoring");
    r->vals_.len = 0;
    if (value_len < 5 || v[0] != 0)
        return cg_err_new(CG_EDECODE, "canon record is not in Confluent framing");
    int32_t id =
        (int32_t)((uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 8 | v[4]);
    const prog *p = find_prog(e, id);
    if (!p || !p->is_env)
        return cg_err_new(CG_ESCHEMA_NOT_FOUND, "schema id %d is not a known envelope schema", id);
    const uint8_t *pos = v + 5, *end = v + value_len;
    const uint8_t *ts[MAX_TOP];
    for (uint32_t i = 0; i < p->n_top; i++) {
        ts[i] = pos;
        if (canon_walk_skip(p->w, p->top_op[i], &pos, end, canon_walk_field_name(p->w, 0, i),
                            r->message, sizeof(r->message)))
            return cg_err_new(CG_EDECODE, "canon record: %s", r->message);
    }
    if (pos != end)
        return cg_err_new(CG_EDECODE, "canon record: bytes left over");

    canon_entity ent = {.fields = r->fields_};
    const uint8_t *q = ts[p->top_of[R_KEY]];
    canon_read_str(&q, end, &ent.key, &ent.key_len);
    if (key && (key_len != ent.key_len || memcmp(key, ent.key, key_len)))
        return cg_err_new(CG_EDECODE, "canon record: envelope key differs from the message key");
    int64_t ver = 0, br = 0;
    q = ts[p->top_of[R_VERSION]];
    canon_read_long_fast(&q, end, &ver);
    ent.version = (uint64_t)ver;

    const uint8_t **vs = r->spans_, **ve = r->spans_ + p->n_vf;
    q = ts[p->top_of[R_AFTER]];
    canon_read_long_fast(&q, end, &br);
    int has_after = br == p->after_branch;
    if (has_after && canon_walk_record(p->w, p->rec_op, &q, end, vs, ve, "after", r->message,
                                       sizeof(r->message)))
        return cg_err_new(CG_EDECODE, "canon record: %s", r->message);

    memset(r->fields_, 0, e->n_fields * sizeof(canon_field_state));
    memset(r->voff_, 0, e->n_fields * sizeof(uint32_t));
    q = ts[p->top_of[R_PROV]];
    for (;;) {
        int64_t count = 0, size = 0;
        canon_read_long_fast(&q, end, &count);
        if (count == 0)
            break;
        if (count < 0) {
            count = -count;
            canon_read_long_fast(&q, end, &size);
        }
        for (int64_t k = 0; k < count; k++) {
            const uint8_t *name;
            size_t n;
            canon_version fv;
            canon_read_str(&q, end, &name, &n);
            int rc = read_fv(st, &q, end, p->prov_origin, &fv);
            if (rc == -2)
                return cg_err_new(CG_ENOMEM, "out of memory restoring");
            uint32_t j;
            for (j = 0; j < p->n_vf; j++) {
                if (p->vf[j].name_len == n && !memcmp(p->vf[j].name, name, n))
                    break;
            }
            if (j == p->n_vf || p->vf[j].cidx < 0)
                continue; /* a field the canonical schema no longer has */
            uint32_t c = (uint32_t)p->vf[j].cidx;
            canon_field_state *f = &r->fields_[c];
            f->present = 1;
            f->ver = fv;
            f->cleared = 1;
            if (!has_after)
                continue;
            int clear;
            char why[200];
            size_t off = r->vals_.len;
            if (translate(&p->vf[j].m, vs[j], ve[j], &r->vals_, &clear, why, sizeof(why)))
                return cg_err_new(CG_EDECODE, "canon record: after.%s: %s", p->vf[j].name, why);
            size_t len = r->vals_.len - off;
            /* A value equal to the default is stored as "cleared": same record, less state. */
            if (clear || (e->f[c].has_def && len == e->f[c].def_len &&
                          (!len || !memcmp(r->vals_.p + off, e->f[c].def, len)))) {
                r->vals_.len = off;
                continue;
            }
            f->cleared = 0;
            f->len = (uint32_t)len;
            r->voff_[c] = (uint32_t)off;
        }
    }
    if (!canon_wbuf_ok(&r->vals_))
        return cg_err_new(CG_ENOMEM, "out of memory restoring");
    for (uint32_t i = 0; i < e->n_fields; i++) {
        if (field_has_value(&r->fields_[i]))
            r->fields_[i].val = r->vals_.p + r->voff_[i];
    }
    if (p->top_of[R_DELETED] >= 0) {
        q = ts[p->top_of[R_DELETED]];
        canon_read_long_fast(&q, end, &br);
        if (br == p->deleted_branch) {
            if (read_fv(st, &q, end, p->deleted_origin, &ent.deleted) == -2)
                return cg_err_new(CG_ENOMEM, "out of memory restoring");
            ent.has_deleted = 1;
        }
    }
    return canon_state_put(st, &ent);
}

int canon_entity_record(const canon_engine *e, canon_state *st, const void *key, size_t key_len,
                        canon_result *r, canon_wbuf *out)
{
    if (result_reserve(r, e))
        return 0;
    canon_entity ent = {.fields = r->fields_};
    if (!canon_state_get(st, key, key_len, &ent) || !alive(e, r->fields_))
        return 0;
    put_record(e, r->fields_, key, key_len, out);
    return 1;
}
