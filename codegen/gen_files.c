/* gen_files.c - the in-memory file set generators write into, and its writers.
 *
 * Generators emit many small appends; keeping files in memory until the end means a
 * failed generation leaves no half-written directory, and the HTTP endpoint can pack the
 * same set without a temporary directory. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gen.h"
#include "gen_internal.h"

struct gen_file {
    char *path;
    char *data;
    size_t len, cap;
};

struct gen_files {
    struct gen_file *files;
    size_t n, cap;
    int oom; /* sticky: an append failed */
};

int gen_lang_parse(const char *name, gen_lang *out)
{
    if (!strcmp(name, "c"))
        *out = GEN_LANG_C;
    else if (!strcmp(name, "python") || !strcmp(name, "py"))
        *out = GEN_LANG_PYTHON;
    else if (!strcmp(name, "java"))
        *out = GEN_LANG_JAVA;
    else
        return -1;
    return 0;
}

const char *gen_lang_name(gen_lang lang)
{
    switch (lang) {
    case GEN_LANG_C:
        return "c";
    case GEN_LANG_PYTHON:
        return "python";
    case GEN_LANG_JAVA:
        return "java";
    }
    return "?";
}

gen_files *gen_files_new(void)
{
    return calloc(1, sizeof(gen_files));
}

void gen_files_free(gen_files *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->files[i].path);
        free(f->files[i].data);
    }
    free(f->files);
    free(f);
}

static struct gen_file *file_get(gen_files *f, const char *path)
{
    /* Generators write a handful of files, each in a burst: search from the end. */
    for (size_t i = f->n; i-- > 0;)
        if (!strcmp(f->files[i].path, path))
            return &f->files[i];
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct gen_file *nf = realloc(f->files, cap * sizeof(*nf));
        if (!nf)
            return NULL;
        f->files = nf;
        f->cap = cap;
    }
    struct gen_file *g = &f->files[f->n];
    memset(g, 0, sizeof(*g));
    g->path = strdup(path);
    if (!g->path)
        return NULL;
    f->n++;
    return g;
}

static int reserve(struct gen_file *g, size_t extra)
{
    if (g->len + extra + 1 <= g->cap)
        return 0;
    size_t cap = g->cap ? g->cap : 4096;
    while (cap < g->len + extra + 1)
        cap *= 2;
    char *nd = realloc(g->data, cap);
    if (!nd)
        return -1;
    g->data = nd;
    g->cap = cap;
    return 0;
}

void gen_files_append(gen_files *f, const char *path, const char *data, size_t len)
{
    if (f->oom)
        return;
    struct gen_file *g = file_get(f, path);
    if (!g || reserve(g, len)) {
        f->oom = 1;
        return;
    }
    memcpy(g->data + g->len, data, len);
    g->len += len;
    g->data[g->len] = '\0';
}

void gen_files_printf(gen_files *f, const char *path, const char *fmt, ...)
{
    if (f->oom)
        return;
    struct gen_file *g = file_get(f, path);
    if (!g) {
        f->oom = 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(g, (size_t)n)) {
        f->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(g->data + g->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    g->len += (size_t)n;
}

int gen_files_failed(const gen_files *f)
{
    return f->oom;
}

int gen_files_path_ok(const char *path)
{
    if (!*path || path[0] == '/')
        return 0;
    for (const char *c = path;;) {
        size_t n = strcspn(c, "/");
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        if (!c[n])
            return 1;
        c += n + 1;
    }
}

size_t gen_files_count(const gen_files *f)
{
    return f->n;
}

const char *gen_files_path(const gen_files *f, size_t i)
{
    return f->files[i].path;
}

const char *gen_files_data(const gen_files *f, size_t i, size_t *len)
{
    if (len)
        *len = f->files[i].len;
    return f->files[i].data ? f->files[i].data : "";
}

/* mkdir -p for the directories of path (not its last component). */
static cg_err *make_parents(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        int saved = errno;
        *p = '/';
        if (rc && saved != EEXIST)
            return cg_err_new(CG_EIO, "cannot create directory '%.*s': %s", (int)(p - path), path,
                              strerror(saved));
    }
    return NULL;
}

cg_err *gen_files_write_dir(const gen_files *f, const char *dir)
{
    if (f->oom)
        return cg_err_new(CG_ENOMEM, "out of memory while generating files");
    for (size_t i = 0; i < f->n; i++) {
        const struct gen_file *g = &f->files[i];
        if (!gen_files_path_ok(g->path))
            return cg_err_new(CG_EINVAL, "refusing to write path '%s'", g->path);
        size_t n = strlen(dir) + strlen(g->path) + 2;
        char *full = malloc(n);
        if (!full)
            return cg_err_new(CG_ENOMEM, "out of memory");
        snprintf(full, n, "%s/%s", dir, g->path);
        cg_err *e = make_parents(full);
        if (e) {
            free(full);
            return e;
        }
        FILE *fp = fopen(full, "wb");
        if (!fp) {
            e = cg_err_new(CG_EIO, "cannot write '%s': %s", full, strerror(errno));
            free(full);
            return e;
        }
        size_t wrote = g->len ? fwrite(g->data, 1, g->len, fp) : 0;
        int bad = wrote != g->len;
        if (fclose(fp) || bad) {
            e = cg_err_new(CG_EIO, "cannot write '%s': %s", full, strerror(errno));
            free(full);
            return e;
        }
        /* Scripts (roundtrip.sh, build helpers) get the mode the archive gives them. */
        size_t pl = strlen(g->path);
        if (pl > 3 && !strcmp(g->path + pl - 3, ".sh"))
            chmod(full, 0755);
        free(full);
    }
    return NULL;
}
