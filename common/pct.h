/* pct.h - percent-decoding (RFC 3986 "%XX"), for the registry's query strings and the
 * registry client's URL credentials.
 *
 * One decoder so that both ends of the registry's HTTP read an escape the same way: a '%'
 * not followed by two hexadecimal digits inside the span is kept as it is, never an
 * error, so a lenient decode never turns a request away. */
#ifndef CG_PCT_H
#define CG_PCT_H

#include <stddef.h>

/* Flags of cg_pct_decode. */
enum {
    CG_PCT_PLUS_SPACE = 1u << 0, /* '+' is a space (query strings, form encoding) */
};

/* Decodes [s, s+n) into a new NUL-terminated string the caller frees; NULL when memory
 * is short. "%XX" becomes the byte 0xXX, so "%00" puts a NUL inside the result (the
 * string then reads as ending there); bytes of s, a NUL among them, are otherwise copied
 * as they are. flags: 0 or CG_PCT_PLUS_SPACE. */
char *cg_pct_decode(const char *s, size_t n, unsigned flags);

#endif
