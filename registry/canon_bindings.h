/* canon_bindings.h - GET /canon/bindings/{lang}?subject=S&version=V: a generated binding
 * of a registered schema, as a tar.gz download.
 *
 * The generators live in codegen/, which itself links the registry (it walks reg_schema).
 * So that the registry library does not depend on codegen (a link cycle), the server
 * calls the generators through a hook the program installs at start
 * (reg_server_config.bindings; cli/cmd_registry.c installs codegen's, see
 * codegen/gen_bindings.h). A server without the hook answers 404 on this route.
 */
#ifndef REG_CANON_BINDINGS_H
#define REG_CANON_BINDINGS_H

#include <stddef.h>

#include "../common/err.h"
#include "schema.h"

typedef struct reg_bindings_hook {
    /* 1 if lang names a language the generators know ("c", "python", "java"). */
    int (*lang_known)(void *ctx, const char *lang);
    /* Generates the binding of lang for s (schema_text: the text s was parsed from;
     * origin: for the generated files' header comment) and packs it as a tar.gz whose
     * entries sit under the directory prefix. On success *out (malloc'ed, the caller
     * frees) holds *len bytes. Called on libmicrohttpd pool threads, several at once: it
     * must keep no shared mutable state. */
    cg_err *(*generate)(void *ctx, const char *lang, const reg_schema *s, const char *schema_text,
                        const char *origin, const char *prefix, unsigned char **out, size_t *len);
    void *ctx; /* passed back as is; must outlive the server */
} reg_bindings_hook;

#endif
