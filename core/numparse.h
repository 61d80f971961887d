/* numparse: strict decimal integers for command-line options and Kafka
 * headers.  atoi() reads "x" as 0 and "12abc" as 12, and overflows
 * silently; a partition, offset or replay count read that way points at the
 * wrong record or disarms a guard.  Here the whole text must be a number in
 * range, or the caller gets an explanation to print. */
#ifndef WF_NUMPARSE_H
#define WF_NUMPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Reads s (optional '-', then decimal digits, nothing else: no spaces, no
 * '+', no hex) into *out when min <= value <= max.  Returns 0, or -1 with a
 * reason in why ("not a number", "out of range 0..1000") and *out
 * untouched.  why may be NULL. */
int numparse_i64(const char *s, int64_t min, int64_t max, int64_t *out, char *why, size_t why_len)
    __attribute__((warn_unused_result));

/* numparse_i64 for an int. */
int numparse_int(const char *s, int min, int max, int *out, char *why, size_t why_len)
    __attribute__((warn_unused_result));

#endif
