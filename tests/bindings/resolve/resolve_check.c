/* resolve_check.c - drives canon_resolve.c (the C bindings' Avro schema resolution) from
 * a test: test_c_resolve.py compares what it prints with fastavro.
 *
 *   resolve_check [-s] WRITER.avsc READER.avsc  < lines
 *
 * Each stdin line is the hex of one datum written with WRITER, unframed (an empty line is
 * the empty datum). For each line the program prints one line: the hex of the datum in
 * READER's encoding (canon_resolver_convert's output), or `error: <code> <message>` with
 * the canon_error code. The reader is canon_resolver_new(READER) without a fetch
 * function, and WRITER is registered as id 1. Two line prefixes reach the rest of the API:
 *   id:N:HEX   convert with schema id N instead of 1 (an unknown id: CANON_EFETCH);
 *   framed:HEX canon_resolver_convert_framed on HEX as is (magic byte, id, datum).
 * With -s, an output that is the input itself (the pointer convert was given, as the
 * header promises when the writer schema is the reader's) is prefixed with "=".
 *
 * Exit status: 0 after the last line (per-datum errors included); 2 when either schema
 * is refused (`schema-error: <code> <message>`, printed once); 3 on bad usage or a line
 * that is not hex. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon_resolve.h"
#include "hex.h" /* common/: cg_hex_digit */

/* The whole file, NUL-terminated; NULL (with a message) when it cannot be read. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (!f) {
        fprintf(stderr, "resolve_check: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - len < 4096) {
            char *n = realloc(buf, cap + 65536);
            if (!n) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = n;
            cap += 65536;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Decodes n hex digits at s into out (room for n / 2 bytes); -1 when not hex. */
static int unhex(const char *s, size_t n, unsigned char *out)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = cg_hex_digit((unsigned char)s[i]), lo = cg_hex_digit((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* A message on one line, whatever it holds. */
static void print_error(const char *what, const canon_error *err)
{
    printf("%s: %d ", what, err->code);
    for (const char *p = err->msg; *p; p++)
        putchar(*p == '\n' || *p == '\r' ? ' ' : *p);
    putchar('\n');
}

int main(int argc, char **argv)
{
    int mark_same = 0, rc = 3;
    if (argc > 1 && strcmp(argv[1], "-s") == 0) {
        mark_same = 1;
        argc--;
        argv++;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: resolve_check [-s] WRITER.avsc READER.avsc < hex-lines\n");
        return 3;
    }
    char *writer = slurp(argv[1]), *reader = slurp(argv[2]);
    char *line = NULL;
    size_t line_cap = 0;
    unsigned char *data = NULL;
    canon_resolver *r = NULL;
    canon_error err;
    memset(&err, 0, sizeof err);
    if (!writer || !reader)
        goto done;
    r = canon_resolver_new(reader, NULL, NULL, &err);
    if (!r || canon_resolver_add(r, 1, writer, &err) != 0) {
        print_error("schema-error", &err);
        rc = 2;
        goto done;
    }
    ssize_t n;
    while ((n = getline(&line, &line_cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        const char *hex = line;
        int32_t id = 1;
        int framed = 0;
        if (strncmp(hex, "framed:", 7) == 0) {
            framed = 1;
            hex += 7;
        } else if (strncmp(hex, "id:", 3) == 0) {
            char *end = NULL;
            id = (int32_t)strtol(hex + 3, &end, 10);
            if (*end != ':') {
                fprintf(stderr, "resolve_check: bad id prefix: %s\n", line);
                goto done;
            }
            hex = end + 1;
        }
        size_t hex_len = strlen(hex);
        /* one byte more than needed, so that an empty datum still has a distinct pointer */
        unsigned char *buf = realloc(data, hex_len / 2 + 1);
        if (!buf) {
            fprintf(stderr, "resolve_check: out of memory\n");
            goto done;
        }
        data = buf;
        if (unhex(hex, hex_len, data) != 0) {
            fprintf(stderr, "resolve_check: not hex: %s\n", line);
            goto done;
        }
        const void *out = NULL;
        size_t out_len = 0;
        int32_t got_id = 0;
        memset(&err, 0, sizeof err);
        int res = framed ? canon_resolver_convert_framed(r, data, hex_len / 2, &got_id, &out,
                                                         &out_len, &err)
                         : canon_resolver_convert(r, id, data, hex_len / 2, &out, &out_len, &err);
        if (res != 0) {
            print_error("error", &err);
            continue;
        }
        if (mark_same && out == (const void *)(framed ? data + 5 : data))
            putchar('=');
        for (size_t i = 0; i < out_len; i++)
            printf("%02x", ((const unsigned char *)out)[i]);
        putchar('\n');
    }
    rc = 0;
done:
    fflush(stdout);
    canon_resolver_free(r);
    free(data);
    free(line);
    free(writer);
    free(reader);
    return rc;
}
