/* auth.c - the registry's access control: the auth file, credentials, permissions.
 *
 * Why it looks the way it does:
 * - Passwords are stored as PBKDF2-HMAC-SHA256 with the iteration count and salt inside
 *   the stored string, so the cost can be raised later without invalidating old entries.
 *   Comparisons of derived hashes and key digests are constant-time (gnutls_memcmp).
 * - PBKDF2 at 600,000 iterations costs a fraction of a second, and Confluent clients send
 *   basic credentials with every request, so a successful check is cached under an HMAC
 *   of (user, password) keyed with a random secret drawn at load: the cache never holds a
 *   password, a reload (new reg_auth) forgets it, and failures are never cached.
 * - API keys are 256-bit random strings, so a plain SHA-256 of the key is enough to store
 *   (no salt or stretching needed against guessing); the file never holds the key.
 * - The file is checked strictly (unknown fields, bad patterns, bad names are errors that
 *   name the principal and field) because a typo in an access-control file must not
 *   silently grant or drop a permission.
 */
#include "auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>

#include "canon_contract.h"
#include "canon_derive.h"

#define SALT_LEN       16
#define HASH_LEN       32
#define MAX_ITERATIONS 100000000u
#define MAX_PATTERN    512
#define CACHE_SLOTS    256
#define MAX_FILE_BYTES (4u * 1024 * 1024)

struct reg_auth_principal {
    char *name;
    int is_key;
    reg_auth_role role;
    char *domain; /* role domain only */
    char **entities;
    size_t n_entities;
    char **read;
    size_t n_read;
    char **write;
    size_t n_write;
    int reads_all;
    /* users: */
    unsigned iterations;
    unsigned char salt[SALT_LEN];
    unsigned char hash[HASH_LEN];
    /* keys: */
    unsigned char key_digest[HASH_LEN];
};

typedef struct cache_slot {
    unsigned char tag[HASH_LEN];
    const reg_auth_principal *who; /* NULL: empty */
} cache_slot;

struct reg_auth {
    _Atomic long refs;
    reg_auth_principal *p;
    size_t n;
    unsigned max_iterations; /* a refusal (unknown user, wrong password) costs as much */
    unsigned char cache_key[HASH_LEN];
    pthread_mutex_t cache_mu; /* guards cache */
    cache_slot cache[CACHE_SLOTS];
};

/* ---- base64 ---- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes n bytes into out (at least 4*((n+2)/3)+1 bytes); pad: '=' padding. */
static void b64_encode(const unsigned char *in, size_t n, char *out, const char *alphabet, int pad)
{
    size_t i = 0;
    char *o = out;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        *o++ = alphabet[v >> 6 & 63];
        *o++ = alphabet[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        if (i + 1 < n)
            *o++ = alphabet[v >> 6 & 63];
        else if (pad)
            *o++ = '=';
        if (pad)
            *o++ = '=';
    }
    *o = '\0';
}

/* Decodes standard base64 into out (cap bytes); returns the length, or -1 (not base64,
 * or longer than cap). Padding is not demanded: trailing '=' are simply allowed.
 *
 * GnuTLS decodes. Its decoder reads PEM, so its rules differ from the ones this file has
 * always had, and the lines around the call keep ours: it skips white space and stops at
 * a '-' (a PEM boundary), where only the 64 letters are base64 here; it demands exact
 * padding, where here it is optional; it refuses a last letter whose unused low bits are
 * set, where here they are ignored. The copies are wiped: they may hold a password. */
static long b64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    while (n && in[n - 1] == '=')
        n--;
    if (n % 4 == 1) /* one stray letter: not base64 */
        return -1;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!memchr(b64_std, in[i], 64))
            return -1;
    size_t padded_len = (n + 3) / 4 * 4;
    char *padded = malloc(padded_len);
    if (!padded)
        return -1;
    memcpy(padded, in, n);
    memset(padded + n, '=', padded_len - n);
    if (n % 4) { /* 2 letters give 1 byte and 4 unused bits, 3 give 2 bytes and 2 */
        size_t v = (size_t)((const char *)memchr(b64_std, in[n - 1], 64) - b64_std);
        padded[n - 1] = b64_std[v & (n % 4 == 2 ? 0x30 : 0x3c)];
    }
    gnutls_datum_t b64 = {(unsigned char *)padded, (unsigned)padded_len}, raw = {NULL, 0};
    long len = -1;
    if (gnutls_base64_decode2(&b64, &raw) == 0 && raw.size <= cap) {
        memcpy(out, raw.data, raw.size);
        len = (long)raw.size;
    }
    if (raw.data) {
        gnutls_memset(raw.data, 0, raw.size);
        gnutls_free(raw.data);
    }
    gnutls_memset(padded, 0, padded_len);
    free(padded);
    return len;
}

/* ---- patterns ---- */

int reg_auth_glob_match(const char *pattern, const char *s)
{
    /* Iterative matcher with one backtrack point: linear in practice, no recursion, so a
     * hostile subject cannot blow the stack. */
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pattern == '*') {
            star = pattern++;
            resume = s;
        } else if (*pattern == *s) {
            pattern++;
            s++;
        } else if (star) {
            pattern = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

static int any_match(char *const *pats, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (reg_auth_glob_match(pats[i], s))
            return 1;
    return 0;
}

/* ---- hashing ---- */

static int pbkdf2(const char *password, size_t len, const unsigned char *salt, unsigned iter,
                  unsigned char out[HASH_LEN])
{
    gnutls_datum_t key = {(unsigned char *)(uintptr_t)password, (unsigned)len};
    gnutls_datum_t sd = {(unsigned char *)(uintptr_t)salt, SALT_LEN};
    return gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &sd, iter, out, HASH_LEN) ? -1 : 0;
}

static int sha256(const void *data, size_t len, unsigned char out[HASH_LEN])
{
    return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) ? -1 : 0;
}

/* Parses "pbkdf2-sha256$ITER$SALT$HASH". Returns NULL or a message (static). */
static const char *parse_password_hash(const char *stored, unsigned *iter, unsigned char *salt,
                                       unsigned char *hash)
{
    static const char prefix[] = "pbkdf2-sha256$";
    if (strncmp(stored, prefix, sizeof(prefix) - 1))
        return "does not start with 'pbkdf2-sha256$' (make one with 'canon auth "
               "hash-password')";
    const char *p = stored + sizeof(prefix) - 1;
    char *end = NULL;
    errno = 0;
    unsigned long it = strtoul(p, &end, 10);
    if (end == p || *end != '$' || errno || *p == '-' || *p == '+')
        return "has no iteration count after 'pbkdf2-sha256$'";
    if (it < REG_AUTH_MIN_ITERATIONS || it > MAX_ITERATIONS)
        return "has an iteration count outside 1000..100000000";
    const char *salt_b = end + 1;
    const char *dollar = strchr(salt_b, '$');
    if (!dollar)
        return "has no '$' between salt and hash";
    unsigned char buf[64];
    if (b64_decode(salt_b, (size_t)(dollar - salt_b), buf, sizeof(buf)) != SALT_LEN)
        return "has a salt that is not 16 bytes of base64";
    memcpy(salt, buf, SALT_LEN);
    if (b64_decode(dollar + 1, strlen(dollar + 1), buf, sizeof(buf)) != HASH_LEN)
        return "has a hash that is not 32 bytes of base64";
    memcpy(hash, buf, HASH_LEN);
    *iter = (unsigned)it;
    return NULL;
}

static const char *parse_key_hash(const char *stored, unsigned char *digest)
{
    static const char prefix[] = "sha256$";
    if (strncmp(stored, prefix, sizeof(prefix) - 1))
        return "does not start with 'sha256$' (make one with 'canon auth new-key')";
    unsigned char buf[64];
    const char *p = stored + sizeof(prefix) - 1;
    if (b64_decode(p, strlen(p), buf, sizeof(buf)) != HASH_LEN)
        return "has a digest that is not 32 bytes of base64";
    memcpy(digest, buf, HASH_LEN);
    return NULL;
}

cg_err *reg_auth_hash_password(const char *password, size_t len, unsigned iterations, char **out)
{
    unsigned char salt[SALT_LEN], hash[HASH_LEN];
    char salt_b[32], hash_b[64];
    if (!iterations)
        iterations = REG_AUTH_DEFAULT_ITERATIONS;
    if (iterations < REG_AUTH_MIN_ITERATIONS || iterations > MAX_ITERATIONS)
        return cg_err_new(CG_EINVAL, "iterations must be in %u..%u", REG_AUTH_MIN_ITERATIONS,
                          MAX_ITERATIONS);
    if (gnutls_rnd(GNUTLS_RND_RANDOM, salt, sizeof(salt)))
        return cg_err_new(CG_EIO, "no random bytes for a salt");
    if (pbkdf2(password, len, salt, iterations, hash))
        return cg_err_new(CG_EIO, "PBKDF2 failed");
    b64_encode(salt, SALT_LEN, salt_b, b64_std, 1);
    b64_encode(hash, HASH_LEN, hash_b, b64_std, 1);
    size_t cap = 40 + strlen(salt_b) + strlen(hash_b);
    char *s = malloc(cap);
    if (!s)
        return cg_err_new(CG_ENOMEM, "out of memory");
    snprintf(s, cap, "pbkdf2-sha256$%u$%s$%s", iterations, salt_b, hash_b);
    *out = s;
    return NULL;
}

int reg_auth_verify_password(const char *stored, const char *password, size_t len)
{
    unsigned iter;
    unsigned char salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
    if (parse_password_hash(stored, &iter, salt, want))
        return -1;
    if (pbkdf2(password, len, salt, iter, got))
        return -1;
    return gnutls_memcmp(got, want, HASH_LEN) == 0;
}

cg_err *reg_auth_hash_key(const char *key, char **stored)
{
    unsigned char d[HASH_LEN];
    char b[64];
    if (sha256(key, strlen(key), d))
        return cg_err_new(CG_EIO, "SHA-256 failed");
    b64_encode(d, HASH_LEN, b, b64_std, 1);
    size_t cap = strlen(b) + 8;
    char *s = malloc(cap);
    if (!s)
        return cg_err_new(CG_ENOMEM, "out of memory");
    snprintf(s, cap, "sha256$%s", b);
    *stored = s;
    return NULL;
}

cg_err *reg_auth_new_key(char **key, char **stored)
{
    unsigned char raw[32];
    char b[64];
    if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)))
        return cg_err_new(CG_EIO, "no random bytes for a key");
    b64_encode(raw, sizeof(raw), b, b64_url, 0);
    size_t cap = strlen(b) + 5;
    char *k = malloc(cap);
    if (!k)
        return cg_err_new(CG_ENOMEM, "out of memory");
    snprintf(k, cap, "cgk_%s", b);
    cg_err *err = reg_auth_hash_key(k, stored);
    if (err) {
        free(k);
        return err;
    }
    *key = k;
    return NULL;
}

/* ---- loading ---- */

static void principal_clear(reg_auth_principal *p)
{
    free(p->name);
    free(p->domain);
    for (size_t i = 0; i < p->n_entities; i++)
        free(p->entities[i]);
    free(p->entities);
    for (size_t i = 0; i < p->n_read; i++)
        free(p->read[i]);
    free(p->read);
    for (size_t i = 0; i < p->n_write; i++)
        free(p->write[i]);
    free(p->write);
    gnutls_memset(p, 0, sizeof(*p));
}

static const char *const role_names[] = {"admin", "owner", "domain", "reader"};

const char *reg_auth_role_name(reg_auth_role r)
{
    return (unsigned)r < 4 ? role_names[r] : "?";
}

/* "users[2] 'crm'": where an entry sits, for messages. */
static void where(char *buf, size_t cap, const char *list, size_t i, const char *name)
{
    if (name)
        snprintf(buf, cap, "%s[%zu] '%s'", list, i, name);
    else
        snprintf(buf, cap, "%s[%zu]", list, i);
}

/* A subject pattern: non-empty, printable, '*' the only special character. */
static const char *pattern_problem(const char *s)
{
    if (!*s)
        return "is empty";
    if (strlen(s) > MAX_PATTERN)
        return "is longer than 512 characters";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return "contains a control character";
        if (*p == '?' || *p == '[' || *p == ']')
            return "contains '?', '[' or ']': only '*' is a wildcard";
    }
    return NULL;
}

/* Reads an array of strings field into *out; check validates each (NULL: ok). */
static cg_err *string_list(json_t *v, const char *origin, const char *at, const char *field,
                           const char *(*check)(const char *), char ***out, size_t *n)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return cg_err_new(CG_EINVAL, "%s: %s: field '%s' must be a non-empty array of strings",
                          origin, at, field);
    size_t cnt = json_array_size(v);
    char **arr = calloc(cnt, sizeof(*arr));
    if (!arr)
        return cg_err_new(CG_ENOMEM, "out of memory");
    *out = arr;
    for (size_t i = 0; i < cnt; i++) {
        const char *s = json_string_value(json_array_get(v, i));
        if (!s)
            return cg_err_new(CG_EINVAL, "%s: %s: field '%s'[%zu] is not a string", origin, at,
                              field, i);
        const char *why = check ? check(s) : NULL;
        if (why)
            return cg_err_new(CG_EINVAL, "%s: %s: field '%s': '%s' %s", origin, at, field, s, why);
        if (!(arr[i] = strdup(s)))
            return cg_err_new(CG_ENOMEM, "out of memory");
        *n = i + 1;
    }
    return NULL;
}

static const char *entity_problem(const char *s)
{
    return reg_canon_entity_valid(s, strlen(s)) ? NULL
                                                : "is not an entity name ([a-z][a-z0-9_]*, at most "
                                                  "64 characters)";
}

static cg_err *parse_principal(json_t *o, const char *origin, const char *list, size_t idx,
                               int is_key, reg_auth_principal *p)
{
    char at[200];
    const char *name = json_string_value(json_object_get(o, "name"));
    where(at, sizeof(at), list, idx, name);
    if (!json_is_object(o))
        return cg_err_new(CG_EINVAL, "%s: %s: not an object", origin, at);
    const char *secret_field = is_key ? "key" : "password";
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "name") && strcmp(key, secret_field) && strcmp(key, "role") &&
            strcmp(key, "entities") && strcmp(key, "domain") && strcmp(key, "read") &&
            strcmp(key, "write") && strcmp(key, "comment"))
            return cg_err_new(CG_EINVAL,
                              "%s: %s: field '%s' is unknown (known: name, %s, role, entities, "
                              "domain, read, write, comment)",
                              origin, at, key, secret_field);
    }
    if (!name || !*name)
        return cg_err_new(CG_EINVAL, "%s: %s: field 'name' is missing or not a non-empty string",
                          origin, at);
    if (strchr(name, ':') && !is_key)
        return cg_err_new(CG_EINVAL,
                          "%s: %s: field 'name' contains ':', which HTTP basic auth cannot carry",
                          origin, at);
    p->is_key = is_key;
    if (!(p->name = strdup(name)))
        return cg_err_new(CG_ENOMEM, "out of memory");

    const char *secret = json_string_value(json_object_get(o, secret_field));
    if (!secret)
        return cg_err_new(CG_EINVAL, "%s: %s: field '%s' is missing or not a string", origin, at,
                          secret_field);
    const char *why = is_key ? parse_key_hash(secret, p->key_digest)
                             : parse_password_hash(secret, &p->iterations, p->salt, p->hash);
    if (why)
        return cg_err_new(CG_EINVAL, "%s: %s: field '%s' %s", origin, at, secret_field, why);

    const char *role = json_string_value(json_object_get(o, "role"));
    if (!role)
        return cg_err_new(CG_EINVAL,
                          "%s: %s: field 'role' is missing (admin, owner, domain or reader)",
                          origin, at);
    size_t r;
    for (r = 0; r < 4 && strcmp(role, role_names[r]); r++)
        ;
    if (r == 4)
        return cg_err_new(CG_EINVAL,
                          "%s: %s: field 'role': '%s' is not admin, owner, domain or reader",
                          origin, at, role);
    p->role = (reg_auth_role)r;

    json_t *ents = json_object_get(o, "entities"), *dom = json_object_get(o, "domain");
    json_t *rd = json_object_get(o, "read"), *wr = json_object_get(o, "write");
    int needs_entities = p->role == REG_ROLE_OWNER || p->role == REG_ROLE_DOMAIN;
    if (needs_entities && !ents)
        return cg_err_new(CG_EINVAL, "%s: %s: field 'entities' is required for role %s", origin, at,
                          role);
    if (!needs_entities && ents)
        return cg_err_new(CG_EINVAL, "%s: %s: field 'entities' has no meaning for role %s", origin,
                          at, role);
    if (ents) {
        cg_err *e =
            string_list(ents, origin, at, "entities", entity_problem, &p->entities, &p->n_entities);
        if (e)
            return e;
    }
    if (p->role == REG_ROLE_DOMAIN) {
        const char *d = json_string_value(dom);
        if (!d)
            return cg_err_new(CG_EINVAL,
                              "%s: %s: field 'domain' is required for role domain (a string)",
                              origin, at);
        if (!reg_canon_domain_valid(d))
            return cg_err_new(CG_EINVAL,
                              "%s: %s: field 'domain': '%s' is not a domain name "
                              "([a-z0-9][a-z0-9_.-]*, at most 64 characters)",
                              origin, at, d);
        if (!(p->domain = strdup(d)))
            return cg_err_new(CG_ENOMEM, "out of memory");
    } else if (dom) {
        return cg_err_new(CG_EINVAL, "%s: %s: field 'domain' has no meaning for role %s", origin,
                          at, role);
    }
    if (p->role == REG_ROLE_ADMIN && (rd || wr))
        return cg_err_new(CG_EINVAL,
                          "%s: %s: field '%s' has no meaning for role admin (it may do anything)",
                          origin, at, rd ? "read" : "write");
    if (p->role == REG_ROLE_READER && wr)
        return cg_err_new(CG_EINVAL, "%s: %s: field 'write' is not allowed for role reader", origin,
                          at);
    if (rd) {
        cg_err *e = string_list(rd, origin, at, "read", pattern_problem, &p->read, &p->n_read);
        if (e)
            return e;
    } else if (p->role != REG_ROLE_ADMIN) {
        /* Schemas are rarely secret: reading everything is the default; a file narrows it. */
        p->read = calloc(1, sizeof(char *));
        if (!p->read || !(p->read[0] = strdup("*")))
            return cg_err_new(CG_ENOMEM, "out of memory");
        p->n_read = 1;
    }
    if (wr) {
        cg_err *e = string_list(wr, origin, at, "write", pattern_problem, &p->write, &p->n_write);
        if (e)
            return e;
    }
    json_t *c = json_object_get(o, "comment");
    if (c && !json_is_string(c))
        return cg_err_new(CG_EINVAL, "%s: %s: field 'comment' is not a string", origin, at);
    p->reads_all = p->role == REG_ROLE_ADMIN;
    for (size_t i = 0; i < p->n_read; i++)
        if (!strcmp(p->read[i], "*"))
            p->reads_all = 1;
    for (size_t i = 0; i < p->n_write; i++)
        if (!strcmp(p->write[i], "*"))
            p->reads_all = 1;
    return NULL;
}

cg_err *reg_auth_parse(const char *text, size_t len, const char *origin, reg_auth **out)
{
    cg_err *err = NULL;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    reg_auth *a = NULL;
    if (!root)
        return cg_err_new(CG_EPARSE, "%s: line %d, column %d: %s", origin, je.line, je.column,
                          je.text);
    if (!json_is_object(root)) {
        err = cg_err_new(CG_EINVAL,
                         "%s: the top level must be an object with \"users\" and/or "
                         "\"keys\"",
                         origin);
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "users") && strcmp(key, "keys") && strcmp(key, "comment")) {
            err = cg_err_new(CG_EINVAL,
                             "%s: top-level field '%s' is unknown (known: users, keys, comment)",
                             origin, key);
            goto done;
        }
        if (strcmp(key, "comment") && !json_is_array(v)) {
            err = cg_err_new(CG_EINVAL, "%s: field '%s' must be an array", origin, key);
            goto done;
        }
    }
    json_t *users = json_object_get(root, "users"), *keys = json_object_get(root, "keys");
    size_t nu = json_array_size(users), nk = json_array_size(keys);
    if (nu + nk == 0) {
        err = cg_err_new(CG_EINVAL,
                         "%s: no principals: give at least one entry in \"users\" or \"keys\" "
                         "(an empty file would lock everyone out)",
                         origin);
        goto done;
    }
    a = calloc(1, sizeof(*a));
    if (!a) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    atomic_init(&a->refs, 1);
    pthread_mutex_init(&a->cache_mu, NULL);
    if (!(a->p = calloc(nu + nk, sizeof(*a->p)))) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    if (gnutls_rnd(GNUTLS_RND_RANDOM, a->cache_key, sizeof(a->cache_key))) {
        err = cg_err_new(CG_EIO, "no random bytes");
        goto done;
    }
    a->max_iterations = REG_AUTH_MIN_ITERATIONS;
    for (size_t i = 0; i < nu + nk; i++) {
        int is_key = i >= nu;
        size_t idx = is_key ? i - nu : i;
        err = parse_principal(json_array_get(is_key ? keys : users, idx), origin,
                              is_key ? "keys" : "users", idx, is_key, &a->p[i]);
        a->n = i + 1;
        if (err)
            goto done;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(a->p[j].name, a->p[i].name)) {
                err = cg_err_new(CG_EINVAL, "%s: %s[%zu] '%s': field 'name' repeats %s[%zu]",
                                 origin, is_key ? "keys" : "users", idx, a->p[i].name,
                                 j >= nu ? "keys" : "users", j >= nu ? j - nu : j);
                goto done;
            }
        if (!is_key && a->p[i].iterations > a->max_iterations)
            a->max_iterations = a->p[i].iterations;
    }
    *out = a;
    a = NULL;
done:
    reg_auth_free(a);
    json_decref(root);
    return err;
}

cg_err *reg_auth_load(const char *path, reg_auth **out)
{
    cg_err *err = NULL;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cg_err_new(CG_EIO, "auth file %s: %s", path, strerror(errno));
    buf = malloc(MAX_FILE_BYTES + 1);
    if (!buf) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    size_t n = fread(buf, 1, MAX_FILE_BYTES + 1, f);
    if (ferror(f)) {
        err = cg_err_new(CG_EIO, "auth file %s: read error", path);
        goto done;
    }
    if (n > MAX_FILE_BYTES) {
        err = cg_err_new(CG_EINVAL, "auth file %s: larger than 4 MiB", path);
        goto done;
    }
    char origin[300];
    snprintf(origin, sizeof(origin), "auth file %s", path);
    err = reg_auth_parse(buf, n, origin, out);
done:
    free(buf);
    fclose(f);
    return err;
}

reg_auth *reg_auth_ref(reg_auth *a)
{
    if (a)
        atomic_fetch_add(&a->refs, 1);
    return a;
}

void reg_auth_free(reg_auth *a)
{
    if (!a || atomic_fetch_sub(&a->refs, 1) > 1)
        return;
    for (size_t i = 0; i < a->n; i++)
        principal_clear(&a->p[i]);
    free(a->p);
    pthread_mutex_destroy(&a->cache_mu);
    gnutls_memset(a, 0, sizeof(*a));
    free(a);
}

size_t reg_auth_count(const reg_auth *a)
{
    return a ? a->n : 0;
}

/* ---- authentication ---- */

static int scheme_is(const char *h, const char *scheme, const char **rest)
{
    size_t n = strlen(scheme);
    if (strncasecmp(h, scheme, n) || (h[n] != ' ' && h[n] != '\t'))
        return 0;
    h += n;
    while (*h == ' ' || *h == '\t')
        h++;
    *rest = h;
    return 1;
}

static reg_auth_result check_basic(reg_auth *a, const char *b64, const reg_auth_principal **who,
                                   char **user_out)
{
    size_t n = strcspn(b64, " \t\r\n");
    if (n == 0 || n > 4096)
        return REG_AUTH_MALFORMED;
    unsigned char *plain = malloc(n + 1);
    if (!plain)
        return REG_AUTH_MALFORMED;
    reg_auth_result res = REG_AUTH_MALFORMED;
    long len = b64_decode(b64, n, plain, n);
    unsigned char *colon = len > 0 ? memchr(plain, ':', (size_t)len) : NULL;
    if (!colon)
        goto done;
    *colon = '\0';
    const char *user = (const char *)plain;
    const char *pw = (const char *)colon + 1;
    size_t pwlen = (size_t)len - (size_t)(colon + 1 - plain);
    if (user_out)
        *user_out = strdup(user);

    const reg_auth_principal *p = NULL;
    for (size_t i = 0; i < a->n && !p; i++)
        if (!a->p[i].is_key && !strcmp(a->p[i].name, user))
            p = &a->p[i];

    /* The cache tag binds user and password; only successes are stored. */
    unsigned char tag[HASH_LEN];
    int have_tag = 0;
    if (p) {
        size_t ulen = strlen(user);
        unsigned char *msg = malloc(ulen + 1 + pwlen);
        if (msg) {
            memcpy(msg, user, ulen + 1);
            memcpy(msg + ulen + 1, pw, pwlen);
            have_tag = !gnutls_hmac_fast(GNUTLS_MAC_SHA256, a->cache_key, HASH_LEN, msg,
                                         ulen + 1 + pwlen, tag);
            gnutls_memset(msg, 0, ulen + 1 + pwlen);
            free(msg);
        }
        if (have_tag) {
            pthread_mutex_lock(&a->cache_mu);
            cache_slot *slot = &a->cache[tag[0]];
            int hit = slot->who == p && !gnutls_memcmp(slot->tag, tag, HASH_LEN);
            pthread_mutex_unlock(&a->cache_mu);
            if (hit) {
                *who = p;
                res = REG_AUTH_OK;
                goto done;
            }
        }
    }
    unsigned char got[HASH_LEN];
    if (!p) {
        /* As much work as a real check, so timing does not tell unknown users apart. */
        unsigned char salt[SALT_LEN] = {0};
        pbkdf2(pw, pwlen, salt, a->max_iterations, got);
        res = REG_AUTH_UNKNOWN_USER;
        goto done;
    }
    if (pbkdf2(pw, pwlen, p->salt, p->iterations, got) || gnutls_memcmp(got, p->hash, HASH_LEN)) {
        /* Padded to the unknown user's cost (max_iterations): with users of different
         * counts in one file, a quick refusal would tell that the name exists. */
        if (p->iterations < a->max_iterations) {
            unsigned char salt[SALT_LEN] = {0};
            pbkdf2(pw, pwlen, salt, a->max_iterations - p->iterations, got);
        }
        res = REG_AUTH_BAD_PASSWORD;
        goto done;
    }
    if (have_tag) {
        pthread_mutex_lock(&a->cache_mu);
        memcpy(a->cache[tag[0]].tag, tag, HASH_LEN);
        a->cache[tag[0]].who = p;
        pthread_mutex_unlock(&a->cache_mu);
    }
    *who = p;
    res = REG_AUTH_OK;
done:
    gnutls_memset(plain, 0, n + 1);
    free(plain);
    return res;
}

static reg_auth_result check_bearer(reg_auth *a, const char *token, const reg_auth_principal **who)
{
    size_t n = strcspn(token, " \t\r\n");
    if (n == 0)
        return REG_AUTH_MALFORMED;
    unsigned char d[HASH_LEN];
    if (sha256(token, n, d))
        return REG_AUTH_MALFORMED;
    const reg_auth_principal *found = NULL;
    for (size_t i = 0; i < a->n; i++) /* no early exit: the time does not depend on which */
        if (a->p[i].is_key && !gnutls_memcmp(a->p[i].key_digest, d, HASH_LEN))
            found = &a->p[i];
    if (!found)
        return REG_AUTH_UNKNOWN_KEY;
    *who = found;
    return REG_AUTH_OK;
}

reg_auth_result reg_auth_authenticate(reg_auth *a, const char *authorization,
                                      const reg_auth_principal **who, char **user_out)
{
    *who = NULL;
    if (user_out)
        *user_out = NULL;
    if (!authorization)
        return REG_AUTH_NO_CREDENTIALS;
    while (*authorization == ' ' || *authorization == '\t')
        authorization++;
    if (!*authorization)
        return REG_AUTH_NO_CREDENTIALS;
    const char *rest;
    if (scheme_is(authorization, "Basic", &rest))
        return check_basic(a, rest, who, user_out);
    if (scheme_is(authorization, "Bearer", &rest))
        return check_bearer(a, rest, who);
    return REG_AUTH_MALFORMED;
}

const char *reg_auth_result_message(reg_auth_result r)
{
    switch (r) {
    case REG_AUTH_OK:
        return "authenticated";
    case REG_AUTH_NO_CREDENTIALS:
        return "Authentication required: send HTTP basic credentials (user and password) or "
               "'Authorization: Bearer <API key>'";
    case REG_AUTH_MALFORMED:
        return "Malformed Authorization header: expected 'Basic <base64 of user:password>' or "
               "'Bearer <API key>'";
    case REG_AUTH_UNKNOWN_USER:
    case REG_AUTH_BAD_PASSWORD:
        return "Invalid user name or password";
    case REG_AUTH_UNKNOWN_KEY:
        return "Invalid API key";
    }
    return "Unauthorized";
}

const char *reg_auth_result_name(reg_auth_result r)
{
    static const char *const names[] = {"ok",           "no credentials", "malformed header",
                                        "unknown user", "bad password",   "unknown API key"};
    return (unsigned)r < 6 ? names[r] : "?";
}

/* ---- authorization ---- */

/* The entity subject's kind and entity, when p's role gives it rights there. */
static int role_grants(const reg_auth_principal *p, reg_auth_perm perm, const char *subject)
{
    if (p->role != REG_ROLE_OWNER && p->role != REG_ROLE_DOMAIN)
        return 0;
    char entity[REG_CANON_SUBJECT_MAX];
    reg_canon_subject_kind k = reg_canon_subject_parse(subject, entity, sizeof(entity));
    if (k == REG_CANON_SUBJECT_NONE)
        return 0;
    size_t i;
    for (i = 0; i < p->n_entities && strcmp(p->entities[i], entity); i++)
        ;
    if (i == p->n_entities)
        return 0;
    if (perm == REG_PERM_READ || p->role == REG_ROLE_OWNER)
        return 1;
    /* A domain writer may only re-register the derived update schema (what an
     * auto-registering serializer does); the registry refuses any other schema there. */
    return k == REG_CANON_SUBJECT_UPDATES;
}

int reg_auth_allows(const reg_auth_principal *p, reg_auth_perm perm, const char *subject)
{
    if (!p)
        return 0;
    if (p->role == REG_ROLE_ADMIN)
        return 1;
    if (role_grants(p, perm, subject))
        return 1;
    if (any_match(p->write, p->n_write, subject))
        return 1; /* writing implies reading */
    return perm == REG_PERM_READ && any_match(p->read, p->n_read, subject);
}

int reg_auth_reads_all(const reg_auth_principal *p)
{
    return p && p->reads_all;
}

const char *reg_auth_principal_name(const reg_auth_principal *p)
{
    return p->name;
}

reg_auth_role reg_auth_principal_role(const reg_auth_principal *p)
{
    return p->role;
}

const char *reg_auth_principal_kind(const reg_auth_principal *p)
{
    return p->is_key ? "key" : "user";
}

int reg_auth_domain_may_write(const reg_auth *a, const char *domain, size_t len, const char *entity)
{
    for (size_t i = 0; a && i < a->n; i++) {
        const reg_auth_principal *p = &a->p[i];
        if (p->role != REG_ROLE_DOMAIN || strlen(p->domain) != len ||
            memcmp(p->domain, domain, len))
            continue;
        for (size_t j = 0; j < p->n_entities; j++)
            if (!strcmp(p->entities[j], entity))
                return 1;
    }
    return 0;
}

cg_err *reg_auth_add_reader_key(reg_auth *a, const char *name, const char *stored)
{
    unsigned char digest[HASH_LEN];
    const char *why = parse_key_hash(stored, digest);
    if (why)
        return cg_err_new(CG_EINVAL, "key '%s' %s", name, why);
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->p[i].name, name))
            return cg_err_new(CG_EINVAL, "principal name '%s' is taken", name);
    reg_auth_principal *np = realloc(a->p, (a->n + 1) * sizeof(*np));
    if (!np)
        return cg_err_new(CG_ENOMEM, "out of memory");
    a->p = np;
    reg_auth_principal *p = &a->p[a->n];
    memset(p, 0, sizeof(*p));
    p->is_key = 1;
    p->role = REG_ROLE_READER;
    p->reads_all = 1;
    memcpy(p->key_digest, digest, HASH_LEN);
    p->name = strdup(name);
    p->read = calloc(1, sizeof(char *));
    if (p->read)
        p->read[0] = strdup("*");
    p->n_read = p->read ? 1 : 0;
    a->n++; /* counted now so that reg_auth_free() releases what was allocated */
    if (!p->name || !p->read || !p->read[0])
        return cg_err_new(CG_ENOMEM, "out of memory");
    return NULL;
}
