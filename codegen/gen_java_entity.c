/* gen_java_entity.c - the entity layer of a canonical schema's Java binding.
 *
 * For canonical record N (docs/wire.md) the classes N, NUpdate, NValues, NEnvelope and
 * the canongate framework types are ordinary generated records; this file adds what
 * makes them pleasant and safe to use:
 *   NUpdateBuilder - set/clear per field, delete, source/event_time/seq; it keeps
 *                    `provided` consistent with what was set or cleared (in the order
 *                    fields were first set or cleared, as the C and Python builders
 *                    list them, so equal updates are equal bytes in every language);
 *   NCanon         - topic and subject names, the derived schema texts as registered,
 *                    the envelope decoders (of this envelope version, or of any version
 *                    the registry has that Avro resolves against it: runtime
 *                    RegistryDecoder), and the producer (key = universal id UTF-8,
 *                    kafka-clients' default murmur2 partitioner, framed with the update
 *                    schema's registry id) and consumer (read_committed) helpers. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "gen_java_internal.h"

static const reg_field *field_named(const reg_node *rec, const char *name)
{
    for (size_t i = 0; i < rec->n_fields; i++)
        if (!strcmp(rec->fields[i].name, name))
            return &rec->fields[i];
    return NULL;
}

/* "PostalAddress" -> "postal_address": the entity name of topics and subjects. */
static const char *snake(jgen *g, const char *name)
{
    size_t len = strlen(name);
    char *buf = malloc(len * 2 + 1);
    if (!buf) {
        g->oom = 1;
        return "";
    }
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (isupper(c)) {
            if (i > 0 && (islower((unsigned char)name[i - 1]) ||
                          (i + 1 < len && islower((unsigned char)name[i + 1]))))
                buf[j++] = '_';
            buf[j++] = (char)tolower(c);
        } else {
            buf[j++] = (char)c;
        }
    }
    buf[j] = 0;
    const char *r = jg_strf(g, "%s", buf);
    free(buf);
    return r;
}

static void emit_builder(jgen *g, const reg_node *canonical, const reg_node *upd)
{
    const reg_field *kf = &upd->fields[0];
    const reg_field *vf = field_named(upd, "values");
    if (!vf || vf->type->type != REG_RECORD)
        return;
    const reg_node *vals = vf->type;
    const char *pkg = jg_package(g, canonical);
    const char *B = jg_strf(g, "%sUpdateBuilder", jg_class(g, canonical));
    const char *P = jg_source_path(g, canonical);
    const char *slash = strrchr(P, '/');
    P = jg_strf(g, "%.*s/%s.java", (int)(slash - P), P, B);
    const char *U = jg_fqn(g, upd);
    const char *V = jg_fqn(g, vals);
    const char *KT = jg_type(g, kf->type, 1);
    jg_header(g, P, pkg);
    gen_files_printf(
        g->out, P,
        "/**\n * Builds %s updates of entity %s (docs/wire.md, \"The update schema\").\n *\n"
        " * <p>Set or clear fields, or delete the entity; source and eventTime are required,\n"
        " * seq defaults to 0. A set or cleared field is listed in {@code provided}; a field\n"
        " * never touched is left alone by the aggregator.\n */\n"
        "public final class %s {\n"
        "  private final %s key;\n"
        "  private final %s values = new %s();\n"
        "  private final boolean[] provided = new boolean[%zu];\n"
        "  private final int[] order = new int[%zu];\n"
        "  private int touched;\n"
        "  private java.lang.String source;\n"
        "  private java.time.Instant eventTime;\n"
        "  private long seq;\n"
        "  private boolean delete;\n\n"
        "  /**\n   * A builder of an update of the entity with this universal identifier.\n   *\n"
        "   * @param key the universal identifier (never null)\n   */\n"
        "  public %s(%s key) {\n"
        "    this.key = java.util.Objects.requireNonNull(key, \"key\");\n  }\n\n"
        "  /**\n   * The domain sending the update (must be allowed by canon.writers).\n   *\n"
        "   * @param source the domain name\n   * @return this\n   */\n"
        "  public %s source(java.lang.String source) {\n    this.source = source;\n"
        "    return this;\n  }\n\n"
        "  /**\n   * When the change happened in the source domain.\n   *\n"
        "   * @param eventTime the time\n   * @return this\n   */\n"
        "  public %s eventTime(java.time.Instant eventTime) {\n"
        "    this.eventTime = eventTime;\n    return this;\n  }\n\n"
        "  /**\n   * Orders updates of one source with the same event time.\n   *\n"
        "   * @param seq the sequence number\n   * @return this\n   */\n"
        "  public %s seq(long seq) {\n    this.seq = seq;\n    return this;\n  }\n\n"
        "  /**\n   * Makes this update delete the entity (set and cleared fields are then "
        "ignored).\n   *\n   * @return this\n   */\n"
        "  public %s delete() {\n    this.delete = true;\n    return this;\n  }\n",
        U, canonical->fullname, B, KT, V, V, vals->n_fields, vals->n_fields, B, KT, B, B, B, B);
    /* provided lists fields in the order they were first set or cleared. */
    gen_files_printf(g->out, P, "\n  private static final java.lang.String[] FIELDS = {");
    for (size_t i = 0; i < vals->n_fields; i++)
        gen_files_printf(g->out, P, "%s%s", i ? ", " : "", jg_lit(g, vals->fields[i].name));
    gen_files_printf(g->out, P,
                     "};\n\n  private void touch(int i) {\n"
                     "    if (!provided[i]) {\n      provided[i] = true;\n"
                     "      order[touched++] = i;\n    }\n  }\n");
    for (size_t i = 0; i < vals->n_fields; i++) {
        const reg_field *f = &vals->fields[i];
        const char *acc = jg_accessor(g, f->name);
        const char *T = jg_type(g, f->type, 1);
        gen_files_printf(g->out, P,
                         "\n  /**\n   * Sets field %s (null clears it).\n   *\n"
                         "   * @param value the new value\n   * @return this\n   */\n"
                         "  public %s set%s(%s value) {\n"
                         "    values.set%s(value);\n    touch(%zu);\n"
                         "    return this;\n  }\n"
                         "\n  /**\n   * Clears field %s: it goes back to its canonical default.\n"
                         "   *\n   * @return this\n   */\n"
                         "  public %s clear%s() {\n    values.set%s(null);\n"
                         "    touch(%zu);\n    return this;\n  }\n",
                         f->name, B, acc, T, acc, i, f->name, B, acc, acc, i);
    }
    gen_files_printf(g->out, P,
                     "\n  /**\n   * The update.\n   *\n   * @return a new %s\n"
                     "   * @throws IllegalStateException when source or eventTime is missing\n"
                     "   */\n"
                     "  public %s build() {\n"
                     "    if (source == null) throw new java.lang.IllegalStateException(\"source "
                     "is required\");\n"
                     "    if (eventTime == null) throw new java.lang.IllegalStateException("
                     "\"eventTime is required\");\n"
                     "    java.util.List<java.lang.String> names = new java.util.ArrayList<>();\n"
                     "    %s v = new %s();\n"
                     "    if (!delete) {\n"
                     "      for (int k = 0; k < touched; k++) names.add(FIELDS[order[k]]);\n",
                     U, U, V, V);
    for (size_t i = 0; i < vals->n_fields; i++) {
        const char *acc = jg_accessor(g, vals->fields[i].name);
        gen_files_printf(g->out, P, "      if (provided[%zu]) v.set%s(values.get%s());\n", i, acc,
                         acc);
    }
    gen_files_printf(g->out, P, "    }\n    %s u = new %s();\n", U, U);
    gen_files_printf(g->out, P, "    u.set%s(key);\n", jg_accessor(g, kf->name));
    gen_files_printf(
        g->out, P,
        "    u.setSource(source);\n    u.setEventTime(eventTime);\n"
        "    u.setSeq(seq);\n"
        "    u.setOp(delete ? canongate.UpdateOp.DELETE : canongate.UpdateOp.UPSERT);\n"
        "    u.setProvided(names);\n    u.setValues(v);\n    return u;\n  }\n}\n");
}

static void emit_canon(jgen *g, const reg_node *canonical, const reg_node *upd, const reg_node *env,
                       const char *update_text, const char *envelope_text)
{
    const char *pkg = jg_package(g, canonical);
    const char *C = jg_strf(g, "%sCanon", jg_class(g, canonical));
    const char *P = jg_source_path(g, canonical);
    /* Same directory as the record's file. */
    const char *slash = strrchr(P, '/');
    P = jg_strf(g, "%.*s/%s.java", (int)(slash - P), P, C);
    const char *B = jg_strf(g, "%sUpdateBuilder", jg_class(g, canonical));
    const char *U = jg_fqn(g, upd);
    const char *E = jg_fqn(g, env);
    const reg_field *kf = &upd->fields[0];
    const char *KT = jg_type(g, kf->type, 1);
    const char *entity = snake(g, canonical->name);
    jg_header(g, P, pkg);
    gen_files_printf(
        g->out, P,
        "/** Entity %s on the canon: names, derived schemas, and the Kafka helpers. */\n"
        "public final class %s {\n"
        "  private %s() {}\n\n"
        "  /** The entity name in topics and subjects. */\n"
        "  public static final java.lang.String ENTITY = %s;\n"
        "  /** Where domains send updates (key: universal id, value: framed %s). */\n"
        "  public static final java.lang.String UPDATES_TOPIC = %s;\n"
        "  /** The compacted canon topic (value: framed %s). */\n"
        "  public static final java.lang.String CANON_TOPIC = %s;\n"
        "  /** The registry subject of the update schema. */\n"
        "  public static final java.lang.String UPDATES_SUBJECT = %s;\n"
        "  /** The registry subject of the envelope schema. */\n"
        "  public static final java.lang.String ENVELOPE_SUBJECT = %s;\n"
        "  /** The registry the producer looks ids up in when none is given, or null. */\n"
        "  public static final java.lang.String DEFAULT_REGISTRY = %s;\n\n"
        "  /** The update schema, as the registry derives it. */\n"
        "  public static final java.lang.String UPDATE_SCHEMA =\n      ",
        canonical->fullname, C, C, jg_lit(g, entity), U,
        jg_lit(g, jg_strf(g, "canon.%s.updates", entity)), E,
        jg_lit(g, jg_strf(g, "canon.%s", entity)),
        jg_lit(g, jg_strf(g, "canon.%s.updates-value", entity)),
        jg_lit(g, jg_strf(g, "canon.%s-value", entity)),
        g->o->registry_url ? jg_lit(g, g->o->registry_url) : "null");
    const char *parts[2] = {update_text, envelope_text};
    for (int k = 0; k < 2; k++) {
        const char *t = parts[k];
        gen_files_printf(g->out, P, "%s",
                         k ? "  /** The envelope schema, as the registry derives it. */\n  public "
                             "static final java.lang.String ENVELOPE_SCHEMA =\n      "
                           : "");
        size_t len = strlen(t);
        if (len == 0)
            gen_files_printf(g->out, P, "\"\"");
        for (size_t off = 0; off < len; off += 4000) {
            size_t n = len - off < 4000 ? len - off : 4000;
            while (off + n < len && ((unsigned char)t[off + n] & 0xc0) == 0x80)
                n--;
            gen_files_printf(g->out, P, "%s%s", off ? "\n      + " : "",
                             jg_lit(g, jg_strf(g, "%.*s", (int)n, t + off)));
            if (n == 0)
                break;
        }
        gen_files_printf(g->out, P, ";\n\n");
    }
    gen_files_printf(
        g->out, P,
        "  /**\n   * Starts an update of one entity.\n   *\n   * @param key the universal "
        "identifier\n"
        "   * @return a builder\n   */\n"
        "  public static %s update(%s key) {\n    return new %s(key);\n  }\n\n"
        "  /**\n   * Decodes a canon topic value (Confluent-framed %s).\n   *\n"
        "   * @param framed the message value\n   * @return the envelope and its schema id\n"
        "   * @throws java.io.IOException when the bytes are not an envelope\n   */\n"
        "  public static canongate.runtime.Framed<%s> decodeEnvelope(byte[] framed) throws "
        "java.io.IOException {\n    return %s.fromFramed(framed);\n  }\n\n"
        "  /**\n   * The registry id of UPDATE_SCHEMA (POST /subjects/"
        "{UPDATES_SUBJECT}).\n   *\n"
        "   * @param registryUrl e.g. http://127.0.0.1:8081\n   * @return the id\n"
        "   * @throws java.io.IOException when the registry does not know the schema\n   */\n"
        "  public static int updateSchemaId(java.lang.String registryUrl) throws "
        "java.io.IOException {\n"
        "    return new canongate.runtime.RegistryClient(registryUrl).lookupId(UPDATES_SUBJECT, "
        "UPDATE_SCHEMA);\n  }\n\n"
        "  /**\n   * A producer of updates framed with a known update schema id.\n   *\n"
        "   * @param kafka producer properties (bootstrap.servers at least)\n"
        "   * @param updateSchemaId the registry id of UPDATE_SCHEMA\n   * @return the producer\n"
        "   */\n"
        "  public static canongate.runtime.CanonProducer<%s> producer(java.util.Properties kafka, "
        "int updateSchemaId) {\n"
        "    return new canongate.runtime.CanonProducer<%s>(kafka, UPDATES_TOPIC, updateSchemaId,\n"
        "        u -> java.lang.String.valueOf(u.get%s()), (u, id) -> u.toFramed(id));\n  }\n\n"
        "  /**\n   * A producer that looks the update schema id up in the registry first.\n   *\n"
        "   * @param kafka producer properties (bootstrap.servers at least)\n"
        "   * @param registryUrl the registry, or null for DEFAULT_REGISTRY\n"
        "   * @return the producer\n"
        "   * @throws java.io.IOException when the registry does not answer with an id\n   */\n"
        "  public static canongate.runtime.CanonProducer<%s> producer(java.util.Properties kafka, "
        "java.lang.String registryUrl) throws java.io.IOException {\n"
        "    java.lang.String url = registryUrl != null ? registryUrl : DEFAULT_REGISTRY;\n"
        "    if (url == null) throw new java.io.IOException(\"no registry URL given and none "
        "built in\");\n"
        "    return producer(kafka, updateSchemaId(url));\n  }\n\n"
        "  /**\n   * A read_committed consumer of the canon topic, decoding envelopes of this\n"
        "   * binding's envelope schema only (see consumer(kafka, registryUrl)).\n   *\n"
        "   * @param kafka consumer properties (bootstrap.servers, group.id)\n"
        "   * @return the consumer, subscribed\n   */\n"
        "  public static canongate.runtime.CanonConsumer<%s> consumer(java.util.Properties kafka) "
        "{\n    return new canongate.runtime.CanonConsumer<%s>(kafka, CANON_TOPIC, "
        "%s::fromFramed);\n"
        "  }\n",
        B, KT, B, E, E, E, U, U, jg_accessor(g, kf->name), U, E, E, E);
    /* Reading across envelope versions: the writer schema of each frame's id comes from
     * the registry and Avro resolves it against ENVELOPE_SCHEMA (docs/bindings-java.md). */
    gen_files_printf(
        g->out, P,
        "\n  /**\n   * A decoder of canon topic values written with any envelope version that\n"
        "   * resolves against this binding's: the writer schema is fetched by the frame's id\n"
        "   * (once per id) and resolved by Avro; fields it lacks take their defaults\n"
        "   * (FieldVersion partition and offset: -1). Values of this binding's own version\n"
        "   * take the generated decoder directly. Thread-safe; keep one, it caches schemas.\n"
        "   *\n   * @param registryUrl the registry, or null for DEFAULT_REGISTRY\n"
        "   * @return the decoder; its decode(framed) gives the envelope and its schema id\n"
        "   * @throws IllegalArgumentException when registryUrl is null and none is built in\n"
        "   */\n"
        "  public static canongate.runtime.RegistryDecoder<%s> envelopeDecoder(java.lang.String "
        "registryUrl) {\n"
        "    java.lang.String url = registryUrl != null ? registryUrl : DEFAULT_REGISTRY;\n"
        "    if (url == null) throw new java.lang.IllegalArgumentException(\"no registry URL given "
        "and none built in\");\n"
        "    return new canongate.runtime.RegistryDecoder<%s>(url, %s.SCHEMA$,\n"
        "        \"the binding's \" + ENVELOPE_SUBJECT + \" schema\", %s::fromFramed, "
        "%s::fromByteArray);\n  }\n\n"
        "  /**\n   * A read_committed consumer of the canon topic that reads every envelope "
        "version\n"
        "   * the registry resolves against this binding's (see envelopeDecoder).\n   *\n"
        "   * @param kafka consumer properties (bootstrap.servers, group.id)\n"
        "   * @param registryUrl the registry, or null for DEFAULT_REGISTRY\n"
        "   * @return the consumer, subscribed\n"
        "   * @throws IllegalArgumentException when registryUrl is null and none is built in\n"
        "   */\n"
        "  public static canongate.runtime.CanonConsumer<%s> consumer(java.util.Properties kafka, "
        "java.lang.String registryUrl) {\n"
        "    return new canongate.runtime.CanonConsumer<%s>(kafka, CANON_TOPIC, "
        "envelopeDecoder(registryUrl));\n  }\n}\n",
        E, E, E, E, E, E, E);
}

void jg_emit_entity(jgen *g, const reg_node *canonical, const reg_node *upd, const reg_node *env,
                    const char *update_text, const char *envelope_text)
{
    if (upd->type != REG_RECORD || env->type != REG_RECORD || upd->n_fields == 0)
        return;
    emit_builder(g, canonical, upd);
    emit_canon(g, canonical, upd, env, update_text, envelope_text);
}
