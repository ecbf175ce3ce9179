/* gen.c - gen_run(): the one entry point that picks a language's generator.
 *
 * The CLI (`canon gen`) and the HTTP endpoint (GET /canon/bindings/{lang}) both call
 * gen_run(), so a language is added in one place.
 *
 * The three generators are written by three people at the same time; until each lands,
 * its symbol is referenced weakly so that the canon binary keeps linking, and gen_run()
 * answers "generator not built" for it. This works because cg_codegen is an OBJECT
 * library (CMakeLists.txt): every generator object is linked into the program, so a weak
 * reference resolves to the real function whenever its file exists (a static archive
 * would not pull a member in for a weak reference). */
#include <stddef.h>

#include "gen.h"
#include "gen_bindings.h"

#pragma weak gen_c
#pragma weak gen_python
#pragma weak gen_java

cg_err *gen_run(gen_lang lang, const reg_schema *s, const char *schema_text, const gen_opts *o,
                gen_files *out)
{
    cg_err *(*fn)(const reg_schema *, const char *, const gen_opts *, gen_files *) = NULL;
    switch (lang) {
    case GEN_LANG_C: fn = gen_c; break;
    case GEN_LANG_PYTHON: fn = gen_python; break;
    case GEN_LANG_JAVA: fn = gen_java; break;
    }
    if (!fn)
        return cg_err_new(CG_ESTATE, "not built into this canon binary (no codegen/gen_%s.c)",
                          gen_lang_name(lang));
    static const gen_opts defaults = {0};
    return fn(s, schema_text, o ? o : &defaults, out);
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
