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
    fprintf(out,
            "usage: canon serve [options]\n"
            "\n"
            "Run Canongate's services in one process: the schema registry (HTTP, the\n"
            "Confluent Schema Registry API for Avro, SQLite storage).\n"
            "\n"
            "options (as for 'canon registry'):\n"
            "  --listen HOST:PORT  address to listen on (default 127.0.0.1:8081; port 0 picks\n"
            "                      a free port, printed on the ready line)\n"
            "  --db FILE           SQLite database file (default canon.db)\n"
            "  --threads N         HTTP worker threads (default: number of CPUs)\n"
            "  --max-body BYTES    largest request body accepted, k/m suffix (default 16m)\n"
            "  --quiet             no access log on stderr\n"
            "  -h, --help          this help\n"
            "\n"
            "It stops on SIGTERM or SIGINT after finishing the requests in flight.\n");
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
