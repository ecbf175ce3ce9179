/*
 * SupportTranslator.java - the Support domain's translator: support tickets -> canonical
 * person updates.
 *
 * Support is a Java shop. Its translator is a small app on the Java binding that
 * `canon gen --lang java` generates from the registry (docs/bindings-java.md): the update
 * builder (typed set/clear per field) and the producer helper (key = the universal
 * identifier, Kafka's murmur2 partitioner, value framed with the registered update
 * schema's id). Nothing here knows Avro, framing or partitioning; it only knows tickets.
 *
 * A ticket (tickets.jsonl): ticket (Support's own id, never leaves Support),
 * customer_email (any case), callback_number (-> phone), plan (-> support_tier; "" or null
 * means the customer has no plan any more: the field is cleared), opened_at (ISO-8601,
 * the event time).
 *
 * The universal identifier is derived exactly as the declarative translator derives it
 * (docs/translators.md, "UUID derivation"): uuid5(uuid5(NAMESPACE_URL, "canongate:person"),
 * lower(trim(email))); Java's UUID.nameUUIDFromBytes is version 3 (MD5), so v5 is done here.
 *
 *   java ... org.example.support.SupportTranslator --bootstrap-servers B --registry URL [--events FILE]
 *   java ... org.example.support.SupportTranslator --print-ids < emails.txt
 */
package org.example.support;

import canongate.runtime.CanonProducer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.canongate.canon.PersonCanon;
import org.canongate.canon.PersonUpdate;
import org.canongate.canon.PersonUpdateBuilder;

public final class SupportTranslator {
  static final String SOURCE = "support";
  static final UUID NAMESPACE_URL = UUID.fromString("6ba7b811-9dad-11d1-80b4-00c04fd430c8");
  static final UUID PERSON_NAMESPACE = uuid5(NAMESPACE_URL, "canongate:person");

  private SupportTranslator() {}

  /** RFC 4122 name-based UUID, version 5: SHA-1 of the namespace's bytes and the name. */
  static UUID uuid5(UUID namespace, String name) {
    MessageDigest sha1;
    try {
      sha1 = MessageDigest.getInstance("SHA-1");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("no SHA-1 in this JVM", e);
    }
    ByteBuffer ns = ByteBuffer.allocate(16);
    ns.putLong(namespace.getMostSignificantBits()).putLong(namespace.getLeastSignificantBits());
    sha1.update(ns.array());
    byte[] h = sha1.digest(name.getBytes(StandardCharsets.UTF_8));
    h[6] = (byte) ((h[6] & 0x0f) | 0x50); // version 5
    h[8] = (byte) ((h[8] & 0x3f) | 0x80); // variant 10
    ByteBuffer b = ByteBuffer.wrap(h, 0, 16);
    return new UUID(b.getLong(), b.getLong());
  }

  /**
   * The mapping's ["trim", "lower"]: ASCII white space and ASCII letters only, exactly as
   * `canon translate` does it (String.trim and toLowerCase would also touch other
   * characters, and the ids would differ).
   */
  static String normaliseEmail(String email) {
    int a = 0;
    int b = email.length();
    while (a < b && isAsciiSpace(email.charAt(a))) {
      a++;
    }
    while (b > a && isAsciiSpace(email.charAt(b - 1))) {
      b--;
    }
    StringBuilder s = new StringBuilder(b - a);
    for (int i = a; i < b; i++) {
      char c = email.charAt(i);
      s.append(c >= 'A' && c <= 'Z' ? (char) (c + 32) : c);
    }
    return s.toString();
  }

  private static boolean isAsciiSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0b;
  }

  /** The universal identifier of the person with this e-mail address. */
  static UUID personId(String email) {
    return uuid5(PERSON_NAMESPACE, normaliseEmail(email));
  }

  /** One ticket -> one update. seq is the ticket's line number (a per-source tie-breaker). */
  static PersonUpdate toUpdate(JsonNode t, long seq) {
    PersonUpdateBuilder b =
        PersonCanon.update(personId(t.get("customer_email").asText()))
            .source(SOURCE)
            .eventTime(OffsetDateTime.parse(t.get("opened_at").asText()).toInstant())
            .seq(seq);
    JsonNode phone = t.get("callback_number");
    if (phone != null && !phone.isNull() && !phone.asText().isBlank()) {
      b.setPhone(phone.asText().trim());
    }
    if (t.has("plan")) {
      JsonNode plan = t.get("plan");
      if (plan.isNull() || plan.asText().isBlank()) {
        b.clearSupportTier();
      } else {
        b.setSupportTier(plan.asText().trim().toLowerCase(Locale.ROOT));
      }
    }
    return b.build();
  }

  static String describe(PersonUpdate u) {
    StringBuilder s = new StringBuilder();
    s.append("support -> ").append(u.getPersonId()).append(" at ")
        .append(u.getEventTime()).append(" seq ").append(u.getSeq()).append(": {");
    String sep = "";
    for (String f : u.getProvided()) {
      Object v = "phone".equals(f) ? u.getValues().getPhone() : u.getValues().getSupportTier();
      s.append(sep).append('"').append(f).append("\": ").append(v == null ? "null" : "\"" + v + "\"");
      sep = ", ";
    }
    return s.append('}').toString();
  }

  public static void main(String[] args) throws Exception {
    String bootstrap = null;
    String registry = null;
    String events = "tickets.jsonl";
    boolean printIds = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--bootstrap-servers" -> bootstrap = args[++i];
        case "--registry" -> registry = args[++i];
        case "--events" -> events = args[++i];
        case "--print-ids" -> printIds = true;
        default -> {
          System.err.println("support: unknown argument " + args[i]
              + "\nusage: SupportTranslator --bootstrap-servers B --registry URL [--events FILE] | --print-ids");
          System.exit(2);
        }
      }
    }
    if (printIds) {
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      for (String line = in.readLine(); line != null; line = in.readLine()) {
        if (!line.isBlank()) {
          System.out.println(personId(line));
        }
      }
      return;
    }
    if (bootstrap == null || registry == null) {
      System.err.println("support: --bootstrap-servers and --registry are required");
      System.exit(2);
    }

    ObjectMapper json = new ObjectMapper();
    List<JsonNode> tickets = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of(events), StandardCharsets.UTF_8)) {
      if (!line.isBlank()) {
        tickets.add(json.readTree(line));
      }
    }
    Properties kafka = new Properties();
    kafka.put("bootstrap.servers", bootstrap);
    kafka.put("delivery.timeout.ms", "30000");
    kafka.put("max.block.ms", "30000");
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    try (CanonProducer<PersonUpdate> producer = PersonCanon.producer(kafka, registry)) {
      for (int i = 0; i < tickets.size(); i++) {
        PersonUpdate u = toUpdate(tickets.get(i), i);
        sent.add(producer.send(u));
        System.out.println(describe(u));
      }
      producer.flush();
      for (Future<RecordMetadata> f : sent) {
        f.get(); // throws when the broker refused or the send timed out
      }
    }
    System.out.println("support: " + tickets.size() + " updates delivered to " + PersonCanon.UPDATES_TOPIC);
  }
}
