/* registry_client.h - a small client of the schema registry's REST API, for the CLI tools.
 *
 * `canon produce`, `canon tail` and `canon state` need three things from the registry:
 * the schema of a Confluent-framed record's id (GET /schemas/ids/{id}), the latest schema
 * of a subject (GET /subjects/{s}/versions/latest) and the id of a schema text (POST
 * /subjects/{s}, "lookup"). This is HTTP/1.1 over a socket (one request per connection),
 * or HTTPS through GnuTLS, so the tools need no HTTP library; it speaks to our registry
 * and to any Confluent-compatible one. Schemas are parsed with the registry's own parser
 * (registry/schema.h), including Confluent schema references, and cached per id for the
 * life of the handle: a schema id never changes meaning.
 *
 * Errors: CG_EIO when the registry cannot be reached or answers garbage ("registry
 * http://127.0.0.1:8081: cannot connect: Connection refused"); when it answers an error,
 * the registry's own error_code (40401, 40403, ...) and message, with the request
 * ("GET /subjects/x/versions/latest: Subject 'x' not found. (HTTP 404, 40401)").
 *
 * One handle per thread (the cache has no lock).
 */
#ifndef CANON_REGISTRY_CLIENT_H
#define CANON_REGISTRY_CLIENT_H

#include <stdint.h>

#include <jansson.h>

#include "../common/err.h"
#include "../registry/schema.h"

typedef struct canon_registry canon_registry;

/* What a client needs besides its URL. NULL or "" leaves a setting out. The strings are
 * read during canon_registry_new_opts() only (the token is copied, the files loaded), so
 * the caller keeps them. Error messages name the settings by their environment variables,
 * the way users give them. */
typedef struct canon_registry_opts {
    const char *token;     /* CANON_REGISTRY_TOKEN: a bearer token, sent when the URL has
                              no credentials */
    const char *ca_file;   /* CANON_REGISTRY_CA: PEM file of CAs trusted for https, on top
                              of the system's */
    const char *cert_file; /* CANON_REGISTRY_CERT, CANON_REGISTRY_KEY: PEM client */
    const char *key_file;  /*   certificate and its key, for registries that require one
                              (mutual TLS); both or neither */
} canon_registry_opts;

/* Fills *o from the environment variables named above (getenv: the strings belong to the
 * environment). */
void canon_registry_opts_from_env(canon_registry_opts *o);

/* url: "http://HOST:PORT" or "https://HOST:PORT" with an optional path prefix
 * ("http://h:8081/sr") and optional credentials ("https://USER:PASSWORD@h:8081",
 * percent-decoded, sent as HTTP basic auth). timeout_ms bounds connect, the TLS handshake,
 * send, and the whole answer of each request, however slowly it trickles in (0: 10 s). o: the token
 * and TLS files; NULL reads them from the environment (canon_registry_opts_from_env), as
 * canon_registry_new does. *out is a new handle the caller frees.
 *
 * https checks the certificate chain and that the certificate names the URL's host (DNS
 * name or IP address); a failure is CG_EIO saying why. */
cg_err *canon_registry_new_opts(const char *url, int timeout_ms, const canon_registry_opts *o,
                                canon_registry **out);
/* canon_registry_new_opts with the settings read from the environment, once, here:
 * CANON_REGISTRY_TOKEN, CANON_REGISTRY_CA, CANON_REGISTRY_CERT, CANON_REGISTRY_KEY. */
cg_err *canon_registry_new(const char *url, int timeout_ms, canon_registry **out);
void canon_registry_free(canon_registry *r); /* NULL is fine; frees every cached schema */

/* The base URL as given, without credentials (userinfo) and trailing '/', so it is safe
 * to print; every error message uses it. Belongs to r. */
const char *canon_registry_url(const canon_registry *r);

/* The schema with global id `id`, parsed (references resolved). The schema belongs to r
 * and lives until canon_registry_free(). Not-found is CG_ESCHEMA_NOT_FOUND (40403).
 *
 * Errors of every call here: an answer about the request keeps the registry's own code
 * (40403, 40401, 42201...); an unreachable registry, a timeout, and an answer about the
 * registry or the client's standing (5xx, 401, 403, 408, 429) are CG_EIO whatever code the
 * body carries, so callers can tell "retry later" from "this is wrong". */
cg_err *canon_registry_schema(canon_registry *r, int32_t id, const reg_schema **out);

/* The latest version of subject: its id (and version) and parsed schema (cached by id,
 * belongs to r). id, version and schema may each be NULL when not wanted. */
cg_err *canon_registry_latest(canon_registry *r, const char *subject, int32_t *id, int32_t *version,
                              const reg_schema **schema);

/* POST /subjects/{subject}: the id and version under which schema_text is registered
 * there (CG_ESCHEMA_NOT_FOUND / CG_ESUBJECT_NOT_FOUND when it is not). */
cg_err *canon_registry_lookup(canon_registry *r, const char *subject, const char *schema_text,
                              int32_t *id, int32_t *version);

/* One request: method "GET"/"POST"/..., path starting with '/' (already URL-encoded),
 * body NULL or JSON sent as application/vnd.schemaregistry.v1+json. On success *status is
 * the HTTP status and *out the parsed JSON body (new reference; NULL when the body is
 * empty or not JSON). Only transport failures are errors here; status is the caller's. */
cg_err *canon_registry_request(canon_registry *r, const char *method, const char *path,
                               const json_t *body, int *status, json_t **out);

/* Percent-encodes s for a URL path segment into a new string the caller frees (NULL when
 * memory is short). */
char *canon_registry_escape(const char *s);

#endif
