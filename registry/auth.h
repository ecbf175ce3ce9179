/* auth.h - access control of the registry: who is calling, and what they may do.
 *
 * A reg_auth is one loaded auth file (docs/security.md gives the format): principals that
 * authenticate either with HTTP basic auth (users, whose passwords are stored as salted
 * PBKDF2-HMAC-SHA256 hashes) or with a bearer API key (keys, stored as their SHA-256), each
 * with one role:
 *
 *   admin   everything, including /config, /mode and deletes;
 *   owner   of entities E...: writes the canonical subjects of E (canon.E.entity, and
 *           canon.E-value / canon.E.updates-value, which the registry derives), reads them;
 *   domain  the writer for source domain D, listed for entities E...: reads E's subjects,
 *           writes canon.E.updates-value (a serializer re-registering the derived update
 *           schema), and is what the aggregator checks an update's `source` against;
 *   reader  reads only.
 *
 * On top of its role a principal may carry subject patterns: "read" (default ["*"]) and
 * "write" (owner and domain only): globs where '*' matches any run of characters. Writing
 * a subject implies reading it. A lookup (POST /subjects/{s}) is a read.
 *
 * Lifetime: a reg_auth is immutable once loaded, except for a cache of verified
 * credentials guarded by its own mutex, and reference counted, so a server can swap in a
 * reloaded one while requests still use the old one: reg_auth_ref() takes a reference,
 * reg_auth_free() drops one and frees on the last. A principal belongs to its reg_auth.
 * All functions may be called from any thread.
 */
#ifndef REG_AUTH_H
#define REG_AUTH_H

#include <stddef.h>

#include "../common/err.h"

/* The Confluent-style error codes of access control (HTTP 401 and 403). */
#define REG_AUTH_E_UNAUTHORIZED 40101
#define REG_AUTH_E_FORBIDDEN    40301

/* Iterations used by reg_auth_hash_password() with 0, and the least a file may state. */
#define REG_AUTH_DEFAULT_ITERATIONS 600000u
#define REG_AUTH_MIN_ITERATIONS     1000u

typedef struct reg_auth reg_auth;
typedef struct reg_auth_principal reg_auth_principal;

typedef enum reg_auth_role {
    REG_ROLE_ADMIN,
    REG_ROLE_OWNER,
    REG_ROLE_DOMAIN,
    REG_ROLE_READER,
} reg_auth_role;

/* ---- loading ---- */

/* Loads and checks the auth file at path. On success *out holds one reference the caller
 * owns. Errors (CG_EIO, CG_EPARSE, CG_EINVAL) name the file, and for a bad entry the
 * principal and the field ("users[2] 'crm': field 'writes' is unknown"). */
cg_err *reg_auth_load(const char *path, reg_auth **out);
/* The same from text already in memory; origin names it in messages. */
cg_err *reg_auth_parse(const char *text, size_t len, const char *origin, reg_auth **out);

/* Takes one more reference to a (returned for convenience). */
reg_auth *reg_auth_ref(reg_auth *a);
/* Drops one reference; the last frees a and its principals. NULL is fine. */
void reg_auth_free(reg_auth *a);

size_t reg_auth_count(const reg_auth *a); /* principals, users and keys together */

/* ---- authentication ---- */

typedef enum reg_auth_result {
    REG_AUTH_OK,
    REG_AUTH_NO_CREDENTIALS, /* no Authorization header */
    REG_AUTH_MALFORMED,      /* a scheme other than Basic/Bearer, or bad base64 */
    REG_AUTH_UNKNOWN_USER,   /* basic auth naming no user of the file */
    REG_AUTH_BAD_PASSWORD,   /* a known user, the wrong password */
    REG_AUTH_UNKNOWN_KEY,    /* a bearer key matching no key of the file */
} reg_auth_result;

/* Checks the value of an Authorization header (NULL when absent). On REG_AUTH_OK *who is
 * the principal (it belongs to a); otherwise *who is NULL and, when a user name was given,
 * *user_out (if not NULL) gets it, malloc'd, for the server's log only: the client is
 * never told which of user and password was wrong. An unknown user costs the same
 * PBKDF2 work as a known one. A successful password check is remembered (keyed by an
 * HMAC of user and password under a random per-load key), so a client that sends its
 * credentials with every request pays the PBKDF2 cost once. */
reg_auth_result reg_auth_authenticate(reg_auth *a, const char *authorization,
                                      const reg_auth_principal **who, char **user_out);

/* A message for the client for a failed result (never says which of user/password). */
const char *reg_auth_result_message(reg_auth_result r);
/* A short name for the server's log ("bad password"). */
const char *reg_auth_result_name(reg_auth_result r);

/* ---- authorization ---- */

typedef enum reg_auth_perm {
    REG_PERM_READ,  /* GET a subject's data, lookups, compatibility checks */
    REG_PERM_WRITE, /* register a schema under the subject */
} reg_auth_perm;

/* 1 if p may do perm on subject. An admin may do anything. */
int reg_auth_allows(const reg_auth_principal *p, reg_auth_perm perm, const char *subject);
/* 1 if p may read every subject (an admin, or a read pattern "*"): lists need no filter. */
int reg_auth_reads_all(const reg_auth_principal *p);

const char *reg_auth_principal_name(const reg_auth_principal *p);
reg_auth_role reg_auth_principal_role(const reg_auth_principal *p);
const char *reg_auth_role_name(reg_auth_role r); /* "admin", "owner", "domain", "reader" */
/* "user" for basic auth, "key" for a bearer API key. */
const char *reg_auth_principal_kind(const reg_auth_principal *p);

/* 1 if some principal of role domain for domain domain[0..len) lists entity: what the
 * aggregator checks an update's source against. */
int reg_auth_domain_may_write(const reg_auth *a, const char *domain, size_t len,
                              const char *entity);

/* Adds a bearer-key principal (stored: "sha256$...", as reg_auth_hash_key() makes) with
 * role reader and read pattern "*": how `canon serve` lets its own aggregator read the
 * registry it serves. Only on a reg_auth no other thread uses yet (just loaded). Errors:
 * CG_EINVAL (bad stored form, name taken), CG_ENOMEM. */
cg_err *reg_auth_add_reader_key(reg_auth *a, const char *name, const char *stored);

/* ---- stored forms ---- */

/* '*' matches any run of characters (also none); every other character itself. */
int reg_auth_glob_match(const char *pattern, const char *s);

/* The stored form of a password: "pbkdf2-sha256$ITER$SALT_B64$HASH_B64" with a random
 * 16-byte salt and a 32-byte hash. iterations 0: REG_AUTH_DEFAULT_ITERATIONS. *out is
 * malloc'd (caller frees). */
cg_err *reg_auth_hash_password(const char *password, size_t len, unsigned iterations, char **out);
/* 1 if password matches the stored form, 0 if not, -1 if stored is malformed. */
int reg_auth_verify_password(const char *stored, const char *password, size_t len);

/* A new random API key ("cgk_" + 43 base64url characters, 256 bits) and its stored form
 * "sha256$HASH_B64". Both malloc'd (caller frees). */
cg_err *reg_auth_new_key(char **key, char **stored);
/* The stored form of a given key. */
cg_err *reg_auth_hash_key(const char *key, char **stored);

#endif
