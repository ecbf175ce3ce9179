/* pct.c - cg_pct_decode (see pct.h). */
#include "pct.h"

#include <stdlib.h>

#include "hex.h"

char *cg_pct_decode(const char *s, size_t n, unsigned flags)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && cg_hex_digit(s[i + 1]) >= 0 &&
            cg_hex_digit(s[i + 2]) >= 0) {
            *o++ = (char)(cg_hex_digit(s[i + 1]) * 16 + cg_hex_digit(s[i + 2]));
            i += 2;
        } else if ((flags & CG_PCT_PLUS_SPACE) && s[i] == '+') {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}
