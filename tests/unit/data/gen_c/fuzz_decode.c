/* fuzz_decode.c - feeds corrupt bytes to a generated decoder (all_types.avsc).
 *
 * Built by tests/unit/test_gen_c.c with -fsanitize=address,undefined, either as a
 * libFuzzer target (-DCANON_LIBFUZZER, clang) or with the mutation loop below. For every
 * input the decoder must either fail with CANON_EDECODE and a message, or succeed; what
 * it decodes must re-encode, and that encoding must decode and re-encode to itself. Any
 * crash, sanitizer report or abort() is a failure. all_types_decode_view (strings point
 * into the input) must accept and refuse exactly the same inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "all_types.h"

static void one(const uint8_t *data, size_t len)
{
    canon_arena *a = canon_arena_new(0);
    all_types_t v, w;
    canon_error err = {0};
    if (!a)
        abort();
    if (all_types_decode(&v, data, len, a, &err) == 0) {
        canon_buf b1, b2;
        canon_error e2 = {0};
        canon_buf_init(&b1);
        canon_buf_init(&b2);
        if (all_types_encode(&v, &b1, &e2) != 0 ||
            all_types_decode(&w, b1.data, b1.len, a, &e2) != 0 ||
            all_types_encode(&w, &b2, &e2) != 0)
            abort();
        if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0)
            abort();
        /* the zero-copy decode agrees: same value, so the same bytes */
        canon_buf_clear(&b2);
        if (all_types_decode_view(&w, data, len, a, &e2) != 0 ||
            all_types_encode(&w, &b2, &e2) != 0 || b1.len != b2.len ||
            memcmp(b1.data, b2.data, b1.len) != 0)
            abort();
        json_decref(all_types_to_json(&v, &e2)); /* may fail (non-UTF-8 strings), not crash */
        canon_buf_free(&b1);
        canon_buf_free(&b2);
    } else if (err.code != CANON_EDECODE || err.msg[0] == 0) {
        abort();
    } else {
        /* the zero-copy decode refuses the same bytes with the same message */
        canon_error e3 = {0};
        if (all_types_decode_view(&w, data, len, a, &e3) == 0 || e3.code != CANON_EDECODE ||
            strcmp(e3.msg, err.msg) != 0)
            abort();
    }
    canon_arena_free(a);
}

#ifdef CANON_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    one(data, len);
    return 0;
}
#else
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* usage: fuzz_decode SEEDS.hex ITERATIONS; prints how many inputs decoded */
int main(int argc, char **argv)
{
    uint8_t seeds[64][4096];
    size_t seed_len[64], n_seeds = 0;
    char line[10000];
    FILE *f = argc > 2 ? fopen(argv[1], "r") : NULL;
    if (!f) {
        fprintf(stderr, "usage: fuzz_decode SEEDS.hex ITERATIONS\n");
        return 2;
    }
    while (n_seeds < 64 && fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n") / 2;
        if (n > 4096)
            continue;
        for (size_t i = 0; i < n; i++) {
            unsigned x;
            sscanf(line + 2 * i, "%2x", &x);
            seeds[n_seeds][i] = (uint8_t)x;
        }
        seed_len[n_seeds++] = n;
    }
    fclose(f);
    /* where strings live: decode copies them (NUL-terminated) into the arena,
     * decode_view points into the input */
    for (size_t i = 0; i < n_seeds; i++) {
        canon_arena *a = canon_arena_new(0);
        all_types_t v, w;
        const char *in = (const char *)seeds[i], *in_end = in + seed_len[i];
        if (!a || all_types_decode(&v, in, seed_len[i], a, NULL) != 0 ||
            all_types_decode_view(&w, in, seed_len[i], a, NULL) != 0)
            abort();
        if ((v.s.data >= in && v.s.data < in_end) || v.s.data[v.s.len] != 0 ||
            (w.s.len > 0 && (w.s.data < in || w.s.data + w.s.len > in_end)) || v.s.len != w.s.len ||
            memcmp(v.s.data, w.s.data, v.s.len) != 0)
            abort();
        /* framed: the header is checked, the id returned, strings still point into it */
        static uint8_t framed[5 + 4096] = {0, 0, 0, 1, 2};
        const char *f = (const char *)framed, *f_end = f + 5 + seed_len[i];
        int32_t id = 0;
        framed[0] = 0;
        memcpy(framed + 5, seeds[i], seed_len[i]);
        if (all_types_decode_framed_view(&w, &id, framed, 5 + seed_len[i], a, NULL) != 0 ||
            id != 258 || w.s.len != v.s.len ||
            (w.s.len > 0 && (w.s.data < f || w.s.data + w.s.len > f_end)))
            abort();
        framed[0] = 1; /* not Confluent's magic byte */
        if (all_types_decode_framed_view(&w, &id, framed, 5 + seed_len[i], a, NULL) == 0)
            abort();
        canon_arena_free(a);
    }
    long iters = atol(argv[2]), ok = 0;
    uint8_t buf[8192];
    for (long it = 0; it < iters; it++) {
        size_t s = rnd() % n_seeds, len = seed_len[s];
        memcpy(buf, seeds[s], len);
        int edits = 1 + (int)(rnd() % 4);
        for (int e = 0; e < edits; e++) {
            size_t pos = len ? rnd() % len : 0;
            switch (rnd() % 6) {
            case 0:
                if (len)
                    buf[pos] ^= (uint8_t)(1u << (rnd() % 8));
                break;
            case 1:
                if (len)
                    buf[pos] = (uint8_t)rnd();
                break;
            case 2:
                len = pos;
                break; /* truncate */
            case 3:    /* insert a byte */
                if (len < sizeof buf - 1) {
                    memmove(buf + pos + 1, buf + pos, len - pos);
                    buf[pos] = (uint8_t)rnd();
                    len++;
                }
                break;
            case 4:
                if (len)
                    buf[pos] = (rnd() & 1) ? 0xff : 0x80;
                break; /* long varints */
            default:
                if (len)
                    buf[pos] = (uint8_t)(rnd() % 8 * 2 + 1);
                break; /* small negatives */
            }
        }
        /* decode a fresh copy, so reads past the end hit the sanitizer's red zone */
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, buf, len);
        canon_arena *probe = canon_arena_new(0);
        all_types_t v;
        if (all_types_decode(&v, copy, len, probe, NULL) == 0)
            ok++;
        canon_arena_free(probe);
        one(copy, len);
        free(copy);
    }
    printf("%ld of %ld mutated inputs decoded\n", ok, iters);
    return 0;
}
#endif
