/* quantity: Kubernetes resource quantities ("20", "2500m", "40Gi", "1e3")
 * as exact integers, for splitting a workspace's quota across its domains
 * and comparing LimitRange defaults.  Values are int64 milli-units: enough
 * for 9.2e15 bytes (8 PiB) or 9.2e15 CPUs, and the arithmetic never goes
 * through floating point, so a share is rounded exactly once, down. */
#ifndef WF_QUANTITY_H
#define WF_QUANTITY_H

#include <stddef.h>
#include <stdint.h>

/* Reads s (Kubernetes quantity syntax without a sign other than '+':
 * digits with at most one '.', then nothing, a decimal SI suffix n u m k M
 * G T P E, a binary suffix Ki Mi Gi Ti Pi Ei, or an exponent e/E[+-]digits)
 * into *milli, rounding any part below a milli-unit down.  Returns 0, or
 * -1 with a reason in why ("not a Kubernetes quantity", "larger than
 * 9223372036854775807m") and *milli untouched.  why may be NULL. */
int quantity_parse_milli(const char *s, int64_t *milli, char *why, size_t why_len)
    __attribute__((warn_unused_result));

/* floor(total * weight / sum) without overflow, for 0 <= total and
 * 0 < weight <= sum. */
int64_t quantity_share(int64_t total, int64_t weight, int64_t sum);

/* A CPU amount in milli-units as the API server writes it: "5" for 5000,
 * "2500m" for 2500, "0" for 0. */
void quantity_format_cpu(int64_t milli, char *buf, size_t len);

/* A byte count: with the largest of Ki..Ei that divides it exactly
 * ("10Gi"), else as a plain integer ("2500000000"). */
void quantity_format_bytes(int64_t bytes, char *buf, size_t len);

#endif
