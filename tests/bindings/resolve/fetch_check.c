/* fetch_check.c - canon_registry_fetch (codegen/c_runtime/canon_registry.c) on its own,
 * for tests/bindings/test_c_registry_fetch.py.
 *
 * Usage: fetch_check URL ID. Prints the schema text the registry gave for ID, or
 * "error: CODE MESSAGE" and exits 1. Credentials and trust come from the URL and the
 * environment, as the function takes them (CANON_REGISTRY_TOKEN, CANON_REGISTRY_CA). */
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "canon_resolve.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fetch_check URL ID\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    canon_error err = {0};
    char *text = canon_registry_fetch(argv[1], (int32_t)atoi(argv[2]), &err);
    if (!text)
        printf("error: %d %s\n", err.code, err.msg);
    else
        printf("%s\n", text);
    free(text);
    curl_global_cleanup();
    return text ? 0 : 1;
}
