/* time_format.h - the translators' date/time parser (prefix tr_), public so that every
 * part of the project that reads a time written by a person reads it alike.
 *
 * The formats are those of a mapping's "format" (docs/translators.md, "Date and time
 * formats"): "iso8601" (fixed-width fields, Z or an offset) or a strptime-like pattern.
 * A text that names no real instant (February 31st, second 60, hour 24) does not parse:
 * nothing is normalised into a neighbouring day. The implementation lives in
 * mapping_util.c. */
#ifndef TR_TIME_FORMAT_H
#define TR_TIME_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* A parsed date/time: the instant in microseconds since the epoch (UTC, after any offset
 * in the text), and its time of day in UTC, in microseconds: "23:00-05:00" is 04:00, as
 * the date of "2024-01-01T23:00:00-05:00" is the UTC date, 2024-01-02. */
typedef struct tr_instant {
    int64_t epoch_us;
    int64_t time_of_day_us;
} tr_instant;

/* "iso8601" or a strptime-like pattern (docs/translators.md). Returns NULL when fmt is
 * valid, else a static string saying what is wrong. */
const char *tr_time_format_check(const char *fmt);
/* Parses len bytes of s with fmt (checked). 0, or -1 when the text does not match or is
 * not a valid date/time. */
int tr_time_parse(const char *fmt, const char *s, size_t len, tr_instant *out);
/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12). */
int64_t tr_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
