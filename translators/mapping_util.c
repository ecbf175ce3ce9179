/* mapping_util.c - the small machines under the declarative mapping: a JSON line table
 * (so that errors name the mapping file's line), domain record paths, a strptime-like
 * date/time parser, string normalisation, name suggestions and UUID v5.
 *
 * Each is written here rather than taken from libc because libc's version does not fit:
 * jansson keeps no positions; strptime() depends on the locale, has no fractions or
 * "Z", and mktime() works in local time. The date parser is exact (no floating point)
 * and allocation-free, since it runs once per record on the translator's hot path.
 */
#include "mapping_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "../common/hex.h"
#include "mapping.h"

/* ---- line table ------------------------------------------------------------------ */

typedef struct tr_line_entry {
    char *pointer;
    int line;
} tr_line_entry;

struct tr_lines {
    tr_line_entry *v;
    size_t n, cap;
};

typedef struct scanner {
    const char *p, *end;
    int line;
    tr_lines *out;
    char path[1024];
    int oom;
    int depth;
} scanner;

static void scan_ws(scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) {
        if (*s->p == '\n')
            s->line++;
        s->p++;
    }
}

static void lines_add(scanner *s, int line)
{
    if (s->oom)
        return;
    if (s->out->n == s->out->cap) {
        size_t cap = s->out->cap ? s->out->cap * 2 : 64;
        tr_line_entry *v = realloc(s->out->v, cap * sizeof *v);
        if (!v) {
            s->oom = 1;
            return;
        }
        s->out->v = v;
        s->out->cap = cap;
    }
    char *p = strdup(s->path);
    if (!p) {
        s->oom = 1;
        return;
    }
    s->out->v[s->out->n].pointer = p;
    s->out->v[s->out->n].line = line;
    s->out->n++;
}

static void put_utf8(char *buf, size_t cap, size_t *n, unsigned long cp)
{
    char tmp[4];
    size_t k = 0;
    if (cp < 0x80) {
        tmp[k++] = (char)cp;
    } else if (cp < 0x800) {
        tmp[k++] = (char)(0xc0 | (cp >> 6));
        tmp[k++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        tmp[k++] = (char)(0xe0 | (cp >> 12));
        tmp[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        tmp[k++] = (char)(0x80 | (cp & 0x3f));
    } else {
        tmp[k++] = (char)(0xf0 | (cp >> 18));
        tmp[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        tmp[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        tmp[k++] = (char)(0x80 | (cp & 0x3f));
    }
    for (size_t i = 0; i < k && *n + 1 < cap; i++)
        buf[(*n)++] = tmp[i];
}

static unsigned long hex4(const char *p)
{
    unsigned long v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned long)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned long)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned long)(c - 'A' + 10);
    }
    return v;
}

/* Reads a string token (s->p at the opening quote); decodes it into buf when buf is
 * non-NULL (truncating at cap). */
static void scan_string(scanner *s, char *buf, size_t cap)
{
    size_t n = 0;
    s->p++; /* opening quote */
    while (s->p < s->end && *s->p != '"') {
        char c = *s->p;
        if (c == '\\' && s->p + 1 < s->end) {
            char e = s->p[1];
            s->p += 2;
            if (e == 'u' && s->end - s->p >= 4) {
                unsigned long cp = hex4(s->p);
                s->p += 4;
                if (cp >= 0xd800 && cp < 0xdc00 && s->end - s->p >= 6 && s->p[0] == '\\' &&
                    s->p[1] == 'u') {
                    unsigned long lo = hex4(s->p + 2);
                    if (lo >= 0xdc00 && lo < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        s->p += 6;
                    }
                }
                if (buf)
                    put_utf8(buf, cap, &n, cp);
                continue;
            }
            switch (e) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            default:
                c = e;
                break;
            }
            if (buf && n + 1 < cap)
                buf[n++] = c;
            continue;
        }
        if (buf && n + 1 < cap)
            buf[n++] = c;
        s->p++;
    }
    if (s->p < s->end)
        s->p++; /* closing quote */
    if (buf)
        buf[n] = 0;
}

static void scan_value(scanner *s);

static void scan_object(scanner *s)
{
    size_t base = strlen(s->path);
    s->p++; /* { */
    for (;;) {
        scan_ws(s);
        if (s->p >= s->end || *s->p == '}') {
            s->p++;
            break;
        }
        if (*s->p == ',') {
            s->p++;
            continue;
        }
        if (*s->p != '"') { /* cannot happen in valid JSON; stop rather than loop */
            s->p = s->end;
            break;
        }
        char key[512];
        int line = s->line;
        scan_string(s, key, sizeof key);
        s->path[base] = 0;
        int fits = tr_pointer_append(s->path, sizeof s->path, key) == 0;
        if (fits)
            lines_add(s, line);
        scan_ws(s);
        if (s->p < s->end && *s->p == ':')
            s->p++;
        scan_value(s);
        s->path[base] = 0;
    }
    s->path[base] = 0;
}

static void scan_array(scanner *s)
{
    size_t base = strlen(s->path);
    size_t i = 0;
    s->p++; /* [ */
    for (;;) {
        scan_ws(s);
        if (s->p >= s->end || *s->p == ']') {
            s->p++;
            break;
        }
        if (*s->p == ',') {
            s->p++;
            continue;
        }
        int n = snprintf(s->path + base, sizeof s->path - base, "/%zu", i++);
        if (n > 0 && (size_t)n < sizeof s->path - base)
            lines_add(s, s->line);
        const char *before = s->p;
        scan_value(s);
        s->path[base] = 0;
        if (s->p == before) { /* cannot happen in valid JSON */
            s->p = s->end;
            break;
        }
    }
    s->path[base] = 0;
}

static void scan_value(scanner *s)
{
    scan_ws(s);
    if (s->p >= s->end)
        return;
    if (++s->depth > 200) { /* jansson refuses deeper documents anyway */
        s->p = s->end;
        return;
    }
    if (*s->p == '{')
        scan_object(s);
    else if (*s->p == '[')
        scan_array(s);
    else if (*s->p == '"')
        scan_string(s, NULL, 0);
    else
        while (s->p < s->end && !strchr(",]} \t\r\n", *s->p))
            s->p++;
    s->depth--;
}

tr_lines *tr_lines_scan(const char *text, size_t len)
{
    tr_lines *l = calloc(1, sizeof *l);
    scanner *s = calloc(1, sizeof *s);
    if (!l || !s)
        goto fail;
    s->p = text;
    s->end = text + len;
    s->line = 1;
    s->out = l;
    lines_add(s, 1); /* the root */
    scan_value(s);
    if (s->oom)
        goto fail;
    free(s);
    return l;
fail:
    free(s);
    tr_lines_free(l);
    return NULL;
}

void tr_lines_free(tr_lines *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].pointer);
    free(l->v);
    free(l);
}

int tr_lines_find(const tr_lines *l, const char *pointer)
{
    if (!l || !pointer)
        return 1;
    size_t len = strlen(pointer);
    for (;;) {
        for (size_t i = 0; i < l->n; i++)
            if (strlen(l->v[i].pointer) == len && memcmp(l->v[i].pointer, pointer, len) == 0)
                return l->v[i].line;
        /* the nearest ancestor */
        while (len > 0 && pointer[len - 1] != '/')
            len--;
        if (len == 0)
            return 1;
        len--;
    }
}

int tr_pointer_append(char *buf, size_t cap, const char *key)
{
    size_t n = strlen(buf);
    if (n + 1 >= cap)
        return -1;
    buf[n++] = '/';
    for (const char *k = key; *k; k++) {
        const char *rep = *k == '~' ? "~0" : *k == '/' ? "~1" : NULL;
        size_t need = rep ? 2 : 1;
        if (n + need >= cap) {
            buf[n] = 0;
            return -1;
        }
        if (rep) {
            buf[n++] = rep[0];
            buf[n++] = rep[1];
        } else {
            buf[n++] = *k;
        }
    }
    buf[n] = 0;
    return 0;
}

/* ---- paths ---------------------------------------------------------------------------- */

static int path_push(tr_path *p, char *key, size_t index)
{
    tr_step *v = realloc(p->steps, (p->n_steps + 1) * sizeof *v);
    if (!v) {
        free(key);
        return -1;
    }
    p->steps = v;
    v[p->n_steps].key = key;
    v[p->n_steps].index = index;
    p->n_steps++;
    return 0;
}

cg_err *tr_path_parse(const char *text, tr_path *out)
{
    memset(out, 0, sizeof *out);
    const char *s = text;
    if (!*s)
        return cg_err_new(CG_EINVAL, "empty path");
    out->text = strdup(text);
    if (!out->text)
        goto oom;
    int need_name = 1; /* at the start and after '.' a member name must follow */
    while (*s) {
        if (*s == '[') {
            s++;
            if (*s == '"') {
                const char *start = ++s;
                while (*s && *s != '"')
                    s++;
                if (*s != '"' || s[1] != ']') {
                    tr_path_clear(out);
                    return cg_err_new(CG_EINVAL, "path '%s': unterminated [\"name\"]", text);
                }
                char *key = strndup(start, (size_t)(s - start));
                if (!key || path_push(out, key, 0) != 0)
                    goto oom;
                s += 2;
            } else {
                if (!isdigit((unsigned char)*s)) {
                    tr_path_clear(out);
                    return cg_err_new(
                        CG_EINVAL, "path '%s': expected an index or a quoted name after '['", text);
                }
                size_t idx = 0;
                while (isdigit((unsigned char)*s)) {
                    if (idx > 100000000) {
                        tr_path_clear(out);
                        return cg_err_new(CG_EINVAL, "path '%s': index too large", text);
                    }
                    idx = idx * 10 + (size_t)(*s - '0');
                    s++;
                }
                if (*s != ']') {
                    tr_path_clear(out);
                    return cg_err_new(CG_EINVAL, "path '%s': expected ']'", text);
                }
                s++;
                if (path_push(out, NULL, idx) != 0)
                    goto oom;
            }
            need_name = 0;
            if (*s == '.') {
                s++;
                need_name = 1;
                if (!*s || *s == '.' || *s == '[') {
                    tr_path_clear(out);
                    return cg_err_new(CG_EINVAL, "path '%s': empty member name", text);
                }
            } else if (*s && *s != '[') {
                tr_path_clear(out);
                return cg_err_new(CG_EINVAL, "path '%s': expected '.' or '[' after ']'", text);
            }
            continue;
        }
        if (!need_name && *s != '.') {
            tr_path_clear(out);
            return cg_err_new(CG_EINVAL, "path '%s': expected '.' or '['", text);
        }
        const char *start = s;
        while (*s && *s != '.' && *s != '[')
            s++;
        if (s == start) {
            tr_path_clear(out);
            return cg_err_new(CG_EINVAL, "path '%s': empty member name", text);
        }
        char *key = strndup(start, (size_t)(s - start));
        if (!key || path_push(out, key, 0) != 0)
            goto oom;
        need_name = 0;
        if (*s == '.') {
            s++;
            need_name = 1;
            if (!*s) {
                tr_path_clear(out);
                return cg_err_new(CG_EINVAL, "path '%s': ends with '.'", text);
            }
        }
    }
    return NULL;
oom:
    tr_path_clear(out);
    return cg_err_new(CG_ENOMEM, "out of memory");
}

void tr_path_clear(tr_path *p)
{
    for (size_t i = 0; i < p->n_steps; i++)
        free(p->steps[i].key);
    free(p->steps);
    free(p->text);
    memset(p, 0, sizeof *p);
}

const json_t *tr_path_get(const tr_path *p, const json_t *root)
{
    const json_t *v = root;
    for (size_t i = 0; i < p->n_steps && v; i++) {
        const tr_step *st = &p->steps[i];
        if (st->key)
            v = json_is_object(v) ? json_object_get(v, st->key) : NULL;
        else
            v = json_is_array(v) ? json_array_get(v, st->index) : NULL;
    }
    return v;
}

/* ---- date and time ---------------------------------------------------------------- */

int64_t tr_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* H. Hinnant's days_from_civil: exact for the proleptic Gregorian calendar */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

static const char *const month_names[12] = {"january",   "february", "march",    "april",
                                            "may",       "june",     "july",     "august",
                                            "september", "october",  "november", "december"};

typedef struct tm_parts {
    int64_t year;
    unsigned mon, day, yday;
    unsigned hour, min, sec;
    uint32_t nanos;
    int32_t offset_s;
    int has_epoch, epoch_neg;
    int64_t epoch_s;
} tm_parts;

/* Reads between min and max digits. */
static int read_num(const char **p, const char *end, int min, int max, int64_t *out)
{
    int64_t v = 0;
    int n = 0;
    while (*p < end && n < max && **p >= '0' && **p <= '9') {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    if (n < min)
        return -1;
    *out = v;
    return 0;
}

static int read_offset(const char **p, const char *end, int32_t *out)
{
    if (*p < end && (**p == 'Z' || **p == 'z')) {
        (*p)++;
        *out = 0;
        return 0;
    }
    if (*p >= end || (**p != '+' && **p != '-'))
        return -1;
    int neg = **p == '-';
    (*p)++;
    int64_t h = 0, m = 0;
    if (read_num(p, end, 2, 2, &h) != 0 || h > 23)
        return -1;
    if (*p < end && **p == ':') {
        (*p)++;
        if (read_num(p, end, 2, 2, &m) != 0)
            return -1;
    } else if (*p < end && **p >= '0' && **p <= '9') {
        if (read_num(p, end, 2, 2, &m) != 0)
            return -1;
    }
    if (m > 59)
        return -1;
    *out = (int32_t)((h * 3600 + m * 60) * (neg ? -1 : 1));
    return 0;
}

static int read_fraction(const char **p, const char *end, uint32_t *nanos)
{
    int64_t v = 0;
    int n = 0;
    while (*p < end && **p >= '0' && **p <= '9') {
        if (n < 9) {
            v = v * 10 + (**p - '0');
            n++;
        } else {
            return -1; /* more than nanoseconds */
        }
        (*p)++;
    }
    if (n == 0)
        return -1;
    for (int i = n; i < 9; i++)
        v *= 10;
    *nanos = (uint32_t)v;
    return 0;
}

static int parse_iso(const char *p, const char *end, tm_parts *t)
{
    int64_t v;
    if (read_num(&p, end, 4, 4, &t->year) != 0 || p >= end || *p++ != '-')
        return -1;
    if (read_num(&p, end, 2, 2, &v) != 0 || p >= end || *p++ != '-')
        return -1;
    t->mon = (unsigned)v;
    if (read_num(&p, end, 2, 2, &v) != 0)
        return -1;
    t->day = (unsigned)v;
    if (p == end)
        return 0;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (read_num(&p, end, 2, 2, &v) != 0 || p >= end || *p++ != ':')
        return -1;
    t->hour = (unsigned)v;
    if (read_num(&p, end, 2, 2, &v) != 0)
        return -1;
    t->min = (unsigned)v;
    if (p < end && *p == ':') {
        p++;
        if (read_num(&p, end, 2, 2, &v) != 0)
            return -1;
        t->sec = (unsigned)v;
        if (p < end && (*p == '.' || *p == ',')) {
            p++;
            if (read_fraction(&p, end, &t->nanos) != 0)
                return -1;
        }
    }
    if (p < end && read_offset(&p, end, &t->offset_s) != 0)
        return -1;
    return p == end ? 0 : -1;
}

/* Walks fmt over s; with s == NULL only checks fmt. */
static int parse_pattern(const char *fmt, const char *p, const char *end, tm_parts *t,
                         const char **why)
{
    int64_t v;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            if (p && (p >= end || *p++ != *f))
                return -1;
            continue;
        }
        f++;
        const char *sub = NULL;
        switch (*f) {
        case 'F':
            sub = "%Y-%m-%d";
            break;
        case 'T':
            sub = "%H:%M:%S";
            break;
        default:
            break;
        }
        if (sub) {
            /* expand in place: both are short and have no nested expansions */
            if (!p)
                continue;
            const char *q = p;
            tm_parts *tt = t;
            for (const char *g = sub; *g; g++) {
                if (*g != '%') {
                    if (q >= end || *q++ != *g)
                        return -1;
                    continue;
                }
                g++;
                int min = *g == 'Y' ? 4 : 1, max = *g == 'Y' ? 4 : 2;
                if (read_num(&q, end, min, max, &v) != 0)
                    return -1;
                switch (*g) {
                case 'Y':
                    tt->year = v;
                    break;
                case 'm':
                    tt->mon = (unsigned)v;
                    break;
                case 'd':
                    tt->day = (unsigned)v;
                    break;
                case 'H':
                    tt->hour = (unsigned)v;
                    break;
                case 'M':
                    tt->min = (unsigned)v;
                    break;
                case 'S':
                    tt->sec = (unsigned)v;
                    break;
                default:
                    break;
                }
            }
            p = q;
            continue;
        }
        switch (*f) {
        case 'Y':
        case 'y':
        case 'm':
        case 'd':
        case 'H':
        case 'M':
        case 'S':
        case 'j':
            if (!p)
                break;
            {
                int min = *f == 'Y' ? 4 : *f == 'y' ? 2 : 1;
                int max = *f == 'Y' ? 4 : *f == 'j' ? 3 : 2;
                if (read_num(&p, end, min, max, &v) != 0)
                    return -1;
            }
            switch (*f) {
            case 'Y':
                t->year = v;
                break;
            case 'y':
                t->year = v < 69 ? 2000 + v : 1900 + v;
                break;
            case 'm':
                t->mon = (unsigned)v;
                break;
            case 'd':
                t->day = (unsigned)v;
                break;
            case 'H':
                t->hour = (unsigned)v;
                break;
            case 'M':
                t->min = (unsigned)v;
                break;
            case 'S':
                t->sec = (unsigned)v;
                break;
            case 'j':
                t->yday = (unsigned)v;
                if (v == 0)
                    return -1;
                break;
            default:
                break;
            }
            break;
        case 'f':
            if (p && read_fraction(&p, end, &t->nanos) != 0)
                return -1;
            break;
        case 'z':
            if (p && read_offset(&p, end, &t->offset_s) != 0)
                return -1;
            break;
        case 'b':
        case 'B':
            if (p) {
                int found = 0;
                for (unsigned i = 0; i < 12 && !found; i++) {
                    size_t n = *f == 'b' ? 3 : strlen(month_names[i]);
                    if ((size_t)(end - p) >= n && strncasecmp(p, month_names[i], n) == 0) {
                        t->mon = i + 1;
                        p += n;
                        found = 1;
                    }
                }
                if (!found)
                    return -1;
            }
            break;
        case 's':
            if (p) {
                int neg = 0;
                if (p < end && *p == '-') {
                    neg = 1;
                    p++;
                }
                if (read_num(&p, end, 1, 12, &v) != 0)
                    return -1;
                t->has_epoch = 1;
                t->epoch_neg = neg;
                t->epoch_s = neg ? -v : v;
            }
            break;
        case '%':
            if (p && (p >= end || *p++ != '%'))
                return -1;
            break;
        case 0:
            if (why)
                *why = "format ends with '%'";
            return -1;
        default:
            if (why)
                *why = "unknown directive (known: %Y %y %m %d %j %H %M %S %f %b %B %z %s %F %T %%)";
            return -1;
        }
    }
    return p && p != end ? -1 : 0;
}

const char *tr_time_format_check(const char *fmt)
{
    if (strcmp(fmt, "iso8601") == 0)
        return NULL;
    if (!*fmt)
        return "empty format";
    const char *why = NULL;
    if (parse_pattern(fmt, NULL, NULL, NULL, &why) != 0)
        return why ? why : "invalid format";
    return NULL;
}

/* The time of day, in UTC, of an instant (microseconds since the epoch, maybe negative). */
static int64_t utc_time_of_day(int64_t epoch_us)
{
    int64_t d = epoch_us % 86400000000LL;
    return d < 0 ? d + 86400000000LL : d;
}

int tr_time_parse(const char *fmt, const char *s, size_t len, tr_instant *out)
{
    tm_parts t;
    memset(&t, 0, sizeof t);
    t.year = 1970;
    t.mon = 1;
    t.day = 1;
    const char *end = s + len;
    int rc =
        strcmp(fmt, "iso8601") == 0 ? parse_iso(s, end, &t) : parse_pattern(fmt, s, end, &t, NULL);
    if (rc != 0)
        return -1;
    if (t.hour > 23 || t.min > 59 || t.sec > 59)
        return -1;
    int64_t tod = ((int64_t)t.hour * 3600 + t.min * 60 + t.sec) * 1000000 + t.nanos / 1000;
    if (t.has_epoch) {
        /* "-1.25" is 1.25 s before the epoch: the fraction has the number's sign */
        int64_t frac = t.nanos / 1000;
        out->epoch_us = t.epoch_s * 1000000 + (t.epoch_neg ? -frac : frac);
        out->time_of_day_us = utc_time_of_day(out->epoch_us);
        return 0;
    }
    if (t.year < 0 || t.year > 9999)
        return -1;
    int64_t days;
    if (t.yday) {
        if (t.yday > (is_leap(t.year) ? 366u : 365u))
            return -1;
        days = tr_days_from_civil(t.year, 1, 1) + t.yday - 1;
    } else {
        if (t.mon < 1 || t.mon > 12 || t.day < 1 || t.day > days_in_month(t.year, t.mon))
            return -1;
        days = tr_days_from_civil(t.year, t.mon, t.day);
    }
    out->epoch_us = (days * 86400 - t.offset_s) * 1000000 + tod;
    out->time_of_day_us = utc_time_of_day(out->epoch_us);
    return 0;
}

/* ---- strings ------------------------------------------------------------------------- */

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

size_t tr_normalize(char *s, size_t len, const uint8_t *ops, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        switch (ops[k]) {
        case TR_NORM_TRIM: {
            size_t a = 0;
            while (a < len && is_space((unsigned char)s[a]))
                a++;
            while (len > a && is_space((unsigned char)s[len - 1]))
                len--;
            if (a) {
                memmove(s, s + a, len - a);
                len -= a;
            }
            break;
        }
        case TR_NORM_LOWER:
            for (size_t i = 0; i < len; i++)
                if (s[i] >= 'A' && s[i] <= 'Z')
                    s[i] = (char)(s[i] + 32);
            break;
        case TR_NORM_UPPER:
            for (size_t i = 0; i < len; i++)
                if (s[i] >= 'a' && s[i] <= 'z')
                    s[i] = (char)(s[i] - 32);
            break;
        case TR_NORM_COLLAPSE: {
            size_t w = 0;
            int in_space = 0;
            for (size_t i = 0; i < len; i++) {
                if (is_space((unsigned char)s[i])) {
                    if (!in_space)
                        s[w++] = ' ';
                    in_space = 1;
                } else {
                    s[w++] = s[i];
                    in_space = 0;
                }
            }
            len = w;
            break;
        }
        default:
            break;
        }
    }
    return len;
}

int tr_norm_parse(const char *name)
{
    if (strcmp(name, "trim") == 0)
        return TR_NORM_TRIM;
    if (strcmp(name, "lower") == 0)
        return TR_NORM_LOWER;
    if (strcmp(name, "upper") == 0)
        return TR_NORM_UPPER;
    if (strcmp(name, "collapse_spaces") == 0)
        return TR_NORM_COLLAPSE;
    return 0;
}

size_t tr_edit_distance(const char *a, const char *b, size_t cap)
{
    /* optimal string alignment: Levenshtein plus adjacent transpositions ("form" for
     * "from" is one typo, not two) */
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return cap + 1;
    size_t d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb] > cap ? cap + 1 : d[la][lb];
}

const char *tr_suggest(const char *name, const char *const *candidates, size_t n)
{
    size_t cap = strlen(name) <= 4 ? 1 : 2;
    const char *best = NULL;
    size_t best_d = cap + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = tr_edit_distance(name, candidates[i], cap);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
}

/* ---- UUID --------------------------------------------------------------------------- */

static void uuid_format(const uint8_t u[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[u[i] >> 4];
        out[k++] = hex[u[i] & 15];
    }
    out[k] = 0;
}

int tr_uuid_v5(const uint8_t ns[16], const char *name, size_t len, char out[37])
{
    uint8_t stack[256];
    uint8_t *buf = len + 16 <= sizeof stack ? stack : malloc(len + 16);
    if (!buf)
        return -1;
    memcpy(buf, ns, 16);
    if (len)
        memcpy(buf + 16, name, len);
    uint8_t digest[20];
    int rc = gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, len + 16, digest);
    if (buf != stack)
        free(buf);
    if (rc != 0)
        return -1;
    digest[6] = (uint8_t)((digest[6] & 0x0f) | 0x50); /* version 5 */
    digest[8] = (uint8_t)((digest[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    uuid_format(digest, out);
    return 0;
}

int tr_uuid_parse(const char *s, size_t len, uint8_t out[16])
{
    if (len != 36)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -1;
            i++;
            continue;
        }
        int hi = cg_hex_digit((unsigned char)s[i]), lo = cg_hex_digit((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[k++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

size_t tr_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) /* a continuation byte */
        n--;
    return n;
}

void tr_uuid_format(const uint8_t u[16], char out[37])
{
    uuid_format(u, out);
}
