/* cmd_serve.c - `canon serve`: the main job, every service of Canongate in one process.
 *
 * Today that is the schema registry (the same server and flags as `canon registry`); the
 * aggregator joins it here when it lands, which is why this is its own command: scripts
 * that start `canon serve` keep working as the process grows. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: canon serve [options]\n"
                 "\n"
                 "Run Canongate's services in one process: the schema registry (HTTP, the\n"
                 "Confluent Schema Registry API for Avro, SQLite storage).\n"
                 "\n"
                 "options (as for 'canon registry'):\n");
    registry_options_help(out);
}

int cmd_serve(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
    return cmd_registry(argc, argv);
}
