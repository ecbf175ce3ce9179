/* file.c - cg_read_file (see file.h). */
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cg_err *cg_read_file(const char *path, size_t max_bytes, char **out, size_t *len)
{
    cg_err *err = NULL;
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f)
        return cg_err_new(CG_EIO, "cannot read '%s': %s", path, strerror(errno));
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                err = cg_err_new(CG_ENOMEM, "out of memory reading '%s'", path);
                goto done;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > max_bytes) {
            err = cg_err_new(CG_EINVAL, "'%s' is larger than %zu bytes", path, max_bytes);
            goto done;
        }
        if (got == 0) {
            if (ferror(f))
                err = cg_err_new(CG_EIO, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
done:
    free(buf);
    if (!is_stdin)
        fclose(f);
    return err;
}
