/* mapping_text.c - tr_mapping_apply_text(): a domain record's JSON text straight to an
 * update, without building a jansson tree.
 *
 * Parsing a typical 333-byte HR record with jansson costs several times what applying the
 * mapping costs (docs/translators.md, "Performance"): it allocates every value and a hash
 * table per object, although the mapping reads a dozen values. This scanner walks the
 * text once along the mapping's path trie (mapping_internal.h), points at the strings a
 * path ends at where they stand in the text (tr_val: no allocation), builds a json_t only
 * for the other values a path ends at (numbers, strings with escapes, containers), and
 * skips the rest. It validates everything it skips by
 * jansson's rules (json_loadb with flags 0: an object or array at the top, UTF-8, escapes,
 * no NUL, integer and real ranges, depth 2048, nothing after the value), so a record is
 * accepted or refused exactly as jansson would, and the update is byte for byte the one
 * tr_mapping_apply() gives (tests/unit/test_mapping_text.c checks both on mutated
 * records). Duplicate member names: the last one wins, as in jansson.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"
#include "mapping_internal.h"

#define MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

typedef struct tscan {
    const char *p, *end, *start;
    const char *err; /* static reason */
    size_t err_at;
    int depth;
    tr_output *o;
} tscan;

static int fail(tscan *s, const char *why)
{
    if (!s->err) {
        s->err = why;
        s->err_at = (size_t)(s->p - s->start);
    }
    return -1;
}

static void skip_ws(tscan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Nonzero when one of the 8 bytes of w is not plain string text: a quote, a backslash, a
 * control character or a byte >= 0x80 (the classic "has zero byte" / "has byte less than"
 * bit tricks; a flagged word is then scanned byte by byte, so the bits above the first
 * hit, which may be wrong, do not matter). */
static uint64_t special_bytes(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((bs - ones) & ~bs) | ((w - ones * 0x20) & ~w) | w) & highs;
}

/* The first byte from p on that is not plain string text, or end. Eight bytes at a time,
 * then one by one (this loop was the scanner's hottest). On a little-endian machine the
 * lowest flagged byte of a word is exact (the tricks' false hits come only after a true
 * one), so the word says where the run ends. */
static const char *skip_plain(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t hit = special_bytes(w);
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (hit)
            return p + __builtin_ctzll(hit) / 8;
#else
        if (hit)
            break;
#endif
        p += 8;
    }
    while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' &&
           *p != '\\')
        p++;
    return p;
}

/* Scans a string (s->p at the quote); sets raw and n to its bytes between the quotes, esc to 1 if
 * it holds escapes. */
static int scan_string(tscan *s, const char **raw, size_t *n, int *esc)
{
    s->p++;
    const char *b = s->p;
    *esc = 0;
    while (s->p < s->end) {
        s->p = skip_plain(s->p, s->end);
        if (s->p >= s->end)
            break;
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            *raw = b;
            *n = (size_t)(s->p - b);
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return fail(s, "control character in a string");
        if (c == '\\') {
            *esc = 1;
            if (s->end - s->p < 2)
                return fail(s, "unterminated string");
            char e = s->p[1];
            if (e == 'u') {
                unsigned u, lo;
                if (s->end - s->p < 6 || hex4(s->p + 2, &u) != 0)
                    return fail(s, "invalid \\u escape");
                if (u == 0)
                    return fail(s, "\\u0000 is not allowed");
                s->p += 6;
                if (u >= 0xdc00 && u <= 0xdfff)
                    return fail(s, "invalid Unicode escape (lone low surrogate)");
                if (u >= 0xd800 && u <= 0xdbff) {
                    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
                        hex4(s->p + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                        return fail(s, "invalid Unicode escape (unpaired surrogate)");
                    s->p += 6;
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == 0)
                return fail(s, "invalid escape");
            s->p += 2;
            continue;
        }
        size_t l = utf8_len((const unsigned char *)s->p, (const unsigned char *)s->end);
        if (!l)
            return fail(s, "invalid UTF-8 in a string");
        s->p += l;
    }
    return fail(s, "unterminated string");
}

static void put_utf8(canon_buf *b, unsigned cp)
{
    uint8_t t[4];
    size_t k = 0;
    if (cp < 0x80) {
        t[k++] = (uint8_t)cp;
    } else if (cp < 0x800) {
        t[k++] = (uint8_t)(0xc0 | (cp >> 6));
        t[k++] = (uint8_t)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        t[k++] = (uint8_t)(0xe0 | (cp >> 12));
        t[k++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        t[k++] = (uint8_t)(0x80 | (cp & 0x3f));
    } else {
        t[k++] = (uint8_t)(0xf0 | (cp >> 18));
        t[k++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        t[k++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        t[k++] = (uint8_t)(0x80 | (cp & 0x3f));
    }
    canon_write_raw(b, t, k);
}

/* Decodes a scanned (valid) string with escapes into b. */
static void unescape(const char *r, size_t n, canon_buf *b)
{
    canon_buf_clear(b);
    const char *end = r + n;
    while (r < end) {
        if (*r != '\\') {
            const char *q = r;
            while (q < end && *q != '\\')
                q++;
            canon_write_raw(b, r, (size_t)(q - r));
            r = q;
            continue;
        }
        char e = r[1];
        if (e == 'u') {
            unsigned u = 0, lo = 0;
            hex4(r + 2, &u);
            r += 6;
            if (u >= 0xd800 && u <= 0xdbff) {
                hex4(r + 2, &lo);
                r += 6;
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
            }
            put_utf8(b, u);
            continue;
        }
        char c = e == 'b'   ? '\b'
                 : e == 'f' ? '\f'
                 : e == 'n' ? '\n'
                 : e == 'r' ? '\r'
                 : e == 't' ? '\t'
                            : e;
        canon_write_raw(b, &c, 1);
        r += 2;
    }
}

/* Scans a number; *is_real when it has a fraction or exponent. */
static int scan_number(tscan *s, int *is_real)
{
    const char *p = s->p;
    *is_real = 0;
    if (p < s->end && *p == '-')
        p++;
    if (p >= s->end || *p < '0' || *p > '9')
        return fail(s, "invalid number");
    if (*p == '0') {
        p++;
        if (p < s->end && *p >= '0' && *p <= '9')
            return fail(s, "invalid number (leading zero)");
    } else {
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < s->end && *p == '.') {
        *is_real = 1;
        p++;
        if (p >= s->end || *p < '0' || *p > '9')
            return fail(s, "invalid number");
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        *is_real = 1;
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= s->end || *p < '0' || *p > '9')
            return fail(s, "invalid number");
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    s->p = p;
    return 0;
}

/* Checks the number's range as jansson does (validated text b..e) and, when out is
 * non-NULL, builds its value. Short numbers cannot be out of range and are not converted
 * unless their value is wanted. */
static int number_value(tscan *s, const char *b, const char *e, int is_real, json_t **out)
{
    size_t n = (size_t)(e - b);
    if (!out &&
        ((!is_real && n <= 18) || (is_real && n < 300 && !memchr(b, 'e', n) && !memchr(b, 'E', n))))
        return 0;
    canon_buf *t = &s->o->text_;
    canon_buf_clear(t);
    canon_write_raw(t, b, n);
    canon_write_raw(t, "", 1);
    if (t->failed)
        return fail(s, "out of memory");
    const char *txt = (const char *)t->data;
    errno = 0;
    if (!is_real) {
        long long v = strtoll(txt, NULL, 10);
        if (errno == ERANGE) {
            s->p = b; /* report where the number starts */
            return fail(s, "too big integer");
        }
        if (out)
            *out = json_integer((json_int_t)v);
    } else {
        double d = strtod(txt, NULL);
        if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL)) {
            s->p = b;
            return fail(s, "real number overflow");
        }
        if (out)
            *out = json_real(d);
    }
    if (out && !*out)
        return fail(s, "out of memory");
    return 0;
}

static int keep(tscan *s, json_t *j)
{
    tr_output *o = s->o;
    if (!j)
        return fail(s, "out of memory");
    if (o->n_made_ == o->made_cap_) {
        size_t cap = o->made_cap_ ? o->made_cap_ * 2 : 32;
        json_t **v = realloc(o->made_, cap * sizeof *v);
        if (!v) {
            json_decref(j);
            return fail(s, "out of memory");
        }
        o->made_ = v;
        o->made_cap_ = cap;
    }
    o->made_[o->n_made_++] = j;
    return 0;
}

static void reset_vals(const tr_trie *t, tr_val *vals)
{
    vals[t->id] = (tr_val){NULL, NULL, 0};
    for (size_t i = 0; i < t->n_kids; i++)
        reset_vals(&t->kids[i], vals);
}

/* Scans one value; node: the trie node it is the value of, or NULL (skip it). */
static int scan_value(tscan *s, const tr_trie *node)
{
    skip_ws(s);
    if (s->p >= s->end)
        return fail(s, "unexpected end of input");
    const char *b = s->p;
    tr_val *vals = s->o->vals_;
    char c = *s->p;
    if (c == '{' || c == '[') {
        if (++s->depth > MAX_DEPTH)
            return fail(s, "maximum nesting depth exceeded");
        /* a terminal container is built whole, by jansson; its own kids follow from it */
        const tr_trie *walk = node && !node->terminal ? node : NULL;
        s->p++;
        skip_ws(s);
        if (c == '{') {
            if (s->p < s->end && *s->p == '}') {
                s->p++;
            } else {
                for (;;) {
                    skip_ws(s);
                    if (s->p >= s->end || *s->p != '"')
                        return fail(s, "string or '}' expected");
                    const char *raw;
                    size_t n;
                    int esc;
                    if (scan_string(s, &raw, &n, &esc) != 0)
                        return -1;
                    const tr_trie *kid = NULL;
                    if (walk && walk->has_key_kids) {
                        if (esc) {
                            unescape(raw, n, &s->o->text_);
                            raw = (const char *)s->o->text_.data;
                            n = s->o->text_.len;
                        }
                        for (size_t i = 0; i < walk->n_kids && !kid; i++) {
                            const tr_trie *k = &walk->kids[i];
                            if (k->key && k->klen == n && memcmp(k->key, raw, n) == 0)
                                kid = k;
                        }
                    }
                    skip_ws(s);
                    if (s->p >= s->end || *s->p != ':')
                        return fail(s, "':' expected");
                    s->p++;
                    if (kid)
                        reset_vals(kid, vals); /* a duplicate name: the last one wins */
                    if (scan_value(s, kid) != 0)
                        return -1;
                    skip_ws(s);
                    if (s->p < s->end && *s->p == ',') {
                        s->p++;
                        continue;
                    }
                    if (s->p < s->end && *s->p == '}') {
                        s->p++;
                        break;
                    }
                    return fail(s, "',' or '}' expected");
                }
            }
        } else {
            if (s->p < s->end && *s->p == ']') {
                s->p++;
            } else {
                for (size_t idx = 0;; idx++) {
                    const tr_trie *kid = NULL;
                    if (walk && walk->has_index_kids)
                        for (size_t i = 0; i < walk->n_kids && !kid; i++)
                            if (!walk->kids[i].key && walk->kids[i].index == idx)
                                kid = &walk->kids[i];
                    if (scan_value(s, kid) != 0)
                        return -1;
                    skip_ws(s);
                    if (s->p < s->end && *s->p == ',') {
                        s->p++;
                        continue;
                    }
                    if (s->p < s->end && *s->p == ']') {
                        s->p++;
                        break;
                    }
                    return fail(s, "',' or ']' expected");
                }
            }
        }
        s->depth--;
        if (node && node->terminal) {
            json_error_t je;
            json_t *j = json_loadb(b, (size_t)(s->p - b), 0, &je);
            if (keep(s, j) != 0)
                return -1;
            vals[node->id] = (tr_val){j, NULL, 0};
            tr_trie_walk(node, j, vals);
        }
        return 0;
    }
    if (c == '"') {
        const char *raw;
        size_t n;
        int esc;
        if (scan_string(s, &raw, &n, &esc) != 0)
            return -1;
        if (node && node->terminal && !esc) {
            /* read in place: the record outlives the apply (tr_val) */
            vals[node->id] = (tr_val){NULL, raw, n};
        } else if (node && node->terminal) {
            unescape(raw, n, &s->o->text_);
            if (s->o->text_.failed)
                return fail(s, "out of memory");
            json_t *j = json_stringn_nocheck((const char *)s->o->text_.data, s->o->text_.len);
            if (keep(s, j) != 0)
                return -1;
            vals[node->id] = (tr_val){j, NULL, 0};
        }
        return 0;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        int is_real;
        if (scan_number(s, &is_real) != 0)
            return -1;
        json_t *j = NULL;
        if (number_value(s, b, s->p, is_real, node && node->terminal ? &j : NULL) != 0)
            return -1;
        if (j) {
            if (keep(s, j) != 0)
                return -1;
            vals[node->id] = (tr_val){j, NULL, 0};
        }
        return 0;
    }
    /* true, false, null: jansson reads a word of letters and compares it */
    const char *w = s->p;
    while (s->p < s->end && ((*s->p >= 'a' && *s->p <= 'z') || (*s->p >= 'A' && *s->p <= 'Z')))
        s->p++;
    size_t wl = (size_t)(s->p - w);
    json_t *j = NULL;
    if (wl == 4 && memcmp(w, "true", 4) == 0)
        j = json_true();
    else if (wl == 5 && memcmp(w, "false", 5) == 0)
        j = json_false();
    else if (wl == 4 && memcmp(w, "null", 4) == 0)
        j = json_null();
    else {
        s->p = w;
        return fail(s, "invalid token");
    }
    if (node && node->terminal)
        vals[node->id] = (tr_val){j, NULL, 0}; /* singletons: nothing to release */
    return 0;
}

cg_err *tr_mapping_apply_text(const tr_mapping *m, const char *text, size_t len,
                              int64_t record_ts_ms, int64_t seq, tr_output *out)
{
    size_t n_nodes = 0;
    const tr_trie *trie = tr_mapping_trie(m, &n_nodes);
    for (size_t i = 0; i < out->n_made_; i++)
        json_decref(out->made_[i]);
    out->n_made_ = 0;
    cg_err *e = tr_output_vals_reserve(out, n_nodes);
    if (e)
        return e;
    tscan s;
    memset(&s, 0, sizeof s);
    s.p = s.start = text;
    s.end = text + len;
    s.o = out;
    skip_ws(&s);
    int is_object = s.p < s.end && *s.p == '{';
    if (s.p >= s.end || (*s.p != '{' && *s.p != '['))
        fail(&s, s.p >= s.end ? "empty input" : "'[' or '{' expected");
    else if (scan_value(&s, is_object ? trie : NULL) == 0) {
        skip_ws(&s);
        if (s.p != s.end)
            fail(&s, "end of input expected");
    }
    if (s.err)
        return cg_err_new(CG_EPARSE, "record is not valid JSON: %s at byte %zu", s.err, s.err_at);
    if (!is_object)
        return cg_err_new(CG_EINVAL, "record is not a JSON object");
    /* vals_[0] would be the record: apply reads values through the trie only; strings
     * without escapes are read in place (tr_val), so text must stay as it is until then */
    return tr_mapping_apply_vals(m, record_ts_ms, seq, out);
}
