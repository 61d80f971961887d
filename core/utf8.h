/* utf8: cutting text to a byte budget without splitting a character.
 * Error messages (the x-error-message header, JSON), Flyte project names
 * and display strings all have byte limits, and half a UTF-8 sequence at
 * the end makes the whole text invalid. */
#ifndef WF_UTF8_H
#define WF_UTF8_H

#include <stddef.h>

/* The length of the longest prefix of s that is at most max bytes and does
 * not end inside a UTF-8 sequence.  Reads s up to s[max] (or its NUL). */
size_t utf8_prefix_len(const char *s, size_t max);

#endif
