/* hex.h - the value of one hexadecimal digit, for the percent-decoders of the registry's
 * paths, the registry client's URL credentials and the mapping's text escapes. */
#ifndef CG_HEX_H
#define CG_HEX_H

/* 0..15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for anything else. */
static inline int cg_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
