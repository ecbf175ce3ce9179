/* seed_updates.c - writes the update decoder's seeds (corpus/update/): the HR example
 * events (translators/examples/hr/events.jsonl) mapped by the HR mapping, i.e. the
 * exact bytes `canon translate` produces, without the 5-byte Confluent frame.
 * Built and run by hand (see README.md); its output is checked in. */
#include <stdint.h>

#include "fuzz_common.h"
#include "translators/mapping.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seed_updates OUTDIR\n");
        return 2;
    }
    reg_schema *c, *u;
    fz_person(&c, &u);
    size_t len;
    char *text = fz_slurp("translators/examples/hr/mapping.json", &len);
    tr_mapping *m = NULL;
    cg_err *e = tr_mapping_parse(text, len, "hr.json", &m);
    if (!e)
        e = tr_mapping_bind(m, c, u, 2);
    if (e) {
        fprintf(stderr, "%s\n", cg_err_msg(e));
        return 1;
    }
    char *events = fz_slurp("translators/examples/hr/events.jsonl", NULL);
    tr_output o;
    tr_output_init(&o);
    int n = 0;
    for (char *line = strtok(events, "\n"); line; line = strtok(NULL, "\n")) {
        e = tr_mapping_apply_text(m, line, strlen(line), 1700000000000, n, &o);
        if (e) {
            cg_err_free(e);
            continue;
        }
        char path[1024];
        snprintf(path, sizeof(path), "%s/hr-%02d", argv[1], ++n);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(o.value.data + 5, 1, o.value.len - 5, f) != o.value.len - 5)
            return 1;
        fclose(f);
    }
    tr_output_free(&o);
    tr_mapping_free(m);
    free(events);
    free(text);
    printf("%d seeds\n", n);
    return 0;
}
