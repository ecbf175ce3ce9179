/* gen_java_entity.c - placeholder until the entity layer is written. */
#include "gen_java_internal.h"

void jg_emit_entity(jgen *g, const reg_node *canonical, const reg_node *upd, const reg_node *env,
                    const char *update_text, const char *envelope_text)
{
    (void)g;
    (void)canonical;
    (void)upd;
    (void)env;
    (void)update_text;
    (void)envelope_text;
}
