/* gen_tar.c - gen_files_tar_gz(): a generated file set as a gzip-compressed POSIX tar.
 *
 * GET /canon/bindings/{lang} answers a binding as one download, so the set is packed in
 * memory (ustar, the POSIX.1-1988 format every tar and Python's tarfile read), then
 * compressed with zlib's gzip wrapper. The archive is deterministic: the same set gives
 * the same bytes (mtime 0, uid/gid 0, owner "root", modes 0644, 0755 for directories and
 * for scripts ending ".sh"), so a binding's archive can be cached and compared by hash.
 * Directories are written as entries before the first file inside them, so that
 * extracting gives them sane modes whatever the umask. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gen.h"
#include "gen_internal.h"

#define BLOCK 512

/* A growing byte buffer; the tar stream is built whole, then compressed. */
struct buf {
    unsigned char *data;
    size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + extra)
        cap *= 2;
    unsigned char *nd = realloc(b->data, cap);
    if (!nd)
        return -1;
    b->data = nd;
    b->cap = cap;
    return 0;
}

/* Writes an octal number into a field of width w: w-1 digits and a NUL, as ustar asks. */
static void octal(char *field, size_t w, unsigned long long v)
{
    snprintf(field, w, "%0*llo", (int)(w - 1), v);
}

/* Splits path into ustar's name (<= 100 bytes) and prefix (<= 155 bytes) at a '/'.
 * Returns -1 when the path cannot be represented. */
static int split_name(const char *path, char name[100], char prefix[155])
{
    size_t n = strlen(path);
    memset(name, 0, 100);
    memset(prefix, 0, 155);
    if (n <= 100) {
        memcpy(name, path, n);
        return 0;
    }
    /* The last '/' that leaves a prefix of at most 155 bytes and a name of at most 100. */
    for (size_t i = n; i-- > 0;) {
        if (path[i] != '/')
            continue;
        if (i <= 155 && n - i - 1 <= 100 && n - i - 1 > 0) {
            memcpy(prefix, path, i);
            memcpy(name, path + i + 1, n - i - 1);
            return 0;
        }
    }
    return -1;
}

static cg_err *add_header(struct buf *b, const char *path, int is_dir, unsigned mode, size_t size)
{
    char name[100], prefix[155];
    if (split_name(path, name, prefix))
        return cg_err_new(CG_EINVAL, "path too long for a tar archive: '%s'", path);
    if (buf_reserve(b, BLOCK))
        return cg_err_new(CG_ENOMEM, "out of memory");
    unsigned char *h = b->data + b->len;
    memset(h, 0, BLOCK);
    memcpy(h, name, 100);
    octal((char *)h + 100, 8, mode);
    octal((char *)h + 108, 8, 0);                  /* uid */
    octal((char *)h + 116, 8, 0);                  /* gid */
    octal((char *)h + 124, 12, is_dir ? 0 : size); /* size */
    octal((char *)h + 136, 12, 0);                 /* mtime */
    memset(h + 148, ' ', 8);                       /* checksum, blank while summing */
    h[156] = is_dir ? '5' : '0';                   /* typeflag */
    memcpy(h + 257, "ustar", 6);                   /* magic, NUL-terminated */
    memcpy(h + 263, "00", 2);                      /* version */
    memcpy(h + 265, "root", 4);                    /* uname */
    memcpy(h + 297, "root", 4);                    /* gname */
    memcpy(h + 345, prefix, 155);
    unsigned long sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06lo", sum); /* six digits, NUL, then the space kept */
    h[155] = ' ';
    b->len += BLOCK;
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Was directory dir (length n) already written? Directories come from earlier paths. */
static int dir_seen(const gen_files *f, size_t upto, const char *dir, size_t n)
{
    for (size_t i = 0; i < upto; i++) {
        const char *p = gen_files_path(f, i);
        if (strlen(p) > n && !strncmp(p, dir, n) && p[n] == '/')
            return 1;
    }
    return 0;
}

static cg_err *add_dirs(struct buf *b, const gen_files *f, size_t i, const char *prefix)
{
    const char *path = gen_files_path(f, i);
    for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
        size_t n = (size_t)(s - path);
        if (dir_seen(f, i, path, n))
            continue;
        char full[512];
        int w = snprintf(full, sizeof(full), "%s%s%.*s/", prefix, *prefix ? "/" : "", (int)n, path);
        if (w < 0 || (size_t)w >= sizeof(full))
            return cg_err_new(CG_EINVAL, "path too long for a tar archive: '%s'", path);
        cg_err *e = add_header(b, full, 1, 0755, 0);
        if (e)
            return e;
    }
    return NULL;
}

static cg_err *gzip(const struct buf *in, unsigned char **out, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    /* windowBits 15 + 16: a gzip wrapper; zlib writes mtime 0 and no file name. */
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return cg_err_new(CG_ENOMEM, "cannot start zlib");
    uLong bound = deflateBound(&z, (uLong)in->len) + 64;
    unsigned char *o = malloc(bound);
    if (!o) {
        deflateEnd(&z);
        return cg_err_new(CG_ENOMEM, "out of memory");
    }
    z.next_in = in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = o;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    size_t produced = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(o);
        return cg_err_new(CG_EIO, "zlib could not compress the archive (%d)", rc);
    }
    *out = o;
    *len = produced;
    return NULL;
}

cg_err *gen_files_tar_gz(const gen_files *f, const char *prefix, unsigned char **out, size_t *len)
{
    cg_err *err = NULL;
    struct buf b = {0};
    if (!prefix)
        prefix = "";
    /* gen_files remembers a failed append; writing a truncated archive would hide it. */
    if (gen_files_failed(f))
        return cg_err_new(CG_ENOMEM, "out of memory while generating files");
    if (strlen(prefix) > 200 || (*prefix && !gen_files_path_ok(prefix)))
        return cg_err_new(CG_EINVAL, "bad archive prefix '%s'", prefix);
    if (*prefix) {
        char top[256];
        snprintf(top, sizeof(top), "%s/", prefix);
        err = add_header(&b, top, 1, 0755, 0);
        if (err)
            goto done;
    }
    for (size_t i = 0; i < gen_files_count(f); i++) {
        const char *path = gen_files_path(f, i);
        size_t dlen;
        const char *data = gen_files_data(f, i, &dlen);
        if (!gen_files_path_ok(path)) {
            err = cg_err_new(CG_EINVAL, "refusing to archive path '%s'", path);
            goto done;
        }
        err = add_dirs(&b, f, i, prefix);
        if (err)
            goto done;
        size_t fl = strlen(prefix) + strlen(path) + 2;
        char *full = malloc(fl);
        if (!full) {
            err = cg_err_new(CG_ENOMEM, "out of memory");
            goto done;
        }
        snprintf(full, fl, "%s%s%s", prefix, *prefix ? "/" : "", path);
        err = add_header(&b, full, 0, ends_with(path, ".sh") ? 0755 : 0644, dlen);
        free(full);
        if (err)
            goto done;
        size_t padded = (dlen + BLOCK - 1) / BLOCK * BLOCK;
        if (buf_reserve(&b, padded)) {
            err = cg_err_new(CG_ENOMEM, "out of memory");
            goto done;
        }
        memcpy(b.data + b.len, data, dlen);
        memset(b.data + b.len + dlen, 0, padded - dlen);
        b.len += padded;
    }
    /* End of archive: two zero blocks. */
    if (buf_reserve(&b, 2 * BLOCK)) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    memset(b.data + b.len, 0, 2 * BLOCK);
    b.len += 2 * BLOCK;
    err = gzip(&b, out, len);
done:
    free(b.data);
    return err;
}
