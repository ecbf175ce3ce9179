/* main.c - the canon binary: one program, one subcommand per job.
 *
 * Dispatch only; each subcommand lives in its own cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <sqlite3.h>

#include "cmds.h"

#ifndef CANON_VERSION
#define CANON_VERSION "0.1.0"
#endif

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"serve", cmd_serve, "run the registry and the canon aggregator in one process"},
    {"aggregate", cmd_aggregate,
     "run the canon aggregator alone (updates -> canon topic, exactly once)"},
    {"translate", cmd_translate, "map a domain topic to canonical updates with a mapping file"},
    {"registry", cmd_registry, "run the schema registry alone (HTTP, Confluent API)"},
    {"check", cmd_check, "validate an Avro schema file; print its canonical form and fingerprint"},
    {"gen", cmd_gen, "generate a C, Python or Java binding for a schema (file or registry)"},
    {"produce", cmd_produce, "send updates given as JSON to canon.ENTITY.updates"},
    {"tail", cmd_tail, "print any Confluent-framed topic as JSON, one record a line"},
    {"state", cmd_state, "show the current state and provenance of one key of an entity"},
    {"replay", cmd_replay, "send dead letters back to canon.ENTITY.updates once fixed"},
    {"auth", cmd_auth, "make password hashes and API keys for a registry auth file"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: canon <command> [options]\n"
                 "\n"
                 "Canongate: one canonical Kafka topic per real-world thing, with a schema\n"
                 "registry, generated bindings and a single-producer aggregator.\n"
                 "\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Run 'canon <command> --help' for the options of one command.\n"
            "  canon --version   print the version, and those of the libraries it runs with\n");
}

/* The libraries' versions as loaded at run time, not as compiled against: a system
 * upgrade changes them under the same binary, and librdkafka's decides, for example, what
 * a transaction costs (docs/aggregator.md, section 5). Avro C has no version call. */
static void version(void)
{
    printf("canon %s\n", CANON_VERSION);
    printf("librdkafka %s, SQLite %s, libmicrohttpd %s, jansson %s\n", rd_kafka_version_str(),
           sqlite3_libversion(), MHD_get_version(), jansson_version_str());
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        version();
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "canon: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}
