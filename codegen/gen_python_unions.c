/* gen_python_unions.c - the helper functions each union of the schema gets.
 *
 * A union's conversions need statements (a branch test per branch), so each union gets
 * four small module-level functions instead of an inline expression: _u<N>_avro and
 * _u<N>_from_avro (fastavro's form), _u<N>_json and _u<N>_from_json (Avro JSON). The
 * common ["null", T] union is converted inline by gen_python_types.c on the binary path,
 * which is the hot one; its JSON helpers are still written here.
 *
 * How a branch is recognised (docs/bindings-python.md, "Unions"):
 * - plain unions: by the value's Python type, most specific first (bool before int, the
 *   generated classes before str, since enums are str subclasses; datetime before date);
 * - ambiguous unions: the value is (branch name, value), and the fastavro schema wraps
 *   each unnamed branch in a record named canongate.branch.u<N>_<i>
 *   (gen_python_types.c), so decoding returns the branch by name too. */
#include <stdlib.h>
#include <string.h>

#include "gen_python_internal.h"

#define OUT(...) gen_files_printf(g->out, g->path, __VA_ARGS__)

static int kind_rank(const reg_node *b)
{
    static const char *const order[] = {"None", "bool",    "",     "datetime", "date",
                                        "time", "Decimal", "UUID", "int",      "float",
                                        "str",  "bytes",   "list", "dict",     NULL};
    if (b->type == REG_RECORD || b->type == REG_ENUM)
        return 2;
    const char *k = pg_py_kind(b);
    for (int i = 0; order[i]; i++)
        if (!strcmp(order[i], k))
            return i;
    return 99;
}

static const char *isinstance_test(pyg *g, const reg_node *b)
{
    if (b->type == REG_RECORD || b->type == REG_ENUM)
        return pg_strf(g, "isinstance(v, %s)", pg_class(g, b));
    const char *k = pg_py_kind(b);
    if (!strcmp(k, "None"))
        return "v is None";
    if (!strcmp(k, "float"))
        return "isinstance(v, (float, int))";
    if (!strcmp(k, "bytes"))
        return "isinstance(v, (bytes, bytearray))";
    if (!strcmp(k, "datetime") || !strcmp(k, "date") || !strcmp(k, "time"))
        return pg_strf(g, "isinstance(v, datetime.%s)", k);
    if (!strcmp(k, "Decimal"))
        return "isinstance(v, decimal.Decimal)";
    if (!strcmp(k, "UUID"))
        return "isinstance(v, uuid.UUID)";
    return pg_strf(g, "isinstance(v, %s)", k);
}

/* Branches sorted by how specific their isinstance test is (stable). */
static void sorted_branches(const reg_node *n, size_t *idx)
{
    for (size_t i = 0; i < n->n_branches; i++)
        idx[i] = i;
    for (size_t i = 1; i < n->n_branches; i++)
        for (size_t j = i;
             j > 0 && kind_rank(n->branches[idx[j - 1]]) > kind_rank(n->branches[idx[j]]); j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
}

static const char *describe(pyg *g, const reg_node *n)
{
    const char *acc = "";
    for (size_t i = 0; i < n->n_branches; i++)
        acc = pg_strf(g, "%s%s%s", acc, i ? ", " : "", pg_branch_name(n->branches[i]));
    return pg_strf(g, "[%s]", acc);
}

static int has_null(const reg_node *n)
{
    for (size_t i = 0; i < n->n_branches; i++)
        if (n->branches[i]->type == REG_NULL)
            return 1;
    return 0;
}

static void emit_plain_avro(pyg *g, const pg_union *u)
{
    const reg_node *n = u->node;
    size_t *idx = malloc((n->n_branches + 1) * sizeof(*idx));
    if (!idx) {
        g->oom = 1;
        return;
    }
    sorted_branches(n, idx);
    OUT("\n\ndef _u%zu_avro(v: typing.Any) -> typing.Any:\n", u->index);
    for (size_t k = 0; k < n->n_branches; k++) {
        const reg_node *b = n->branches[idx[k]];
        if (b->type == REG_NULL) {
            OUT("    if v is None:\n        return None\n");
            continue;
        }
        g->where = pg_strf(g, "union %s", describe(g, n));
        const char *c = pg_to_avro(g, b, "v", 0);
        g->where = NULL;
        OUT("    if %s:\n        return (%s, %s)\n", isinstance_test(g, b),
            pg_lit(g, pg_branch_name(b)), c ? c : "v");
    }
    OUT("    raise _rt.AvroError(f\"union %s: a {type(v).__name__} matches no branch\")\n",
        describe(g, n));
    free(idx);

    if (!pg_from_avro(g, n, "v", 0))
        return; /* decoded values need no conversion: no helper */
    OUT("\n\ndef _u%zu_from_avro(v: typing.Any) -> typing.Any:\n", u->index);
    if (has_null(n))
        OUT("    if v is None:\n        return None\n");
    int named = 0;
    for (size_t i = 0; i < n->n_branches; i++)
        named |= pg_is_named(n->branches[i]);
    if (named) {
        OUT("    if type(v) is tuple:\n        name, x = v\n");
        for (size_t i = 0; i < n->n_branches; i++) {
            const reg_node *b = n->branches[i];
            if (!pg_is_named(b))
                continue;
            const char *c = pg_from_avro(g, b, "x", 0);
            OUT("        if name == %s:\n            return %s\n", pg_lit(g, b->fullname),
                c ? c : "x");
        }
        OUT("        raise _rt.AvroError(f\"union %s: no branch {name!r}\")\n", describe(g, n));
    }
    for (size_t i = 0; i < n->n_branches; i++) {
        const reg_node *b = n->branches[i];
        /* unnamed branches whose decoded value needs converting; a union holds at most
         * one array, one map and one bytes, so the decoded type tells the branch */
        if (b->type != REG_ARRAY && b->type != REG_MAP && b->type != REG_BYTES)
            continue;
        const char *c = pg_from_avro(g, b, "v", 0);
        if (c)
            OUT("    if isinstance(v, %s):\n        return %s\n",
                b->type == REG_ARRAY ? "list"
                : b->type == REG_MAP ? "dict"
                                     : "bytes",
                c);
    }
    OUT("    return v\n");
}

static void emit_ambiguous_avro(pyg *g, const pg_union *u)
{
    const reg_node *n = u->node;
    OUT("\n\ndef _u%zu_avro(v: typing.Any) -> typing.Any:\n", u->index);
    if (has_null(n))
        OUT("    if v is None:\n        return None\n");
    OUT("    name, x = v\n");
    for (size_t i = 0; i < n->n_branches; i++) {
        const reg_node *b = n->branches[i];
        if (b->type == REG_NULL)
            continue;
        g->where = pg_strf(g, "union %s", describe(g, n));
        const char *c = pg_to_avro(g, b, "x", 0);
        g->where = NULL;
        if (pg_is_named(b))
            OUT("    if name == %s:\n        return (name, %s)\n", pg_lit(g, b->fullname),
                c ? c : "x");
        else
            OUT("    if name == %s:\n        return ('canongate.branch.u%zu_%zu', {'v': %s})\n",
                pg_lit(g, pg_branch_name(b)), u->index, i, c ? c : "x");
    }
    OUT("    raise _rt.AvroError(f\"union %s: no branch {name!r}\")\n", describe(g, n));

    OUT("\n\ndef _u%zu_from_avro(v: typing.Any) -> typing.Any:\n", u->index);
    if (has_null(n))
        OUT("    if v is None:\n        return None\n");
    OUT("    name, x = v\n");
    for (size_t i = 0; i < n->n_branches; i++) {
        const reg_node *b = n->branches[i];
        if (b->type == REG_NULL)
            continue;
        if (pg_is_named(b)) {
            const char *c = pg_from_avro(g, b, "x", 0);
            OUT("    if name == %s:\n        return (name, %s)\n", pg_lit(g, b->fullname),
                c ? c : "x");
        } else {
            const char *c = pg_from_avro(g, b, "x['v']", 0);
            OUT("    if name == 'canongate.branch.u%zu_%zu':\n        return (%s, %s)\n", u->index,
                i, pg_lit(g, pg_branch_name(b)), c ? c : "x['v']");
        }
    }
    OUT("    raise _rt.AvroError(f\"union %s: no branch {name!r}\")\n", describe(g, n));
}

static void emit_json(pyg *g, const pg_union *u)
{
    const reg_node *n = u->node;
    int amb = u->kind == PG_UNION_AMBIGUOUS;
    OUT("\n\ndef _u%zu_json(v: typing.Any) -> typing.Any:\n", u->index);
    if (has_null(n))
        OUT("    if v is None:\n        return None\n");
    if (amb) {
        OUT("    name, x = v\n");
        for (size_t i = 0; i < n->n_branches; i++) {
            const reg_node *b = n->branches[i];
            if (b->type == REG_NULL)
                continue;
            OUT("    if name == %s:\n        return {name: %s}\n", pg_lit(g, pg_branch_name(b)),
                pg_to_json(g, b, "x", 0));
        }
        OUT("    raise _rt.AvroError(f\"union %s: no branch {name!r}\")\n", describe(g, n));
    } else {
        size_t *idx = malloc((n->n_branches + 1) * sizeof(*idx));
        if (!idx) {
            g->oom = 1;
            return;
        }
        sorted_branches(n, idx);
        for (size_t k = 0; k < n->n_branches; k++) {
            const reg_node *b = n->branches[idx[k]];
            if (b->type == REG_NULL)
                continue;
            OUT("    if %s:\n        return {%s: %s}\n", isinstance_test(g, b),
                pg_lit(g, pg_branch_name(b)), pg_to_json(g, b, "v", 0));
        }
        OUT("    raise _rt.AvroError(f\"union %s: a {type(v).__name__} matches no branch\")\n",
            describe(g, n));
        free(idx);
    }

    OUT("\n\ndef _u%zu_from_json(x: typing.Any) -> typing.Any:\n", u->index);
    if (has_null(n))
        OUT("    if x is None:\n        return None\n");
    OUT("    name, v = _rt.j_union(x)\n");
    for (size_t i = 0; i < n->n_branches; i++) {
        const reg_node *b = n->branches[i];
        if (b->type == REG_NULL)
            continue;
        const char *c = pg_from_json(g, b, "v", 0);
        if (amb)
            OUT("    if name == %s:\n        return (name, %s)\n", pg_lit(g, pg_branch_name(b)), c);
        else
            OUT("    if name == %s:\n        return %s\n", pg_lit(g, pg_branch_name(b)), c);
    }
    OUT("    raise _rt.AvroError(f\"union %s: no branch {name!r}\")\n", describe(g, n));
}

void pg_emit_unions(pyg *g)
{
    if (g->n_unions)
        OUT("\n\n# ---- unions: branch selection (see docs/bindings-python.md, \"Unions\") ----");
    for (size_t i = 0; i < g->n_unions; i++) {
        const pg_union *u = &g->unions[i];
        if (!u->emit)
            continue;
        if (u->kind == PG_UNION_PLAIN)
            emit_plain_avro(g, u);
        else if (u->kind == PG_UNION_AMBIGUOUS)
            emit_ambiguous_avro(g, u);
        emit_json(g, u);
    }
}
