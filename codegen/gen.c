/* gen.c - gen_run(): the one entry point that picks a language's generator, and the
 * registry's hook for GET /canon/bindings/{lang}.
 *
 * The CLI (`canon gen`) and the HTTP endpoint both go through gen_run(), so a language is
 * added in one place, and both give the same files for the same schema. */
#include <stddef.h>

#include "gen.h"
#include "gen_bindings.h"
#include "gen_internal.h"

cg_err *gen_run(gen_lang lang, const reg_schema *s, const char *schema_text, const gen_opts *o,
                gen_files *out)
{
    static const gen_opts defaults = {0};
    if (!o)
        o = &defaults;
    switch (lang) {
    case GEN_LANG_C:
        return gen_c(s, schema_text, o, out);
    case GEN_LANG_PYTHON:
        return gen_python(s, schema_text, o, out);
    case GEN_LANG_JAVA:
        return gen_java(s, schema_text, o, out);
    }
    return cg_err_new(CG_EINVAL, "unknown language %d", (int)lang);
}

/* ---- what the generators share (gen_internal.h) ---------------------------------- */

size_t gen_min_size(const reg_node *n, int depth)
{
    switch (n->type) {
    case REG_NULL:
        return 0;
    case REG_FLOAT:
        return 4;
    case REG_DOUBLE:
        return 8;
    case REG_FIXED:
        return n->size;
    case REG_RECORD: {
        size_t sum = 0;
        if (depth > 8)
            return 0;
        for (size_t i = 0; i < n->n_fields; i++)
            sum += gen_min_size(n->fields[i].type, depth + 1);
        return sum;
    }
    default:
        return 1; /* varints, lengths, union indexes, block counts */
    }
}

/* ---- the registry's hook (gen_bindings.h) ----------------------------------------- */

static int hook_lang_known(void *ctx, const char *lang)
{
    gen_lang l;
    (void)ctx;
    return gen_lang_parse(lang, &l) == 0;
}

static cg_err *hook_generate(void *ctx, const char *lang, const reg_schema *s,
                             const char *schema_text, const char *origin, const char *prefix,
                             unsigned char **out, size_t *len)
{
    gen_lang l;
    (void)ctx;
    if (gen_lang_parse(lang, &l))
        return cg_err_new(CG_EHTTP_UNPROCESSABLE, "unknown language '%s'", lang);
    gen_files *files = gen_files_new();
    if (!files)
        return cg_err_new(CG_ENOMEM, "out of memory");
    gen_opts o = {0};
    o.origin = origin;
    cg_err *err = gen_run(l, s, schema_text, &o, files);
    if (err)
        err = cg_err_wrap(err, "%s generator: ", gen_lang_name(l));
    else
        err = gen_files_tar_gz(files, prefix, out, len);
    gen_files_free(files);
    return err;
}

reg_bindings_hook gen_bindings_hook(void)
{
    reg_bindings_hook h = {hook_lang_known, hook_generate, NULL};
    return h;
}
