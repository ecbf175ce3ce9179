/* gen_python_entity.c - the canonical-entity layer of a Python binding: update builder,
 * producer and consumer helpers (docs/wire.md).
 *
 * The update and envelope records themselves are ordinary generated dataclasses (their
 * schemas come from registry/canon_derive.h); this file writes what makes them safe to
 * use: a builder that keeps `provided` and `values` consistent (a set or clear names the
 * field in provided; a delete carries neither), and thin subclasses of the runtime's
 * CanonProducer/CanonConsumer that fix topic, subject, key and schema for the entity. */
#include <string.h>

#include "../registry/canon_contract.h"
#include "gen_python_internal.h"

#define OUT(...) gen_files_printf(g->out, g->path, __VA_ARGS__)

static const reg_field *field_named(const reg_node *rec, const char *name)
{
    for (size_t i = 0; i < rec->n_fields; i++)
        if (!strcmp(rec->fields[i].name, name))
            return &rec->fields[i];
    return NULL;
}

static const char *writers_of(pyg *g, const reg_field *f)
{
    json_t *w = f->props ? json_object_get(f->props, "canon.writers") : NULL;
    if (!w || !json_is_array(w))
        return "any domain";
    const char *acc = "";
    for (size_t i = 0; i < json_array_size(w); i++)
        if (json_is_string(json_array_get(w, i)))
            acc = pg_strf(g, "%s%s%s", acc, *acc ? ", " : "",
                          json_string_value(json_array_get(w, i)));
    return acc;
}

cg_err *pg_emit_entity(pyg *g, const reg_node *canonical, const reg_node *upd, const reg_node *env,
                       const char *upd_text, const char *env_text)
{
    json_t *kj = canonical->props ? json_object_get(canonical->props, "canon.key") : NULL;
    const char *key = kj ? json_string_value(kj) : NULL;
    const reg_field *kf = key ? field_named(canonical, key) : NULL;
    const reg_field *vf = field_named(upd, "values");
    if (!kf || !vf || vf->type->type != REG_RECORD || !field_named(upd, key))
        return cg_err_new(CG_EINVALID_SCHEMA,
                          "%s: the update schema does not have the shape docs/wire.md gives "
                          "(key field, values record)",
                          canonical->fullname);
    const reg_node *values = vf->type;
    const char *entity = pg_snake(g, canonical->name);
    const char *n = pg_class(g, canonical);
    const char *u = pg_class(g, upd), *e = pg_class(g, env), *v = pg_class(g, values);
    const char *builder = pg_strf(g, "%sBuilder", u);
    int uuid_key = kf->type->logical == REG_LT_UUID;
    const char *key_attr = pg_field_attr(g, key);

    OUT("\n\n# ---- canonical entity %s: update builder, producer, consumer (docs/wire.md) ----\n",
        entity);
    OUT("\n#: Entity name: topics canon.%s.updates (updates in) and canon.%s (envelopes out).\n"
        "ENTITY = %s\nUPDATES_TOPIC = %s\nCANON_TOPIC = %s\nUPDATES_SUBJECT = %s\n"
        "ENVELOPE_SUBJECT = %s\n",
        entity, entity, pg_lit(g, entity), pg_lit(g, pg_strf(g, "canon.%s.updates", entity)),
        pg_lit(g, pg_strf(g, "canon.%s", entity)),
        pg_lit(g, pg_strf(g, "canon.%s.updates-value", entity)),
        pg_lit(g, pg_strf(g, "canon.%s-value", entity)));
    OUT("#: The derived update schema, as the registry derives it (subject "
        "canon.%s.updates-value).\n"
        "UPDATE_SCHEMA = %s\n",
        entity, pg_lit(g, upd_text));
    OUT("#: The derived envelope schema (subject canon.%s-value).\nENVELOPE_SCHEMA = %s\n", entity,
        pg_lit(g, env_text));

    /* ---- builder ---- */
    OUT("\n\nclass %s:\n", builder);
    OUT("    \"\"\"Builds a %s: set or clear fields of one %s, or delete it.\n\n"
        "    A field neither set nor cleared is left as it is; a cleared field takes its\n"
        "    canonical default (null for optional fields). Example::\n\n"
        "        update = (%s(%s, source=\"crm\")\n"
        "                  .set_...(value).clear_...().build())\n"
        "    \"\"\"\n\n    __slots__ = (\"_update\",)\n",
        u, n, builder, uuid_key ? "uuid.UUID(\"...\")" : "\"id-1\"");
    OUT("\n    def __init__(\n        self,\n        %s: %s,\n        *,\n        source: str,\n"
        "        event_time: datetime.datetime | None = None,\n        seq: int = 0,\n"
        "    ) -> None:\n",
        key_attr, uuid_key ? "uuid.UUID | str" : "str");
    OUT("        \"\"\"source: the writing domain; event_time: when the change happened at the "
        "source\n        (default now); seq: orders updates of one source with equal "
        "event_time.\"\"\"\n");
    OUT("        self._update = %s(\n            %s=%s,\n            source=source,\n"
        "            event_time=_rt.now_millis() if event_time is None else event_time,\n"
        "            seq=seq,\n            op=canongate.UpdateOp.UPSERT,\n"
        "            provided=[],\n            values=%s(),\n        )\n",
        u, pg_field_attr(g, key), uuid_key ? pg_strf(g, "_rt.uuid_of(%s)", key_attr) : key_attr, v);
    OUT("\n    def _provide(self, name: str) -> None:\n"
        "        if self._update.op is canongate.UpdateOp.DELETE:\n"
        "            raise _rt.AvroError(\"this update deletes the entity: it cannot also set "
        "or clear fields\")\n"
        "        if name not in self._update.provided:\n"
        "            self._update.provided.append(name)\n");
    for (size_t i = 0; i < canonical->n_fields; i++) {
        const reg_field *f = &canonical->fields[i];
        if (f == kf)
            continue;
        const char *attr = pg_field_attr(g, f->name);
        OUT("\n    def set_%s(self, value: %s) -> %s:\n"
            "        \"\"\"Sets %s. Writers: %s.\"\"\"\n"
            "        self._provide(%s)\n        self._update.values.%s = value\n"
            "        return self\n",
            f->name, pg_hint(g, f->type), builder, f->name, writers_of(g, f), pg_lit(g, f->name),
            attr);
        /* Only a field that can hold null or has a default can be cleared; the canon
         * contract gives every field but the key one, so all of them are offered. */
        if (reg_canon_field_clearable(f))
            OUT("\n    def clear_%s(self) -> %s:\n"
                "        \"\"\"Clears %s (back to its canonical default).\"\"\"\n"
                "        self._provide(%s)\n        self._update.values.%s = None\n"
                "        return self\n",
                f->name, builder, f->name, pg_lit(g, f->name), attr);
    }
    OUT("\n    def delete(self) -> %s:\n"
        "        \"\"\"Deletes the entity (drops any field set or cleared so far).\"\"\"\n"
        "        self._update.op = canongate.UpdateOp.DELETE\n"
        "        self._update.provided = []\n        self._update.values = %s()\n"
        "        return self\n",
        builder, v);
    OUT("\n    def build(self) -> %s:\n        return self._update\n", u);

    /* ---- producer and consumer ---- */
    OUT("\n\nclass %sProducer(_rt.CanonProducer[%s]):\n", n, u);
    OUT("    \"\"\"Sends %s values to canon.%s.updates: key = %s (UTF-8), murmur2\n"
        "    partitioning, value framed with the update schema's registered id (given, or\n"
        "    looked up under canon.%s.updates-value in the registry). Example::\n\n"
        "        with %sProducer({\"bootstrap.servers\": \"127.0.0.1:9092\"},\n"
        "                        registry_url=\"http://127.0.0.1:8081\") as producer:\n"
        "            producer.send(%s(...).set_...(value))\n    \"\"\"\n\n",
        u, entity, key, entity, n, builder);
    OUT("    topic = UPDATES_TOPIC\n    subject = UPDATES_SUBJECT\n    schema_text = "
        "UPDATE_SCHEMA\n"
        "    default_registry_url = %s\n",
        g->o->registry_url ? pg_lit(g, g->o->registry_url) : "None");
    OUT("\n    def send(\n        self,\n        update: %s | %s,\n"
        "        on_delivery: typing.Callable[..., None] | None = None,\n    ) -> None:\n"
        "        if isinstance(update, %s):\n            update = update.build()\n"
        "        super().send(update, on_delivery)\n",
        u, builder, builder);

    OUT("\n\nclass %sConsumer(_rt.CanonConsumer[%s]):\n", n, e);
    OUT("    \"\"\"Reads canon.%s (isolation.level read_committed) and yields %s values.\n"
        "    Give registry_url to read envelopes written with other schema versions.\n"
        "    Example::\n\n"
        "        with %sConsumer({\"bootstrap.servers\": \"127.0.0.1:9092\", \"group.id\": "
        "\"app\"}) as c:\n"
        "            for envelope in c:\n"
        "                print(envelope.op, envelope.after)\n    \"\"\"\n\n",
        entity, e, n);
    OUT("    topic = CANON_TOPIC\n");
    OUT("\n    def _decode(self, value: bytes) -> %s:\n"
        "        return %s.decode_framed(value)[1]\n",
        e, e);
    OUT("\n    def _decode_with(self, writer: typing.Any, body: bytes) -> %s:\n"
        "        return %s.from_avro(_rt.decode_resolving(writer, _P_%s, body))\n",
        e, e, e);

    OUT("\n\ndef decode_envelope(value: bytes) -> tuple[int, %s]:\n"
        "    \"\"\"Decodes a framed canon.%s message value: (schema id, envelope).\"\"\"\n"
        "    return %s.decode_framed(value)\n",
        e, entity, e);
    return NULL;
}
