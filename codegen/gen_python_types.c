/* gen_python_types.c - how each Avro type looks in Python, and the expressions that
 * convert it.
 *
 * The binding keeps values as plain Python objects (dataclasses, str Enums, datetime,
 * Decimal, UUID; docs/bindings-python.md has the table) and lets fastavro do the Avro
 * work. Four conversions are generated per type, as straight-line expressions rather
 * than a reflective walk, so that encoding stays close to plain fastavro's speed:
 * binding <-> fastavro's dict form (to_avro/from_avro) and binding <-> Avro JSON
 * (to_json/from_json). An expression that would be the identity is returned as NULL so
 * that callers pass values (and whole lists of them) through untouched.
 *
 * Unions whose branches share a Python type (int and long, bytes and a fixed, ...) keep
 * the branch in the value as a (branch name, value) tuple; fastavro's decoder only tags
 * named types, so for those unions the schema handed to fastavro wraps each unnamed
 * branch in a one-field record (same bytes: a record is the concatenation of its fields)
 * and the decoder learns the branch from the wrapper's name. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gen_python_internal.h"

static const char *const framework_types[] = {"canongate.UpdateOp", "canongate.ChangeOp",
                                              "canongate.FieldVersion", "canongate.Cause", NULL};

int pg_is_framework(const reg_node *n)
{
    if (!n->fullname)
        return 0;
    for (size_t i = 0; framework_types[i]; i++)
        if (!strcmp(framework_types[i], n->fullname))
            return 1;
    return 0;
}

static int is_named(const reg_node *n)
{
    return n->type == REG_RECORD || n->type == REG_ENUM || n->type == REG_FIXED;
}

/* The Python type a value of n has, as a key: two union branches with one key cannot be
 * told apart by their Python values. */
static const char *py_kind(const reg_node *n)
{
    switch (n->type) {
    case REG_NULL:
        return "None";
    case REG_BOOLEAN:
        return "bool";
    case REG_INT:
    case REG_LONG:
        switch (n->logical) {
        case REG_LT_DATE:
            return "date";
        case REG_LT_TIME_MILLIS:
        case REG_LT_TIME_MICROS:
            return "time";
        case REG_LT_TIMESTAMP_MILLIS:
        case REG_LT_TIMESTAMP_MICROS:
        case REG_LT_LOCAL_TIMESTAMP_MILLIS:
        case REG_LT_LOCAL_TIMESTAMP_MICROS:
            return "datetime";
        default:
            return "int";
        }
    case REG_FLOAT:
    case REG_DOUBLE:
        return "float";
    case REG_BYTES:
        return n->logical == REG_LT_DECIMAL ? "Decimal" : "bytes";
    case REG_STRING:
        return n->logical == REG_LT_UUID ? "UUID" : "str";
    case REG_FIXED:
        if (n->logical == REG_LT_DECIMAL)
            return "Decimal";
        return n->logical == REG_LT_UUID ? "UUID" : "bytes";
    case REG_RECORD:
    case REG_ENUM:
        return n->fullname;
    case REG_ARRAY:
        return "list";
    case REG_MAP:
        return "dict";
    case REG_UNION:
        return "union";
    }
    return "?";
}

/* ---- collection -------------------------------------------------------------------- */

static int push_named(pyg *g, const reg_node *n)
{
    if (g->n_named == g->cap_named) {
        size_t cap = g->cap_named ? g->cap_named * 2 : 16;
        const reg_node **nn = realloc(g->named, cap * sizeof(*nn));
        if (!nn)
            return -1;
        g->named = nn;
        const char **nc = realloc(g->cls, cap * sizeof(*nc));
        if (!nc)
            return -1;
        g->cls = nc;
        g->cap_named = cap;
    }
    g->cls[g->n_named] = NULL;
    g->named[g->n_named++] = n;
    return 0;
}

static void add_union(pyg *g, const reg_node *n)
{
    if (g->n_unions == g->cap_unions) {
        size_t cap = g->cap_unions ? g->cap_unions * 2 : 16;
        pg_union *nu = realloc(g->unions, cap * sizeof(*nu));
        if (!nu) {
            g->oom = 1;
            return;
        }
        g->unions = nu;
        g->cap_unions = cap;
    }
    pg_union *u = &g->unions[g->n_unions];
    u->node = n;
    u->index = 0;
    for (size_t i = 0; i < g->n_unions; i++)
        u->index += (size_t)g->unions[i].emit;
    u->emit = 1;
    char *key = reg_node_normalized(n);
    u->key = key ? pg_strf(g, "%s", key) : "";
    free(key);
    for (size_t i = 0; *u->key && i < g->n_unions; i++)
        if (!strcmp(g->unions[i].key, u->key)) {
            u->index = g->unions[i].index;
            u->emit = 0;
            break;
        }
    int has_null = 0;
    for (size_t i = 0; i < n->n_branches; i++)
        has_null |= n->branches[i]->type == REG_NULL;
    u->kind = PG_UNION_PLAIN;
    if (n->n_branches == 2 && has_null)
        u->kind = PG_UNION_OPTIONAL;
    else
        for (size_t i = 0; i < n->n_branches; i++)
            for (size_t j = i + 1; j < n->n_branches; j++)
                if (!strcmp(py_kind(n->branches[i]), py_kind(n->branches[j])))
                    u->kind = PG_UNION_AMBIGUOUS;
    g->n_unions++;
}

const pg_union *pg_union_of(pyg *g, const reg_node *n)
{
    for (size_t i = 0; i < g->n_unions; i++)
        if (g->unions[i].node == n)
            return &g->unions[i];
    return NULL;
}

static const reg_node *find_named(const pyg *g, const char *fullname, size_t *idx)
{
    for (size_t i = 0; i < g->n_named; i++)
        if (!strcmp(g->named[i]->fullname, fullname)) {
            if (idx)
                *idx = i;
            return g->named[i];
        }
    return NULL;
}

void pg_collect(pyg *g, const reg_node *n)
{
    switch (n->type) {
    case REG_RECORD:
    case REG_ENUM:
    case REG_FIXED:
        if (find_named(g, n->fullname, NULL))
            return;
        if (push_named(g, n)) {
            g->oom = 1;
            return;
        }
        for (size_t i = 0; n->type == REG_RECORD && i < n->n_fields; i++)
            pg_collect(g, n->fields[i].type);
        return;
    case REG_ARRAY:
    case REG_MAP:
        pg_collect(g, n->items);
        return;
    case REG_UNION:
        if (pg_union_of(g, n))
            return;
        add_union(g, n);
        for (size_t i = 0; i < n->n_branches; i++)
            pg_collect(g, n->branches[i]);
        return;
    default:
        return;
    }
}

void pg_name_classes(pyg *g, const char *root_ns)
{
    for (size_t i = 0; i < g->n_named; i++) {
        const reg_node *n = g->named[i];
        if (pg_is_framework(n) && !g->framework) {
            g->cls[i] = pg_strf(g, "canongate.%s", n->name);
            continue;
        }
        int dup = 0;
        for (size_t j = 0; j < g->n_named; j++)
            if (j != i && !strcmp(g->named[j]->name, n->name))
                dup = 1;
        const char *ns = n->namespace_ ? n->namespace_ : "";
        const char *name = n->name;
        if (dup && strcmp(ns, root_ns ? root_ns : "")) {
            char *q = pg_dup(g, *ns ? ns : "nons");
            for (char *p = q; *p; p++)
                if (*p == '.')
                    *p = '_';
            name = pg_strf(g, "%s_%s", q, n->name);
        }
        g->cls[i] = pg_is_keyword(name) ? pg_strf(g, "%s_", name) : name;
    }
}

const char *pg_enum_table(pyg *g, const reg_node *n)
{
    const char *cls = pg_class(g, n);
    char *t = pg_dup(g, cls);
    for (char *p = t; *p; p++)
        if (*p == '.')
            *p = '_';
    return pg_strf(g, "_E_%s", t);
}

const char *pg_class(pyg *g, const reg_node *n)
{
    size_t i;
    if (!find_named(g, n->fullname, &i) || !g->cls[i])
        return "typing.Any";
    return g->cls[i];
}

/* ---- hints ----------------------------------------------------------------------------- */

/* The Avro JSON name of a union branch: full name of a named type, else the type. */
static const char *branch_name(const reg_node *b)
{
    return is_named(b) ? b->fullname : reg_type_name(b->type);
}

static const char *leaf_hint(const reg_node *n)
{
    const char *k = py_kind(n);
    if (!strcmp(k, "date"))
        return "datetime.date";
    if (!strcmp(k, "time"))
        return "datetime.time";
    if (!strcmp(k, "datetime"))
        return "datetime.datetime";
    if (!strcmp(k, "Decimal"))
        return "decimal.Decimal";
    if (!strcmp(k, "UUID"))
        return "uuid.UUID";
    return k;
}

const char *pg_hint(pyg *g, const reg_node *n)
{
    switch (n->type) {
    case REG_RECORD:
    case REG_ENUM:
        return pg_class(g, n);
    case REG_ARRAY:
        return pg_strf(g, "list[%s]", pg_hint(g, n->items));
    case REG_MAP:
        return pg_strf(g, "dict[str, %s]", pg_hint(g, n->items));
    case REG_UNION: {
        const pg_union *u = pg_union_of(g, n);
        const char *acc = "";
        int has_null = 0;
        for (size_t i = 0; i < n->n_branches; i++) {
            const reg_node *b = n->branches[i];
            if (b->type == REG_NULL) {
                has_null = 1;
                continue;
            }
            const char *h = pg_hint(g, b);
            if (u && u->kind == PG_UNION_AMBIGUOUS)
                h = pg_strf(g, "tuple[typing.Literal[%s], %s]", pg_lit(g, branch_name(b)), h);
            else if (*acc && strstr(acc, h)) /* list[...] | list[...] cannot happen; be safe */
                continue;
            acc = *acc ? pg_strf(g, "%s | %s", acc, h) : h;
        }
        if (has_null)
            acc = *acc ? pg_strf(g, "%s | None", acc) : "None";
        return acc;
    }
    default:
        return leaf_hint(n);
    }
}

/* ---- conversions --------------------------------------------------------------------------- */

static const reg_node *optional_branch(const reg_node *n)
{
    return n->branches[0]->type == REG_NULL ? n->branches[1] : n->branches[0];
}

const char *pg_to_avro(pyg *g, const reg_node *n, const char *expr, int depth)
{
    switch (n->type) {
    case REG_BYTES:
        return n->logical == REG_LT_DECIMAL
                   ? pg_strf(g, "_rt.decimal_bytes(%s, %d)", expr, n->scale)
                   : NULL;
    case REG_FIXED:
        return n->logical == REG_LT_UUID ? pg_strf(g, "%s.bytes", expr) : NULL;
    case REG_RECORD:
        return pg_strf(g, "%s.to_avro()", expr);
    case REG_INT:
    case REG_LONG: {
        if (n->logical != REG_LT_NONE)
            return NULL; /* a date, time or timestamp: fastavro converts and checks it */
        /* fastavro writes whatever int it is given (2**31 as a 5-byte int varint), and a
         * bool or a float as one: only a plain int in range passes inline, the rest goes
         * to the runtime, which takes an int subclass in range and raises otherwise. */
        int i32 = n->type == REG_INT;
        const char *var = pg_strf(g, "_v%d", g->walrus++);
        return pg_strf(g, "(%s if type(%s := %s) is int and %s <= %s <= %s else _rt.%s(%s, %s))",
                       var, var, expr, i32 ? "-2147483648" : "-9223372036854775808", var,
                       i32 ? "2147483647" : "9223372036854775807", i32 ? "int_value" : "long_value",
                       var, pg_lit(g, g->where ? g->where : "value"));
    }
    case REG_ARRAY: {
        const char *var = pg_strf(g, "_i%d", depth);
        const char *c = pg_to_avro(g, n->items, var, depth + 1);
        return c ? pg_strf(g, "[%s for %s in %s]", c, var, expr) : NULL;
    }
    case REG_MAP: {
        const char *var = pg_strf(g, "_i%d", depth), *key = pg_strf(g, "_k%d", depth);
        const char *c = pg_to_avro(g, n->items, var, depth + 1);
        return c ? pg_strf(g, "{%s: %s for %s, %s in %s.items()}", key, c, key, var, expr) : NULL;
    }
    case REG_UNION: {
        const pg_union *u = pg_union_of(g, n);
        if (u->kind != PG_UNION_OPTIONAL)
            return pg_strf(g, "_u%zu_avro(%s)", u->index, expr);
        const reg_node *t = optional_branch(n);
        const char *var = pg_strf(g, "_v%d", g->walrus++); /* one name, one type (mypy) */
        const char *c = pg_to_avro(g, t, var, depth + 1);
        /* fastavro picks the branch of a plain value by checking it against each one; for
         * a leaf without a logical type that check is cheap and unambiguous. Otherwise
         * name the branch (tuple notation), which also skips the check. */
        if (!c && t->logical == REG_LT_NONE && t->type != REG_RECORD)
            return NULL;
        return pg_strf(g, "None if (%s := %s) is None else (%s, %s)", var, expr,
                       pg_lit(g, branch_name(t)), c ? c : var);
    }
    default:
        return NULL;
    }
}

const char *pg_from_avro(pyg *g, const reg_node *n, const char *expr, int depth)
{
    switch (n->type) {
    case REG_BYTES:
        return n->logical == REG_LT_DECIMAL ? pg_strf(g, "_rt.decimal_of(%s, %d)", expr, n->scale)
                                            : NULL;
    case REG_FIXED:
        return n->logical == REG_LT_UUID ? pg_strf(g, "uuid.UUID(bytes=%s)", expr) : NULL;
    case REG_ENUM:
        return pg_strf(g, "%s[%s]", pg_enum_table(g, n), expr);
    case REG_RECORD:
        return pg_strf(g, "%s.from_avro(%s)", pg_class(g, n), expr);
    case REG_ARRAY: {
        const char *var = pg_strf(g, "_i%d", depth);
        const char *c = pg_from_avro(g, n->items, var, depth + 1);
        return c ? pg_strf(g, "[%s for %s in %s]", c, var, expr) : NULL;
    }
    case REG_MAP: {
        const char *var = pg_strf(g, "_i%d", depth), *key = pg_strf(g, "_k%d", depth);
        const char *c = pg_from_avro(g, n->items, var, depth + 1);
        return c ? pg_strf(g, "{%s: %s for %s, %s in %s.items()}", key, c, key, var, expr) : NULL;
    }
    case REG_UNION: {
        const pg_union *u = pg_union_of(g, n);
        if (u->kind == PG_UNION_PLAIN) {
            /* fastavro's value is already the binding's unless a branch is named (it
             * comes as a tuple) or converts (an array of records, ...) */
            int plain = 1;
            for (size_t i = 0; i < n->n_branches; i++)
                if (is_named(n->branches[i]) || pg_from_avro(g, n->branches[i], "x", depth + 1))
                    plain = 0;
            if (plain)
                return NULL;
        }
        if (u->kind != PG_UNION_OPTIONAL)
            return pg_strf(g, "_u%zu_from_avro(%s)", u->index, expr);
        const reg_node *t = optional_branch(n);
        const char *var = pg_strf(g, "_v%d", g->walrus++); /* one name, one type (mypy) */
        if (is_named(t)) {
            /* decoded with return_named_type: a named branch comes as (name, value) */
            const char *inner = pg_strf(g, "%s[1]", var);
            const char *c = pg_from_avro(g, t, inner, depth + 1);
            return pg_strf(g, "None if (%s := %s) is None else %s", var, expr, c ? c : inner);
        }
        const char *c = pg_from_avro(g, t, var, depth + 1);
        return c ? pg_strf(g, "None if (%s := %s) is None else %s", var, expr, c) : NULL;
    }
    default:
        return NULL;
    }
}

const char *pg_to_json(pyg *g, const reg_node *n, const char *expr, int depth)
{
    switch (n->type) {
    case REG_NULL:
        return "None";
    case REG_FLOAT:
        return pg_strf(g, "_rt.float32_json(%s)", expr);
    case REG_DOUBLE:
        return pg_strf(g, "_rt.float_json(%s)", expr);
    case REG_BYTES:
        if (n->logical == REG_LT_DECIMAL)
            return pg_strf(g, "_rt.decimal_json(%s, %d)", expr, n->scale);
        return pg_strf(g, "_rt.bytes_json(%s)", expr);
    case REG_FIXED:
        if (n->logical == REG_LT_DECIMAL)
            return pg_strf(g, "_rt.decimal_fixed_json(%s, %zu, %d)", expr, n->size, n->scale);
        if (n->logical == REG_LT_UUID)
            return pg_strf(g, "_rt.bytes_json(%s.bytes)", expr);
        return pg_strf(g, "_rt.bytes_json(%s)", expr);
    case REG_STRING:
        return n->logical == REG_LT_UUID ? pg_strf(g, "str(%s)", expr) : expr;
    case REG_INT:
    case REG_LONG:
        switch (n->logical) {
        case REG_LT_DATE:
            return pg_strf(g, "_rt.date_json(%s)", expr);
        case REG_LT_TIME_MILLIS:
            return pg_strf(g, "_rt.time_millis_json(%s)", expr);
        case REG_LT_TIME_MICROS:
            return pg_strf(g, "_rt.time_micros_json(%s)", expr);
        case REG_LT_TIMESTAMP_MILLIS:
            return pg_strf(g, "_rt.ts_millis_json(%s)", expr);
        case REG_LT_TIMESTAMP_MICROS:
            return pg_strf(g, "_rt.ts_micros_json(%s)", expr);
        case REG_LT_LOCAL_TIMESTAMP_MILLIS:
            return pg_strf(g, "_rt.lts_millis_json(%s)", expr);
        case REG_LT_LOCAL_TIMESTAMP_MICROS:
            return pg_strf(g, "_rt.lts_micros_json(%s)", expr);
        default:
            return expr;
        }
    case REG_ENUM:
        return pg_strf(g, "%s.value", expr);
    case REG_RECORD:
        return pg_strf(g, "%s.to_json_obj()", expr);
    case REG_ARRAY: {
        const char *var = pg_strf(g, "_i%d", depth);
        const char *c = pg_to_json(g, n->items, var, depth + 1);
        return !strcmp(c, var) ? pg_strf(g, "list(%s)", expr)
                               : pg_strf(g, "[%s for %s in %s]", c, var, expr);
    }
    case REG_MAP: {
        const char *var = pg_strf(g, "_i%d", depth), *key = pg_strf(g, "_k%d", depth);
        const char *c = pg_to_json(g, n->items, var, depth + 1);
        return !strcmp(c, var)
                   ? pg_strf(g, "dict(%s)", expr)
                   : pg_strf(g, "{%s: %s for %s, %s in %s.items()}", key, c, key, var, expr);
    }
    case REG_UNION:
        return pg_strf(g, "_u%zu_json(%s)", pg_union_of(g, n)->index, expr);
    default:
        return expr;
    }
}

const char *pg_from_json(pyg *g, const reg_node *n, const char *expr, int depth)
{
    switch (n->type) {
    case REG_NULL:
        return pg_strf(g, "_rt.j_null(%s)", expr);
    case REG_BOOLEAN:
        return pg_strf(g, "_rt.j_bool(%s)", expr);
    case REG_FLOAT:
        return pg_strf(g, "_rt.j_float32(%s)", expr);
    case REG_DOUBLE:
        return pg_strf(g, "_rt.j_float(%s)", expr);
    case REG_BYTES:
        if (n->logical == REG_LT_DECIMAL)
            return pg_strf(g, "_rt.j_decimal(%s, %d)", expr, n->scale);
        return pg_strf(g, "_rt.j_bytes(%s)", expr);
    case REG_FIXED:
        if (n->logical == REG_LT_DECIMAL)
            return pg_strf(g, "_rt.j_decimal_fixed(%s, %zu, %d)", expr, n->size, n->scale);
        if (n->logical == REG_LT_UUID && n->size == 16)
            return pg_strf(g, "_rt.j_uuid_fixed(%s)", expr);
        return pg_strf(g, "_rt.j_fixed(%s, %zu)", expr, n->size);
    case REG_STRING:
        return pg_strf(g, n->logical == REG_LT_UUID ? "_rt.j_uuid(%s)" : "_rt.j_str(%s)", expr);
    case REG_INT:
    case REG_LONG:
        switch (n->logical) {
        case REG_LT_DATE:
            return pg_strf(g, "_rt.j_date(%s)", expr);
        case REG_LT_TIME_MILLIS:
            return pg_strf(g, "_rt.j_time_millis(%s)", expr);
        case REG_LT_TIME_MICROS:
            return pg_strf(g, "_rt.j_time_micros(%s)", expr);
        case REG_LT_TIMESTAMP_MILLIS:
            return pg_strf(g, "_rt.j_ts_millis(%s)", expr);
        case REG_LT_TIMESTAMP_MICROS:
            return pg_strf(g, "_rt.j_ts_micros(%s)", expr);
        case REG_LT_LOCAL_TIMESTAMP_MILLIS:
            return pg_strf(g, "_rt.j_lts_millis(%s)", expr);
        case REG_LT_LOCAL_TIMESTAMP_MICROS:
            return pg_strf(g, "_rt.j_lts_micros(%s)", expr);
        default:
            return pg_strf(g, n->type == REG_INT ? "_rt.j_int(%s)" : "_rt.j_long(%s)", expr);
        }
    case REG_ENUM:
        return pg_strf(g, "%s(_rt.j_str(%s))", pg_class(g, n), expr);
    case REG_RECORD:
        return pg_strf(g, "%s.from_json_obj(%s)", pg_class(g, n), expr);
    case REG_ARRAY: {
        const char *var = pg_strf(g, "_i%d", depth);
        const char *c = pg_from_json(g, n->items, var, depth + 1);
        return pg_strf(g, "[%s for %s in _rt.j_list(%s)]", c, var, expr);
    }
    case REG_MAP: {
        const char *var = pg_strf(g, "_i%d", depth), *key = pg_strf(g, "_k%d", depth);
        const char *c = pg_from_json(g, n->items, var, depth + 1);
        return pg_strf(g, "{%s: %s for %s, %s in _rt.j_map(%s).items()}", key, c, key, var, expr);
    }
    case REG_UNION:
        return pg_strf(g, "_u%zu_from_json(%s)", pg_union_of(g, n)->index, expr);
    }
    return expr;
}

/* ---- defaults ----------------------------------------------------------------------------- */

/* A Python literal of a JSON value (the same data json.loads would give). */
static const char *json_lit(pyg *g, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        return "None";
    case JSON_TRUE:
        return "True";
    case JSON_FALSE:
        return "False";
    case JSON_INTEGER:
        return pg_strf(g, "%lld", (long long)json_integer_value(v));
    case JSON_REAL: {
        const char *s = pg_strf(g, "%.17g", json_real_value(v));
        return strpbrk(s, ".eEn") ? s : pg_strf(g, "%s.0", s);
    }
    case JSON_STRING:
        return pg_lit(g, json_string_value(v));
    case JSON_ARRAY: {
        const char *acc = "[";
        for (size_t i = 0; i < json_array_size(v); i++)
            acc = pg_strf(g, "%s%s%s", acc, i ? ", " : "", json_lit(g, json_array_get(v, i)));
        return pg_strf(g, "%s]", acc);
    }
    case JSON_OBJECT: {
        const char *acc = "{", *key;
        json_t *val;
        int first = 1;
        json_object_foreach((json_t *)v, key, val)
        {
            acc =
                pg_strf(g, "%s%s%s: %s", acc, first ? "" : ", ", pg_lit(g, key), json_lit(g, val));
            first = 0;
        }
        return pg_strf(g, "%s}", acc);
    }
    }
    return "None";
}

const char *pg_default(pyg *g, const reg_node *n, const json_t *v, int *mutable_)
{
    switch (n->type) {
    case REG_UNION: {
        const pg_union *u = pg_union_of(g, n);
        const reg_node *b = n->branches[0]; /* a union's default is its first branch's */
        const char *d = pg_default(g, b, v, mutable_);
        if (!d || u->kind != PG_UNION_AMBIGUOUS || b->type == REG_NULL)
            return d;
        return pg_strf(g, "(%s, %s)", pg_lit(g, branch_name(b)), d);
    }
    case REG_NULL:
        return json_is_null(v) ? "None" : NULL;
    case REG_BOOLEAN:
        return json_is_true(v) ? "True" : json_is_false(v) ? "False" : NULL;
    case REG_INT:
    case REG_LONG:
        if (n->logical == REG_LT_NONE || n->logical == REG_LT_TIMESTAMP_NANOS ||
            n->logical == REG_LT_LOCAL_TIMESTAMP_NANOS)
            return json_is_integer(v) ? json_lit(g, v) : NULL;
        return pg_from_json(g, n, json_lit(g, v), 0);
    case REG_FLOAT:
    case REG_DOUBLE:
        if (json_is_number(v))
            return pg_strf(
                g, "%s", json_is_integer(v) ? pg_strf(g, "%s.0", json_lit(g, v)) : json_lit(g, v));
        return pg_from_json(g, n, json_lit(g, v), 0);
    case REG_STRING:
        if (!json_is_string(v))
            return NULL;
        return n->logical == REG_LT_UUID ? pg_from_json(g, n, json_lit(g, v), 0) : json_lit(g, v);
    case REG_BYTES:
    case REG_FIXED:
        return json_is_string(v) ? pg_from_json(g, n, json_lit(g, v), 0) : NULL;
    case REG_ENUM:
        if (!json_is_string(v))
            return NULL;
        return pg_strf(g, "%s.%s", pg_class(g, n), pg_enum_member(g, json_string_value(v)));
    case REG_ARRAY: {
        if (!json_is_array(v))
            return NULL;
        *mutable_ = 1;
        const char *acc = "[";
        for (size_t i = 0; i < json_array_size(v); i++) {
            int m = 0;
            const char *d = pg_default(g, n->items, json_array_get(v, i), &m);
            if (!d)
                return NULL;
            acc = pg_strf(g, "%s%s%s", acc, i ? ", " : "", d);
        }
        return pg_strf(g, "%s]", acc);
    }
    case REG_MAP: {
        if (!json_is_object(v))
            return NULL;
        *mutable_ = 1;
        const char *acc = "{", *key;
        json_t *val;
        int first = 1;
        json_object_foreach((json_t *)v, key, val)
        {
            int m = 0;
            const char *d = pg_default(g, n->items, val, &m);
            if (!d)
                return NULL;
            acc = pg_strf(g, "%s%s%s: %s", acc, first ? "" : ", ", pg_lit(g, key), d);
            first = 0;
        }
        return pg_strf(g, "%s}", acc);
    }
    case REG_RECORD: {
        if (!json_is_object(v))
            return NULL;
        *mutable_ = 1;
        const char *acc = "";
        for (size_t i = 0; i < n->n_fields; i++) {
            const reg_field *f = &n->fields[i];
            const json_t *fv = json_object_get(v, f->name);
            if (!fv)
                continue; /* the field's own default applies (or the constructor says so) */
            int m = 0;
            const char *d = pg_default(g, f->type, fv, &m);
            if (!d)
                return NULL;
            acc = pg_strf(g, "%s%s%s=%s", acc, *acc ? ", " : "", pg_field_attr(g, f->name), d);
        }
        return pg_strf(g, "%s(%s)", pg_class(g, n), acc);
    }
    }
    return NULL;
}

/* ---- the schema fastavro sees ---------------------------------------------------------------- */

static void rewrite(pyg *g, json_t *j, const reg_node *n, json_t *defined)
{
    if (!j || json_is_string(j))
        return; /* a primitive by name, or a named type defined earlier */
    switch (n->type) {
    case REG_BYTES:
        /* bytes-decimal is converted by the binding (minimal bytes, as Avro Java) */
        if (n->logical == REG_LT_DECIMAL && json_is_object(j))
            json_object_del(j, "logicalType");
        return;
    case REG_RECORD: {
        json_t *fields = json_object_get(j, "fields");
        for (size_t i = 0; i < n->n_fields && i < json_array_size(fields); i++)
            rewrite(g, json_object_get(json_array_get(fields, i), "type"), n->fields[i].type,
                    defined);
        return;
    }
    case REG_ARRAY:
        rewrite(g, json_object_get(j, "items"), n->items, defined);
        return;
    case REG_MAP:
        rewrite(g, json_object_get(j, "values"), n->items, defined);
        return;
    case REG_UNION: {
        const pg_union *u = pg_union_of(g, n);
        for (size_t i = 0; i < n->n_branches && i < json_array_size(j); i++) {
            const reg_node *b = n->branches[i];
            json_t *bj = json_array_get(j, i);
            rewrite(g, bj, b, defined);
            if (!u || u->kind != PG_UNION_AMBIGUOUS || is_named(b) || b->type == REG_NULL)
                continue;
            const char *name = pg_strf(g, "canongate.branch.u%zu_%zu", u->index, i);
            json_t *w;
            if (json_object_get(defined, name)) {
                w = json_string(name);
            } else {
                json_object_set_new(defined, name, json_true());
                w = json_pack("{s:s, s:s, s:[{s:s, s:O}]}", "type", "record", "name", name,
                              "fields", "name", "v", "type", bj);
            }
            if (!w || json_array_set_new(j, i, w))
                g->oom = 1;
        }
        return;
    }
    default:
        return;
    }
}

const char *pg_fastavro_schema(pyg *g, const reg_node *n)
{
    json_t *j = reg_node_json(n, 0);
    json_t *defined = json_object();
    const char *r = "null";
    if (!j || !defined) {
        g->oom = 1;
        goto done;
    }
    rewrite(g, j, n, defined);
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) {
        g->oom = 1;
        goto done;
    }
    r = pg_strf(g, "%s", text);
    free(text);
done:
    json_decref(j);
    json_decref(defined);
    return r;
}

const char *pg_branch_name(const reg_node *b)
{
    return branch_name(b);
}

const char *pg_py_kind(const reg_node *b)
{
    return py_kind(b);
}

int pg_is_named(const reg_node *n)
{
    return is_named(n);
}
