/* bench_common.h - what the C benchmarks of bench/codegen share: the CPU clock, the
 * benchmark record (customer.avsc with every field set) and keeping a round's best.
 * Include after defining BENCH_NAME (the program's name, for messages). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "customer.h"

#define N_RECORDS 1000

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "%s: %s: %s\n", BENCH_NAME, what, msg);
    exit(1);
}

/* Builds record i: every field set, contents varying with i. Strings live in the arena. */
static void make_record(customer_t *c, int i, canon_arena *a)
{
    char *s;
    customer_init(c);
#define STR(fmt, ...)                                                                              \
    (s = canon_arena_alloc(a, 64), snprintf(s, 64, fmt, __VA_ARGS__), canon_str_c(s))
    c->customer_id = STR("9b2f%04x-1c3d-4e5f-8a7b-6c5d4e3f2a1b", i);
    c->given_name = (canon_opt_str){true, STR("Ann%d", i % 10)};
    c->family_name = (canon_opt_str){true, STR("Smith%d", i % 100)};
    c->email = (canon_opt_str){true, STR("ann.smith%d@example.com", i)};
    c->phone = (canon_opt_str){true, STR("+47 555 %05d", i)};
    c->created_at = 1700000000000 + i;
    c->updated_at = (canon_opt_long){true, 1700000000000000 + i};
    c->birth_date = (canon_opt_int){true, 7000 + i % 9000};
    c->status = (customer_status_t)(i % CUSTOMER_STATUS_SYMBOL_COUNT);
    c->loyalty_points = i * 37;
    c->score = (canon_opt_double){true, i / 7.0};
    c->verified = i & 1;
    canon_str *tags = canon_arena_alloc(a, 3 * sizeof *tags);
    tags[0] = canon_str_c("vip");
    tags[1] = canon_str_c("newsletter");
    tags[2] = STR("seg%d", i % 5);
    c->tags = (customer_tags_t){tags, 3};
    customer_attributes_entry_t *attrs = canon_arena_alloc(a, 2 * sizeof *attrs);
    attrs[0] = (customer_attributes_entry_t){canon_str_c("source"), canon_str_c("web")};
    attrs[1] = (customer_attributes_entry_t){canon_str_c("lang"), canon_str_c("nb")};
    c->attributes = (customer_attributes_t){attrs, 2};
    customer_address_t *addr = canon_arena_alloc(a, sizeof *addr);
    addr->street = STR("%d Storgata", i % 200);
    addr->city = canon_str_c("Oslo");
    addr->postal_code = STR("0%03d", i % 1000);
    addr->country = canon_str_c("NO");
    c->address = addr;
    c->avatar_sha256.has = true;
    for (int k = 0; k < 32; k++)
        c->avatar_sha256.value.bytes[k] = (uint8_t)(i * 31 + k);
    c->notes = (canon_opt_bytes){true, canon_bytes_of("\x01\x02\x03\x04", 4)};
    c->preferred_channel.which = CUSTOMER_PREFERRED_CHANNEL_STRING;
    c->preferred_channel.string = canon_str_c("email");
    c->account_manager_id =
        (canon_opt_str){true, STR("1a2b%04x-5d6e-4f70-8192-a3b4c5d6e7f8", i % 50)};
    c->region = canon_str_c("eu-north");
#undef STR
}

/* Keeps the best of the interleaved rounds: on a shared machine other processes only
 * ever slow a round down. */
static void best(double *keep, double rate)
{
    if (rate > *keep)
        *keep = rate;
}

#endif
