/* test_rng.h - the seeded pseudo-random generator of the randomized unit tests (header-only,
 * not a test itself). xorshift64: a fixed seed gives the same run every time, so a failure
 * can be replayed. */
#ifndef CANON_TEST_RNG_H
#define CANON_TEST_RNG_H

#include <stdint.h>

typedef struct test_rng {
    uint64_t s; /* the seed, then the state; must not be 0 */
} test_rng;

/* A value in [0, n). */
static inline uint32_t test_rng_next(test_rng *r, uint32_t n)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s % n);
}

#endif
