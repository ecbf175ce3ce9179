/* gen_python.c - gen_python(): a pip-installable Python package from an Avro schema.
 *
 * Layout (docs/bindings-python.md): every type of the binding lives in one module named
 * after the root type, inside the package path of the root's Avro namespace
 * (org.canongate.canon.Person -> src/org/canongate/canon/person.py); types of other
 * namespaces are re-exported from the same-named module of their namespace. Namespace
 * directories have no __init__.py (PEP 420 namespace packages), so bindings of two
 * entities in one namespace install side by side. The framework types of docs/wire.md
 * live in package `canongate`, written from the same text by every binding.
 *
 * A canonical entity (a record with canon.key satisfying the contract) also gets its
 * derived update and envelope records and the helpers of gen_python_entity.c. */
#include <stdlib.h>
#include <string.h>

#include "../registry/canon_contract.h"
#include "../registry/canon_derive.h"
#include "gen_internal.h"
#include "gen_python_internal.h"

/* The framework types of docs/wire.md, as one schema (a union of them). */
static const char framework_schema[] =
    "[{\"type\": \"enum\", \"name\": \"UpdateOp\", \"namespace\": \"canongate\", "
    "\"symbols\": [\"UPSERT\", \"DELETE\"]},"
    " {\"type\": \"enum\", \"name\": \"ChangeOp\", \"namespace\": \"canongate\", "
    "\"symbols\": [\"CREATE\", \"UPDATE\", \"DELETE\"]},"
    " {\"type\": \"record\", \"name\": \"FieldVersion\", \"namespace\": \"canongate\", "
    "\"fields\": [{\"name\": \"source\", \"type\": \"string\"},"
    " {\"name\": \"event_time\", \"type\": {\"type\": \"long\", \"logicalType\": "
    "\"timestamp-millis\"}},"
    " {\"name\": \"seq\", \"type\": \"long\"},"
    " {\"name\": \"partition\", \"type\": \"int\", \"default\": -1},"
    " {\"name\": \"offset\", \"type\": \"long\", \"default\": -1}]},"
    " {\"type\": \"record\", \"name\": \"Cause\", \"namespace\": \"canongate\", "
    "\"fields\": [{\"name\": \"topic\", \"type\": \"string\"},"
    " {\"name\": \"partition\", \"type\": \"int\"}, {\"name\": \"offset\", \"type\": "
    "\"long\"}]}]";

static const char *path_of_module(pyg *g, const char *module)
{
    char *p = pg_dup(g, module);
    for (char *c = p; *c; c++)
        if (*c == '.')
            *c = '/';
    return pg_strf(g, "src/%s.py", p);
}

static cg_err *emit_framework(gen_files *out)
{
    reg_schema *fs = NULL;
    pyg g = {0};
    cg_err *err = reg_schema_parse(framework_schema, strlen(framework_schema), NULL, 0, &fs);
    if (err)
        return err;
    static const gen_opts none = {0};
    g.o = &none;
    g.out = out;
    g.framework = 1;
    g.origin = "the canon framework types (docs/wire.md), the same in every binding";
    g.path = "src/canongate/__init__.py";
    pg_collect(&g, reg_schema_root(fs));
    g.n_unions = 0; /* the union that lists the types is no type of the package */
    pg_name_classes(&g, "canongate");
    pg_header(&g, "Framework types of the canon (namespace canongate), shared by every entity's "
                  "binding.\n\nUpdateOp and ChangeOp say what an update or an envelope does; "
                  "FieldVersion is\nthe provenance of a field's value; Cause is the update "
                  "message an envelope\ncame from.");
    pg_emit_module_body(&g, reg_schema_root(fs), NULL, NULL);
    pg_emit_parsed(&g, reg_schema_root(fs), NULL);
    gen_files_append(out, "src/canongate/py.typed", "", 0);
    pg_emit_runtime(out);
    if (g.oom)
        err = cg_err_new(CG_ENOMEM, "out of memory generating the canongate package");
    pg_free(&g);
    reg_schema_free(fs);
    return err;
}

/* Re-export modules: a type of namespace ns is importable from <ns>.<module> too. */
static void emit_reexports(pyg *g, const char *impl_module, const char *root_ns, const char *mod)
{
    for (size_t i = 0; i < g->n_named; i++) {
        const reg_node *n = g->named[i];
        const char *ns = n->namespace_ ? n->namespace_ : "";
        if (pg_is_framework(n) || !strcmp(ns, root_ns) || n->type == REG_FIXED)
            continue;
        int seen = 0; /* one module per namespace: written at its first type */
        for (size_t j = 0; j < i; j++) {
            const char *nsj = g->named[j]->namespace_ ? g->named[j]->namespace_ : "";
            if (!pg_is_framework(g->named[j]) && g->named[j]->type != REG_FIXED && !strcmp(nsj, ns))
                seen = 1;
        }
        if (seen)
            continue;
        const char *module = pg_module_of(g, ns, mod);
        g->path = path_of_module(g, module);
        pg_header(g, pg_strf(g, "Types of Avro namespace %s in this binding (defined in %s).",
                             *ns ? ns : "(none)", impl_module));
        for (size_t j = i; j < g->n_named; j++) {
            const reg_node *m = g->named[j];
            const char *nsj = m->namespace_ ? m->namespace_ : "";
            if (m->type == REG_FIXED || pg_is_framework(m) || strcmp(nsj, ns))
                continue;
            gen_files_printf(g->out, g->path, "from %s import %s as %s\n", impl_module, g->cls[j],
                             pg_is_keyword(m->name) ? g->cls[j] : m->name);
        }
        if (*ns) {
            char *dir = pg_dup(g, g->path);
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = '\0';
            gen_files_append(g->out, pg_strf(g, "%s/py.typed", dir), "", 0);
        }
    }
}

cg_err *pg_generate(const reg_schema *s, const char *schema_text, const gen_opts *o,
                    const char *update_text, const char *envelope_text, gen_files *out)
{
    static const gen_opts none = {0};
    cg_err *err = NULL;
    reg_schema *us = NULL, *es = NULL;
    pyg g = {0};
    if (!o)
        o = &none;
    if (update_text && envelope_text) {
        err = reg_schema_parse(update_text, strlen(update_text), NULL, 0, &us);
        if (!err)
            err = reg_schema_parse(envelope_text, strlen(envelope_text), NULL, 0, &es);
        if (err)
            goto done;
    }
    const reg_node *root = reg_schema_root(s);
    g.o = o;
    g.out = out;
    g.origin = o->origin ? o->origin : "an Avro schema";
    pg_collect(&g, root);
    if (us) {
        pg_collect(&g, reg_schema_root(us));
        pg_collect(&g, reg_schema_root(es));
    }
    /* A record root is the type the harness drives; any other root gets a wrapper class
     * (an enum too: codec methods on a str Enum would replace str.encode). A named root
     * still gives the module its name and namespace. */
    int named_root = root->type == REG_RECORD || root->type == REG_ENUM || root->type == REG_FIXED;
    const char *root_ns = named_root && root->namespace_ ? root->namespace_ : "";
    const char *rname = o->root_name && *o->root_name ? o->root_name : "Root";
    if (!reg_name_valid(rname)) {
        err = cg_err_new(CG_EINVAL, "root name '%s' is not a valid Avro name", rname);
        goto done;
    }
    const char *mod = pg_component(&g, pg_snake(&g, named_root ? root->name : rname), 0);
    pg_name_classes(&g, root_ns);
    const char *wrapper = NULL;
    if (root->type != REG_RECORD) {
        wrapper = pg_is_keyword(rname) ? pg_strf(&g, "%s_", rname) : rname;
        for (size_t i = 0; i < g.n_named; i++)
            if (!strcmp(g.cls[i], wrapper))
                wrapper = pg_strf(&g, "%s_", wrapper); /* a type of the schema is named so */
    }
    const char *impl_module = pg_module_of(&g, root_ns, mod);
    g.path = path_of_module(&g, impl_module);
    pg_header(&g,
              pg_strf(&g,
                      "Python binding of %s (Avro %s), generated from %s.\n\n"
                      "Every type of the binding is defined here; see "
                      "docs/bindings-python.md for the\ntype mapping.",
                      named_root ? root->fullname : rname, reg_type_name(root->type), g.origin));
    pg_emit_module_body(&g, root, schema_text, wrapper);
    if (us) {
        err = pg_emit_entity(&g, root, reg_schema_root(us), reg_schema_root(es), update_text,
                             envelope_text);
        if (err)
            goto done;
    }
    pg_emit_parsed(&g, root, wrapper);
    if (*root_ns) {
        char *dir = pg_dup(&g, g.path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        gen_files_append(out, pg_strf(&g, "%s/py.typed", dir), "", 0);
    }
    emit_reexports(&g, impl_module, root_ns, mod);
    pg_emit_package(&g, impl_module, wrapper ? wrapper : pg_class(&g, root), us != NULL);
    err = emit_framework(out);
    if (err)
        goto done;
    if (g.bad)
        err = cg_err_new(CG_EINVALID_SCHEMA, "%s", g.bad);
    else if (g.oom || gen_files_failed(out))
        err = cg_err_new(CG_ENOMEM, "out of memory generating the Python binding");
done:
    pg_free(&g);
    reg_schema_free(us);
    reg_schema_free(es);
    return err;
}

/* A canonical entity: a record carrying canon.key. Its contract is checked by the
 * derivation: a schema that claims to be canonical and breaks the contract is refused,
 * as the C and Java generators refuse it, rather than given a plain binding whose users
 * would find the entity layer missing only at run time. */
static int is_entity(const reg_schema *s)
{
    const reg_node *root = reg_schema_root(s);
    return root->type == REG_RECORD && root->props && json_object_get(root->props, "canon.key");
}

cg_err *gen_python(const reg_schema *s, const char *schema_text, const gen_opts *o, gen_files *out)
{
    char *upd = NULL, *env = NULL;
    cg_err *err = NULL;
    if (is_entity(s)) {
        err = reg_canon_derive_update(s, &upd);
        if (!err)
            err = reg_canon_derive_envelope(s, &env);
        if (err) {
            err = cg_err_wrap(err, "derived schemas of '%s': ", reg_schema_root(s)->fullname);
            goto done;
        }
    }
    err = pg_generate(s, schema_text, o, upd, env, out);
done:
    free(upd);
    free(env);
    return err;
}
