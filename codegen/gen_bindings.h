/* gen_bindings.h - the generators as the registry's hook for GET /canon/bindings/{lang}.
 *
 * The registry library cannot call codegen directly (codegen links the registry); a
 * program that wants the route installs this hook into reg_server_config.bindings
 * (cli/cmd_registry.c does). See registry/canon_bindings.h. */
#ifndef GEN_BINDINGS_H
#define GEN_BINDINGS_H

#include "../registry/canon_bindings.h"

/* The hook: lang_known and generate as reg_bindings_hook describes; ctx unused. */
reg_bindings_hook gen_bindings_hook(void);

#endif
