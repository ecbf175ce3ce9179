/* gen_java.c - gen_java(): the Java binding generator's entry point.
 *
 * Lists the named types the schema reaches (one class each), wraps a root that is not a
 * record in a one-field record (so the harness and users get a codec for "int" or a
 * union: a one-field record encodes exactly as its field), adds the derived update and
 * envelope types for a canonical entity, and writes the classes, the fixed runtime, the
 * pom.xml and, on request, the round-trip harness. The layout is a Maven project
 * (src/main/java/<package dirs>/<Class>.java) whose packages are the Avro namespaces, so
 * Avro Java's SpecificData finds the classes by the schemas' full names. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../registry/canon_derive.h"
#include "gen_internal.h"
#include "gen_java_internal.h"

static int is_named(const reg_node *n)
{
    return n->type == REG_RECORD || n->type == REG_ENUM || n->type == REG_FIXED;
}

static const reg_node *find_named(const jgen *g, const char *fullname)
{
    for (size_t i = 0; i < g->n_named; i++)
        if (!strcmp(g->named[i]->fullname, fullname))
            return g->named[i];
    return NULL;
}

/* Depth-first, recording named types on first sight (which also stops recursion). */
static void collect(jgen *g, const reg_node *n)
{
    if (n->logical != REG_LT_NONE && jg_conversion(n))
        g->used_lt[n->logical] = 1;
    if (is_named(n)) {
        if (find_named(g, n->fullname))
            return;
        if (g->n_named == g->cap_named) {
            size_t cap = g->cap_named ? g->cap_named * 2 : 16;
            const reg_node **a = realloc(g->named, cap * sizeof *a);
            if (!a) {
                g->oom = 1;
                return;
            }
            g->named = a;
            g->cap_named = cap;
        }
        g->named[g->n_named++] = n;
    }
    switch (n->type) {
    case REG_RECORD:
        for (size_t i = 0; i < n->n_fields; i++)
            collect(g, n->fields[i].type);
        break;
    case REG_ARRAY:
    case REG_MAP:
        collect(g, n->items);
        break;
    case REG_UNION:
        for (size_t i = 0; i < n->n_branches; i++)
            collect(g, n->branches[i]);
        break;
    default:
        break;
    }
}

/* A named type in the null namespace reached from a field of t (through unions, arrays
 * and maps, not through other records, which are checked on their own), or NULL. */
static const reg_node *default_pkg_use(const reg_node *t)
{
    switch (t->type) {
    case REG_RECORD:
    case REG_ENUM:
    case REG_FIXED:
        return (!t->namespace_ || !*t->namespace_) ? t : NULL;
    case REG_ARRAY:
    case REG_MAP:
        return default_pkg_use(t->items);
    case REG_UNION:
        for (size_t i = 0; i < t->n_branches; i++) {
            const reg_node *u = default_pkg_use(t->branches[i]);
            if (u)
                return u;
        }
        return NULL;
    default:
        return NULL;
    }
}

/* Java cannot name a class of the default package from a named package. */
static cg_err *check_packages(const jgen *g)
{
    for (size_t i = 0; i < g->n_named; i++) {
        const reg_node *n = g->named[i];
        if (n->type != REG_RECORD || !n->namespace_ || !*n->namespace_)
            continue;
        for (size_t k = 0; k < n->n_fields; k++) {
            const reg_node *u = default_pkg_use(n->fields[k].type);
            if (u)
                return cg_err_new(CG_EINVALID_SCHEMA,
                                  "java: field '%s.%s' uses type '%s' of the null namespace; "
                                  "Java cannot refer to the default package from package '%s' "
                                  "(give '%s' a namespace)",
                                  n->fullname, n->fields[k].name, u->fullname, n->namespace_,
                                  u->fullname);
        }
    }
    return NULL;
}

/* Parses {"type":"record","name":<root_name>,"fields":[{"name":"value","type":<root>}]}. */
static cg_err *wrap_root(const reg_node *root, const char *root_name, reg_schema **out)
{
    json_t *t = reg_node_json(root, 0);
    json_t *w = t ? json_pack("{s:s, s:s, s:[{s:s, s:o}]}", "type", "record", "name", root_name,
                              "fields", "name", "value", "type", t)
                  : NULL;
    char *text = w ? json_dumps(w, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(w);
    if (!text)
        return cg_err_new(CG_ENOMEM, "out of memory");
    cg_err *err = reg_schema_parse(text, strlen(text), NULL, 0, out);
    free(text);
    if (err)
        return cg_err_wrap(err, "wrapping the root type in record %s: ", root_name);
    return NULL;
}

static cg_err *derive(const reg_schema *s, cg_err *(*fn)(const reg_schema *, char **), char **text,
                      reg_schema **out)
{
    cg_err *err = fn(s, text);
    if (err)
        return err;
    return reg_schema_parse(*text, strlen(*text), NULL, 0, out);
}

cg_err *gen_java(const reg_schema *s, const char *schema_text, const gen_opts *o, gen_files *out)
{
    (void)schema_text;
    jgen g;
    memset(&g, 0, sizeof g);
    g.o = o;
    g.out = out;
    g.origin = o->origin && *o->origin ? o->origin : "an Avro schema";
    cg_err *err = NULL;
    reg_schema *wrapped = NULL, *upd = NULL, *env = NULL;
    char *upd_text = NULL, *env_text = NULL;
    const char *root_name = o->root_name && *o->root_name ? o->root_name : "Root";

    const reg_node *root = reg_schema_root(s);
    const reg_node *root_rec = root;
    int wrapper = root->type != REG_RECORD;
    if (wrapper) {
        if (!reg_name_valid(root_name)) {
            err = cg_err_new(CG_EINVAL, "java: root name '%s' is not an Avro name", root_name);
            goto done;
        }
        err = wrap_root(root, root_name, &wrapped);
        if (err)
            goto done;
        root_rec = reg_schema_root(wrapped);
    }
    collect(&g, root_rec);
    if (wrapper) {
        /* The wrapper's own name must not hide a type of the schema. */
        for (size_t i = 1; i < g.n_named; i++)
            if (!strcmp(g.named[i]->fullname, root_name)) {
                err = cg_err_new(CG_EINVALID_SCHEMA,
                                 "java: the schema defines a type named '%s', the name of the "
                                 "root wrapper; pick another with --root-name",
                                 root_name);
                goto done;
            }
    }

    err = check_packages(&g);
    if (err)
        goto done;

    const int canonical = !wrapper && root->props && json_object_get(root->props, "canon.key");
    int entity = 0;
    if (canonical) {
        err = derive(s, reg_canon_derive_update, &upd_text, &upd);
        if (!err)
            err = derive(s, reg_canon_derive_envelope, &env_text, &env);
        if (err) {
            err = cg_err_wrap(err, "derived schemas of '%s': ", root->fullname);
            goto done;
        }
        collect(&g, reg_schema_root(upd));
        collect(&g, reg_schema_root(env));
        entity = 1;
    }

    for (size_t i = 0; i < g.n_named; i++) {
        const reg_node *n = g.named[i];
        if (n->type == REG_RECORD)
            jg_emit_record(&g, n, wrapper && n == root_rec);
        else if (n->type == REG_ENUM)
            jg_emit_enum(&g, n);
        else
            jg_emit_fixed(&g, n);
    }
    jg_emit_runtime(&g);
    jg_emit_pom(&g);
    if (entity)
        jg_emit_entity(&g, root, reg_schema_root(upd), reg_schema_root(env), upd_text, env_text);
    if (o->harness)
        jg_emit_harness(&g, jg_fqn(&g, root_rec));
    if (g.oom || gen_files_failed(out))
        err = cg_err_new(CG_ENOMEM, "java: out of memory while generating");

done:
    jg_free(&g);
    reg_schema_free(wrapped);
    reg_schema_free(upd);
    reg_schema_free(env);
    free(upd_text);
    free(env_text);
    return err;
}
