/* test_data.h - reading the unit tests' data files (header-only, shared by the test
 * programs; not a test itself).
 *
 * The data lives in tests/unit/data, found through CANON_TESTDATA_DIR (ctest sets it) or,
 * when a test runs by hand from the build directory, ../tests/unit/data. The repository's
 * example schemas (schemas/) are reached from there as "../../../schemas/NAME". A file
 * that cannot be read fails the test with the path and the reason. */
#ifndef CANON_TEST_DATA_H
#define CANON_TEST_DATA_H

#include <stdio.h>
#include <stdlib.h>

#include "common/file.h"

/* The file at rel (relative to the data directory) as a NUL-terminated string the caller
 * frees; its length in *len when len is not NULL. (Not inlined: GCC 12 then takes the
 * result for a pointer to the local it was returned through, -Wdangling-pointer.) */
static __attribute__((unused, noinline)) char *test_data_read(const char *rel, size_t *len)
{
    const char *dir = getenv("CANON_TESTDATA_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "../tests/unit/data", rel);
    char *buf = NULL;
    size_t n = 0;
    cg_err *err = cg_read_file(path, (size_t)1 << 30, &buf, &n);
    if (err)
        fail_msg("%s (set CANON_TESTDATA_DIR)", cg_err_msg(err));
    if (len)
        *len = n;
    return buf;
}

/* One of the repository's example schemas (schemas/NAME). */
static inline char *test_data_example(const char *name)
{
    char rel[512];
    snprintf(rel, sizeof(rel), "../../../schemas/%s", name);
    return test_data_read(rel, NULL);
}

#endif
