/* gen_c_entity.c - gen_c(), and what a canonical entity adds to its C binding.
 *
 * For a record with canon.key, the binding also carries the derived update and envelope
 * types (registry/canon_derive.c builds their schemas, docs/wire.md defines them), and:
 * - an update builder: person_update_begin(), _set_<field>(), _clear_<field>(),
 *   _delete(), which fills a person_update_t and its list of provided fields;
 * - envelope helpers: which fields changed, and who set a field (provenance);
 * - Kafka helpers on librdkafka (person_kafka.h/.c, a separate pair so that programs
 *   without librdkafka can use the rest): a producer that keys by the universal
 *   identifier, partitions with murmur2_random (the Java client's partitioner) and frames
 *   with the update schema id; a consumer that reads the canon topic read_committed and
 *   decodes envelopes.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../registry/canon_derive.h"
#include "gen_c_internal.h"

/* The parameter a setter takes for a values field, and how it is stored. */
static void emit_setter(gc_ctx *c, const char *pre, const char *bt, const reg_field *f, int h)
{
    gc_type *t = gc_find(c, f->type);
    const char *m = gc_ident(c, f->name);
    const char *lv = gc_fmt(c, "u->msg.values.%s", m);
    const char *param, *body;
    const reg_node *po = gc_prim_opt(f->type, NULL);
    int opt = po || t->kind == GC_OPT;
    if (opt) {
        const reg_node *in = po ? po : f->type->branches[1 - t->null_index];
        if (in->type == REG_STRING) {
            /* NULL clears, as None does in Python and null in Java (it wrote "") */
            param = "const char *v";
            body = gc_fmt(c,
                          "    %s.has = v != NULL;\n    %s.value = v ? canon_str_c(v) : "
                          "(canon_str){0};\n",
                          lv, lv);
        } else if (in->type == REG_ARRAY) {
            /* items and length, so that the canonical record's array can be passed */
            const char *it = gc_ctype(c, in->items);
            size_t itl = strlen(it);
            param =
                gc_fmt(c, "const %s%s*items, size_t len", it, itl && it[itl - 1] == '*' ? "" : " ");
            body = gc_fmt(
                c,
                "    %s.has = true;\n    %s.value.items = (%s%s*)items;\n    %s.value.len = len;\n",
                lv, lv, it, itl && it[itl - 1] == '*' ? "" : " ", lv);
        } else if (in->type == REG_MAP) {
            const char *et = gc_fmt(c, "%s_entry_t", gc_find(c, in)->cname);
            param = gc_fmt(c, "const %s *entries, size_t len", et);
            body = gc_fmt(c,
                          "    %s.has = true;\n    %s.value.entries = (%s *)entries;\n    "
                          "%s.value.len = len;\n",
                          lv, lv, et, lv);
        } else {
            param = gc_fmt(c, "%s v", gc_ctype(c, in));
            body = gc_fmt(c, "    %s.has = true;\n    %s.value = v;\n", lv, lv);
        }
    } else if (t->kind == GC_OPTREC) {
        param = gc_fmt(c, "const %s_t *v", gc_find(c, f->type->branches[1 - t->null_index])->cname);
        body =
            gc_fmt(c, "    %s = (%s)v; /* referenced, not copied */\n", lv, gc_ctype(c, f->type));
    } else {
        param = gc_fmt(c, "%s_t v", t->cname);
        body = gc_fmt(c, "    %s = v;\n", lv);
    }
    if (h) {
        OUT(c, "%s;\n",
            gc_wrap(c, gc_fmt(c, "void %s_set_%s(%s_t *u, %s)", pre, f->name, bt, param)));
        OUT(c, "void %s_clear_%s(%s_t *u);\n", pre, f->name, bt);
        return;
    }
    const char *name = gc_c_string(c, f->name, strlen(f->name));
    OUT(c, "%s\n{\n%s    provide(u, %s, %zu);\n}\n\n",
        gc_wrap(c, gc_fmt(c, "void %s_set_%s(%s_t *u, %s)", pre, f->name, bt, param)), body, name,
        strlen(f->name));
    if (opt)
        body = gc_fmt(c, "    %s.has = false;\n    memset(&%s.value, 0, sizeof %s.value);\n", lv,
                      lv, lv);
    else if (t->kind == GC_OPTREC)
        body = gc_fmt(c, "    %s = NULL;\n", lv);
    else
        body = gc_fmt(c, "    memset(&%s, 0, sizeof %s);\n    %s.which = %s;\n", lv, lv, lv,
                      t->tags[0]); /* optional(T) puts null first (docs/wire.md) */
    OUT(c, "void %s_clear_%s(%s_t *u)\n{\n%s    provide(u, %s, %zu);\n}\n\n", pre, f->name, bt,
        body, name, strlen(f->name));
}

static void emit_builder(gc_ctx *c, const reg_node *upd_root)
{
    gc_type *ut = gc_find(c, upd_root);
    const reg_field *key = &upd_root->fields[0];
    const reg_node *values = NULL;
    for (size_t i = 0; i < upd_root->n_fields; i++)
        if (!strcmp(upd_root->fields[i].name, "values"))
            values = upd_root->fields[i].type;
    if (!values || values->type != REG_RECORD) {
        c->err = cg_err_new(CG_EINVALID_SCHEMA, "update schema has no 'values' record");
        return;
    }
    const char *u = ut->cname; /* person_update */
    const char *bt = gc_fmt(c, "%s_builder", u);
    const char *k = gc_ident(c, key->name);
    size_t nf = values->n_fields;

    c->file = gc_fmt(c, "%s.h", c->units[2].base);
    OUT(c,
        "/* ---- update builder ----------------------------------------------------------\n"
        " * Fills msg, a %s, and its list of provided fields: a field you set or clear is\n"
        " * provided (a clear sends null, which clears it in the canon); a field you do not\n"
        " * touch is left alone by the aggregator. The builder copies nothing: strings and\n"
        " * records passed to it must live until msg is encoded. A builder holds a pointer\n"
        " * into itself: begin again after copying one.\n"
        " *\n"
        " *   %s_t u;\n"
        " *   %s_begin(&u, id, \"crm\", now_ms, seq);\n"
        " *   %s_set_%s(&u, ...);\n"
        " *   %s_encode_framed(&u.msg, update_schema_id, &buf, &err);\n */\n",
        upd_root->fullname, bt, u, u, nf ? values->fields[0].name : "field", u);
    OUT(c, "typedef struct %s {\n    %s_t msg;\n    canon_str provided_[%zu];\n} %s_t;\n\n", bt, u,
        nf ? nf : 1, bt);
    OUT(c,
        "/* Starts an UPSERT of entity key by source (a domain name) at event_time (ms since\n"
        " * the epoch, at the source); seq breaks ties between updates of one source. */\n"
        "void %s_begin(%s_t *u, const char *%s, const char *source, int64_t event_time,\n"
        "    int64_t seq);\n",
        u, bt, k);
    OUT(c,
        "/* Turns the update into a DELETE of the entity (provided fields are dropped). */\n"
        "void %s_delete(%s_t *u);\n",
        u, bt);
    for (size_t i = 0; i < nf; i++)
        emit_setter(c, u, bt, &values->fields[i], 1);
    OUT(c, "\n");

    c->file = gc_fmt(c, "%s.c", c->units[2].base);
    OUT(c, "/* ---- update builder ---- */\n\n");
    OUT(c,
        "static void provide(%s_t *u, const char *name, size_t len)\n{\n"
        "    u->msg.provided.items = u->provided_;\n"
        "    for (size_t i = 0; i < u->msg.provided.len; i++)\n"
        "        if (u->provided_[i].len == len && !memcmp(u->provided_[i].data, name, len))\n"
        "            return;\n"
        "    u->provided_[u->msg.provided.len].data = name;\n"
        "    u->provided_[u->msg.provided.len].len = len;\n"
        "    u->msg.provided.len++;\n}\n\n",
        bt);
    OUT(c,
        "void %s_begin(%s_t *u, const char *%s, const char *source, int64_t event_time,\n"
        "    int64_t seq)\n{\n    memset(u, 0, sizeof *u);\n    %s_init(&u->msg);\n"
        "    u->msg.%s = canon_str_c(%s);\n    u->msg.source = canon_str_c(source);\n"
        "    u->msg.event_time = event_time;\n    u->msg.seq = seq;\n"
        "    u->msg.op = CANONGATE_UPDATE_OP_UPSERT;\n    u->msg.provided.items = "
        "u->provided_;\n}\n\n",
        u, bt, k, u, k, k);
    OUT(c,
        "void %s_delete(%s_t *u)\n{\n    u->msg.op = CANONGATE_UPDATE_OP_DELETE;\n"
        "    u->msg.provided.len = 0;\n    memset(&u->msg.values, 0, sizeof u->msg.values);\n}\n\n",
        u, bt);
    for (size_t i = 0; i < nf; i++)
        emit_setter(c, u, bt, &values->fields[i], 0);
}

static void emit_envelope_helpers(gc_ctx *c, const reg_node *env_root)
{
    const char *e = gc_find(c, env_root)->cname;
    c->file = gc_fmt(c, "%s.h", c->units[3].base);
    OUT(c,
        "/* ---- envelope helpers ---- */\n"
        "/* 1 if field (an Avro field name of %s) is in e->changed. */\n"
        "bool %s_changed(const %s_t *e, const char *field);\n"
        "/* The version (source, event_time, seq; partition and offset of the update message,\n"
        " * -1 when unknown) that set or cleared field, or NULL when e->provenance has none.\n"
        " * Points into e. */\n"
        "const canongate_field_version_t *%s_provenance(const %s_t *e, const char *field);\n\n"
        "#include \"canon_resolve.h\"\n"
        "/* Decodes a Confluent-framed envelope written with any version of the envelope\n"
        " * schema: r (made with %s_schema as its reader schema, canon_resolve.h) resolves\n"
        " * it to this binding's version, fetching the writer's schema by the frame's id once\n"
        " * per id; then as %s_decode. The canon topic keeps envelopes written before a\n"
        " * canonical change next to those written after. 0, or -1 with err: CANON_EFRAME,\n"
        " * CANON_EFETCH, CANON_ESCHEMA, CANON_EDECODE. */\n"
        "int %s_decode_resolved(canon_resolver *r, %s_t *out, int32_t *schema_id,\n"
        "    const void *data, size_t len, canon_arena *a, canon_error *err);\n\n",
        c->units[0].base, e, e, e, e, c->units[3].base, e, e, e);
    c->file = gc_fmt(c, "%s.c", c->units[3].base);
    OUT(c,
        "/* ---- envelope helpers ---- */\n\n"
        "bool %s_changed(const %s_t *e, const char *field)\n{\n    size_t n = strlen(field);\n"
        "    for (size_t i = 0; i < e->changed.len; i++)\n"
        "        if (e->changed.items[i].len == n && !memcmp(e->changed.items[i].data, field, n))\n"
        "            return true;\n    return false;\n}\n\n",
        e, e);
    OUT(c,
        "const canongate_field_version_t *%s_provenance(const %s_t *e, const char *field)\n{\n"
        "    size_t n = strlen(field);\n"
        "    for (size_t i = 0; i < e->provenance.len; i++)\n"
        "        if (e->provenance.entries[i].key.len == n &&\n"
        "            !memcmp(e->provenance.entries[i].key.data, field, n))\n"
        "            return &e->provenance.entries[i].value;\n    return NULL;\n}\n\n",
        e, e);
    OUT(c,
        "int %s_decode_resolved(canon_resolver *r, %s_t *out, int32_t *schema_id,\n"
        "    const void *data, size_t len, canon_arena *a, canon_error *err)\n{\n"
        "    const void *body;\n    size_t n;\n"
        "    if (canon_resolver_convert_framed(r, data, len, schema_id, &body, &n, err) != 0)\n"
        "        return -1;\n"
        "    return %s_decode(out, body, n, a, err);\n}\n",
        e, e, e);
}

static void emit_kafka(gc_ctx *c, const char *entity, const reg_node *upd_root)
{
    const char *p = c->prefix;
    const char *u = gc_find(c, upd_root)->cname;
    const char *k = gc_ident(c, upd_root->fields[0].name);
    const char *env = c->units[3].base;

    c->file = gc_fmt(c, "%s_kafka.h", p);
    OUT(c,
        "/* %s_kafka.h - generated by canon gen from %s; do not edit.\n *\n"
        " * Kafka helpers for entity %s on librdkafka (link -lrdkafka):\n"
        " * - the producer sends updates to canon.%s.updates: key = the universal identifier\n"
        " *   (UTF-8), partitioner murmur2_random (the Java client's murmur2, so every\n"
        " *   language puts a key on the same partition), value = the update in Confluent\n"
        " *   framing with the update schema's registry id (subject canon.%s.updates-value);\n"
        " * - the consumer reads the canon topic canon.%s read_committed and decodes envelopes.\n"
        " * Each handle belongs to one thread.\n */\n",
        p, c->origin, entity, entity, entity, entity);
    OUT(c,
        "#ifndef %s_KAFKA_H\n#define %s_KAFKA_H\n\n#include <librdkafka/rdkafka.h>\n\n"
        "#include \"%s.h\"\n#include \"%s.h\"\n\n",
        gc_upper(c, p), gc_upper(c, p), c->units[2].base, env);
    OUT(c, "typedef struct %s_producer %s_producer;\ntypedef struct %s_consumer %s_consumer;\n\n",
        p, p, p, p);
    OUT(c,
        "/* conf: librdkafka settings (bootstrap.servers, ...) or NULL; the producer takes it\n"
        " * over (also on failure). topic: NULL for canon.%s.updates. update_schema_id: the\n"
        " * id of the update schema in the registry. NULL on error (err says why). */\n"
        "%s_producer *%s_producer_new(rd_kafka_conf_t *conf, const char *bootstrap_servers,\n"
        "    const char *topic, int32_t update_schema_id, canon_error *err);\n"
        "/* Queues one update (copied; u may be reused at once). 0, or -1 with err. */\n"
        "int %s_producer_send(%s_producer *p, const %s_builder_t *u, canon_error *err);\n"
        "/* Waits until every queued update is acknowledged: 0, or -1 when one failed. */\n"
        "int %s_producer_flush(%s_producer *p, int timeout_ms, canon_error *err);\n"
        "void %s_producer_free(%s_producer *p); /* flushes for up to 10 s; NULL is fine */\n"
        "rd_kafka_t *%s_producer_handle(%s_producer *p); /* for rd_kafka_* calls */\n\n",
        entity, p, p, p, p, u, p, p, p, p, p, p);
    OUT(c,
        "/* conf as above; group_id: the consumer group; topic: NULL for canon.%s. Reads from\n"
        " * the earliest offset when the group has none. A record's offset is stored (for\n"
        " * auto-commit, or rd_kafka_commit(rk, NULL, ...)) when poll has handled it, not when\n"
        " * librdkafka hands it over: enable.auto.offset.store is set to false. */\n"
        "%s_consumer *%s_consumer_new(rd_kafka_conf_t *conf, const char *bootstrap_servers,\n"
        "    const char *group_id, const char *topic, canon_error *err);\n"
        "/* Waits up to timeout_ms for the next envelope: 1 and *out filled (in arena a; the\n"
        " * writer's schema id in *schema_id), 0 when none came (or a tombstone, skipped),\n"
        " * -1 on a Kafka error or a\n"
        " * record that does not decode (err names its partition and offset; the next call\n"
        " * moves on), except one whose writer schema the resolver could not fetch\n"
        " * (CANON_EFETCH: the registry did not answer), which the next call reads again. */\n"
        "int %s_consumer_poll(%s_consumer *c, int timeout_ms, %s_t *out, int32_t *schema_id,\n"
        "    canon_arena *a, canon_error *err);\n"
        "void %s_consumer_free(%s_consumer *c); /* NULL is fine */\n"
        "rd_kafka_t *%s_consumer_handle(%s_consumer *c);\n"
        "/* From now on, poll decodes every envelope through r (%s_decode_resolved): the\n"
        " * envelopes of every version the registry knows, not only this binding's. r is\n"
        " * borrowed: free it after the consumer. NULL goes back to this version alone.\n"
        " *   canon_resolver *r = canon_resolver_new(%s_schema, canon_registry_fetch,\n"
        " *                                          \"http://registry:8081\", &err);\n"
        " * (canon_registry_fetch is in canon_registry.c: link -lcurl.) */\n"
        "void %s_consumer_set_resolver(%s_consumer *c, canon_resolver *r);\n\n#endif\n",
        entity, p, p, p, p, env, p, p, p, p, env, env, p, p);

    c->file = gc_fmt(c, "%s_kafka.c", p);
    OUT(c,
        "/* %s_kafka.c - generated by canon gen from %s; do not edit.\n *\n"
        " * Kafka helpers for entity %s; see %s_kafka.h. */\n"
        "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n#include "
        "\"%s_kafka.h\"\n\n",
        p, c->origin, entity, p, p);
    OUT(c,
        "struct %s_producer {\n    rd_kafka_t *rk;\n    rd_kafka_topic_t *rkt;\n"
        "    int32_t schema_id;\n    canon_buf buf; /* reused: sending allocates nothing here */\n"
        "    int failed;    /* deliveries failed since the last flush */\n"
        "    char last_error[200];\n};\n\n"
        "struct %s_consumer {\n    rd_kafka_t *rk;\n    canon_resolver *resolver; /* borrowed; "
        "NULL: this version only */\n};\n\n",
        p, p);
    OUT(c, "/* Sets key=value on conf, or records why not. */\n"
           "static int set(rd_kafka_conf_t *conf, const char *key, const char *value, canon_error "
           "*err)\n{\n"
           "    char why[256];\n"
           "    if (rd_kafka_conf_set(conf, key, value, why, sizeof why) != RD_KAFKA_CONF_OK)\n"
           "        return canon_error_set(err, CANON_EKAFKA, \"%%s=%%s: %%s\", key, value, why);\n"
           "    return 0;\n}\n\n");
    OUT(c,
        "/* Runs on the thread that polls the producer (send, flush). */\n"
        "static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)\n{\n"
        "    struct %s_producer *p = opaque;\n    (void)rk;\n    if (!m->err)\n        return;\n"
        "    p->failed++;\n"
        "    snprintf(p->last_error, sizeof p->last_error, \"%%s\", "
        "rd_kafka_err2str(m->err));\n}\n\n",
        p);
    OUT(c,
        "%s_producer *%s_producer_new(rd_kafka_conf_t *conf, const char *bootstrap_servers,\n"
        "    const char *topic, int32_t update_schema_id, canon_error *err)\n{\n"
        "    char why[512];\n"
        "    %s_producer *p = calloc(1, sizeof *p);\n"
        "    if (!conf)\n        conf = rd_kafka_conf_new();\n"
        "    if (!p) {\n        canon_error_set(err, CANON_ENOMEM, \"out of memory\");\n        "
        "goto fail;\n    }\n"
        "    if ((bootstrap_servers && set(conf, \"bootstrap.servers\", bootstrap_servers, err)) "
        "||\n"
        "        set(conf, \"partitioner\", \"murmur2_random\", err) ||\n"
        "        set(conf, \"enable.idempotence\", \"true\", err))\n        goto fail;\n"
        "    rd_kafka_conf_set_opaque(conf, p);\n"
        "    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);\n"
        "    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);\n"
        "    if (!p->rk) {\n        canon_error_set(err, CANON_EKAFKA, \"rd_kafka_new: %%s\", "
        "why);\n"
        "        goto fail;\n    }\n    conf = NULL; /* rd_kafka_new took it */\n"
        "    /* The topic handle asks for the topic's metadata now, so the first send does not\n"
        "     * wait for it. */\n"
        "    p->rkt = rd_kafka_topic_new(p->rk, topic ? topic : \"canon.%s.updates\", NULL);\n"
        "    if (!p->rkt) {\n"
        "        canon_error_set(err, CANON_EKAFKA, \"topic: %%s\", "
        "rd_kafka_err2str(rd_kafka_last_error()));\n"
        "        goto fail;\n    }\n"
        "    p->schema_id = update_schema_id;\n    canon_buf_init(&p->buf);\n    return p;\n"
        "fail:\n    if (conf)\n        rd_kafka_conf_destroy(conf);\n"
        "    if (p && p->rk)\n        rd_kafka_destroy(p->rk);\n    free(p);\n    return "
        "NULL;\n}\n\n",
        p, p, p, entity);
    OUT(c,
        "int %s_producer_send(%s_producer *p, const %s_builder_t *u, canon_error *err)\n{\n"
        "    canon_buf_clear(&p->buf);\n"
        "    if (%s_encode_framed(&u->msg, p->schema_id, &p->buf, err) != 0)\n        return -1;\n"
        "    /* the key: the universal identifier's UTF-8 bytes, unframed (docs/wire.md) */\n"
        "    if (rd_kafka_produce(p->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, "
        "p->buf.data,\n"
        "                         p->buf.len, u->msg.%s.data, u->msg.%s.len, NULL) != 0)\n"
        "        return canon_error_set(err, CANON_EKAFKA, \"produce: %%s\",\n"
        "                               rd_kafka_err2str(rd_kafka_last_error()));\n"
        "    rd_kafka_poll(p->rk, 0);\n    return 0;\n}\n\n",
        p, p, u, u, k, k);
    OUT(c,
        "int %s_producer_flush(%s_producer *p, int timeout_ms, canon_error *err)\n{\n"
        "    rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);\n"
        "    if (e)\n        return canon_error_set(err, CANON_EKAFKA, \"flush: %%s\", "
        "rd_kafka_err2str(e));\n"
        "    if (p->failed) {\n        int n = p->failed;\n        p->failed = 0;\n"
        "        return canon_error_set(err, CANON_EKAFKA, \"%%d update(s) not delivered: %%s\", "
        "n,\n"
        "                               p->last_error);\n    }\n    return 0;\n}\n\n",
        p, p);
    OUT(c,
        "void %s_producer_free(%s_producer *p)\n{\n    if (!p)\n        return;\n"
        "    rd_kafka_flush(p->rk, 10000);\n    rd_kafka_topic_destroy(p->rkt);\n"
        "    rd_kafka_destroy(p->rk);\n    canon_buf_free(&p->buf);\n    free(p);\n}\n\n"
        "rd_kafka_t *%s_producer_handle(%s_producer *p)\n{\n    return p->rk;\n}\n\n",
        p, p, p, p);
    OUT(c,
        "%s_consumer *%s_consumer_new(rd_kafka_conf_t *conf, const char *bootstrap_servers,\n"
        "    const char *group_id, const char *topic, canon_error *err)\n{\n"
        "    char why[512];\n    rd_kafka_topic_partition_list_t *topics = NULL;\n"
        "    %s_consumer *c = calloc(1, sizeof *c);\n"
        "    if (!conf)\n        conf = rd_kafka_conf_new();\n"
        "    if (!c) {\n        canon_error_set(err, CANON_ENOMEM, \"out of memory\");\n        "
        "goto fail;\n    }\n"
        "    /* read_committed: only what the aggregator's transactions committed */\n"
        "    if ((bootstrap_servers && set(conf, \"bootstrap.servers\", bootstrap_servers, err)) "
        "||\n"
        "        set(conf, \"group.id\", group_id, err) ||\n"
        "        set(conf, \"isolation.level\", \"read_committed\", err) ||\n"
        "        set(conf, \"auto.offset.reset\", \"earliest\", err) ||\n"
        "        /* poll stores each record's offset once it is handled (not a record it will\n"
        "         * read again): librdkafka's own store would count it as soon as returned */\n"
        "        set(conf, \"enable.auto.offset.store\", \"false\", err))\n        goto fail;\n"
        "    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);\n"
        "    if (!c->rk) {\n        canon_error_set(err, CANON_EKAFKA, \"rd_kafka_new: %%s\", "
        "why);\n"
        "        goto fail;\n    }\n    conf = NULL;\n    rd_kafka_poll_set_consumer(c->rk);\n"
        "    topics = rd_kafka_topic_partition_list_new(1);\n"
        "    rd_kafka_topic_partition_list_add(topics, topic ? topic : \"canon.%s\", "
        "RD_KAFKA_PARTITION_UA);\n"
        "    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);\n"
        "    rd_kafka_topic_partition_list_destroy(topics);\n"
        "    if (e) {\n        canon_error_set(err, CANON_EKAFKA, \"subscribe: %%s\", "
        "rd_kafka_err2str(e));\n"
        "        goto fail;\n    }\n    return c;\n"
        "fail:\n    if (conf)\n        rd_kafka_conf_destroy(conf);\n"
        "    if (c && c->rk)\n        rd_kafka_destroy(c->rk);\n    free(c);\n    return "
        "NULL;\n}\n\n",
        p, p, p, entity);
    OUT(c,
        "int %s_consumer_poll(%s_consumer *c, int timeout_ms, %s_t *out, int32_t *schema_id,\n"
        "    canon_arena *a, canon_error *err)\n{\n"
        "    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);\n"
        "    int rc = 1;\n    if (!m)\n        return 0;\n"
        "    /* a tombstone (null value, as compaction tools write) holds no envelope: skipped,\n"
        "     * as the Python and Java helpers do */\n"
        "    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {\n"
        "        rc = 0;\n"
        "    } else if (!m->err && !m->payload) {\n"
        "        rd_kafka_offset_store(m->rkt, m->partition, m->offset);\n"
        "        rc = 0;\n"
        "    } else if (m->err) {\n"
        "        rc = canon_error_set(err, CANON_EKAFKA, \"consume: %%s\", "
        "rd_kafka_message_errstr(m));\n"
        "    } else {\n"
        "        canon_error e = {0};\n"
        "        if ((c->resolver ? %s_decode_resolved(c->resolver, out, schema_id, m->payload,\n"
        "                                              m->len, a, &e)\n"
        "                         : %s_decode_framed(out, schema_id, m->payload, m->len, a, &e)) "
        "!=\n"
        "            0) {\n"
        "            /* the registry did not answer: the next poll reads this record again\n"
        "             * instead of passing over it, and its offset is not stored */\n"
        "            if (e.code == CANON_EFETCH)\n"
        "                rd_kafka_seek(m->rkt, m->partition, m->offset, 0);\n"
        "            rc = canon_error_set(err, e.code, \"%%s [%%d] offset %%lld: %%s\",\n"
        "                                 rd_kafka_topic_name(m->rkt), (int)m->partition,\n"
        "                                 (long long)m->offset, e.msg);\n"
        "        }\n"
        "        if (e.code != CANON_EFETCH) /* handled: given out, or passed over for good */\n"
        "            rd_kafka_offset_store(m->rkt, m->partition, m->offset);\n"
        "    }\n"
        "    rd_kafka_message_destroy(m);\n    return rc;\n}\n\n",
        p, p, env, env, env);
    OUT(c,
        "void %s_consumer_free(%s_consumer *c)\n{\n    if (!c)\n        return;\n"
        "    rd_kafka_consumer_close(c->rk);\n    rd_kafka_destroy(c->rk);\n    free(c);\n}\n\n"
        "rd_kafka_t *%s_consumer_handle(%s_consumer *c)\n{\n    return c->rk;\n}\n\n"
        "void %s_consumer_set_resolver(%s_consumer *c, canon_resolver *r)\n{\n"
        "    c->resolver = r;\n}\n",
        p, p, p, p, p, p);
}

cg_err *gc_emit_entity(gc_ctx *c, const reg_schema *canonical, const char *update_text,
                       const char *envelope_text)
{
    (void)update_text;
    (void)envelope_text;
    const reg_node *upd_root = reg_schema_root(c->units[2].schema);
    const reg_node *env_root = reg_schema_root(c->units[3].schema);
    emit_builder(c, upd_root);
    if (c->err) {
        cg_err *e = c->err;
        c->err = NULL;
        return e;
    }
    emit_envelope_helpers(c, env_root);
    for (int u = 2; u <= 3; u++) {
        c->file = gc_fmt(c, "%s.h", c->units[u].base);
        OUT(c, "#endif\n");
    }
    emit_kafka(c, gc_snake(c, reg_schema_root(canonical)->name), upd_root);
    return NULL;
}

/* A canonical entity: a record carrying canon.key. Its contract is checked by the
 * derivation, which refuses schemas that break it. */
static int is_entity(const reg_node *root)
{
    return root->type == REG_RECORD && root->props &&
           json_is_string(json_object_get(root->props, "canon.key"));
}

cg_err *gen_c(const reg_schema *s, const char *schema_text, const gen_opts *o, gen_files *out)
{
    char *upd = NULL, *env = NULL;
    cg_err *err = NULL;
    if (is_entity(reg_schema_root(s))) {
        err = reg_canon_derive_update(s, &upd);
        if (!err)
            err = reg_canon_derive_envelope(s, &env);
        if (err) {
            err = cg_err_wrap(err, "derived schemas of '%s': ", reg_schema_root(s)->fullname);
            goto done;
        }
    }
    err = gc_generate(s, schema_text, upd, env, o, out);
done:
    free(upd);
    free(env);
    return err;
}
