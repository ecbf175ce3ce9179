package canongate.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** The few calls of the Confluent-compatible registry API the helpers need (java.net.http). */
public final class RegistryClient {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";
  private final String base;
  private final HttpClient http;

  /**
   * A client of the registry at baseUrl.
   *
   * @param baseUrl e.g. "http://127.0.0.1:8081"
   */
  public RegistryClient(String baseUrl) {
    this.base = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
    this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
  }

  private JsonNode call(HttpRequest req) throws IOException {
    HttpResponse<String> resp;
    try {
      resp = http.send(req, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(req.method() + " " + req.uri() + ": interrupted", e);
    } catch (IOException e) {
      // ConnectException and the like often have no message: say what failed and where
      throw new IOException(req.method() + " " + req.uri() + ": registry unreachable: " + e, e);
    }
    if (resp.statusCode() / 100 != 2)
      throw new IOException(req.method() + " " + req.uri() + ": HTTP " + resp.statusCode() + " " + resp.body());
    return MAPPER.readTree(resp.body());
  }

  /**
   * The id of schemaText under subject (POST /subjects/{subject}); the schema must be
   * registered there already (the registry registers derived schemas itself).
   *
   * @param subject e.g. "canon.person.updates-value"
   * @param schemaText the schema, as embedded in the binding
   * @return the global schema id
   * @throws IOException when the registry is unreachable or does not know the schema
   */
  public int lookupId(String subject, String schemaText) throws IOException {
    String body = MAPPER.createObjectNode().put("schema", schemaText).toString();
    HttpRequest req =
        HttpRequest.newBuilder(URI.create(base + "/subjects/" + URLEncoder.encode(subject, StandardCharsets.UTF_8)))
            .timeout(Duration.ofSeconds(30))
            .header("Content-Type", CONTENT_TYPE)
            .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
            .build();
    JsonNode id = call(req).get("id");
    if (id == null || !id.canConvertToInt()) throw new IOException("registry answer without an id");
    return id.intValue();
  }

  /**
   * The schema text of a global id (GET /schemas/ids/{id}).
   *
   * @param id the schema id
   * @return the schema text
   * @throws IOException when the registry is unreachable or does not know the id
   */
  public String schemaById(int id) throws IOException {
    HttpRequest req = HttpRequest.newBuilder(URI.create(base + "/schemas/ids/" + id)).timeout(Duration.ofSeconds(30)).GET().build();
    JsonNode s = call(req).get("schema");
    if (s == null || !s.isTextual()) throw new IOException("registry answer without a schema");
    return s.textValue();
  }
}
