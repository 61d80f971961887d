/* digest: the message digests wsflyte uses, fetched from OpenSSL once.
 *
 * EVP_sha256() and friends make EVP_DigestInit fetch the implementation by
 * name on every call (a method-store lookup under a lock), which costs more
 * than hashing a short name; a fetched EVP_MD skips that.  The fetched
 * digests live as long as the process. */
#ifndef WF_DIGEST_H
#define WF_DIGEST_H

#include <openssl/evp.h>
#include <stddef.h>

/* SHA-256 and BLAKE2b-512; never NULL (the legacy getter when the fetch
 * failed).  Thread-safe. */
const EVP_MD *wf_digest_sha256(void);
const EVP_MD *wf_digest_blake2b(void);

/* The calling thread's context for md (one of the two above), initialised,
 * or NULL (out of memory): for EVP_DigestUpdate and EVP_DigestFinal_ex,
 * never freed by the caller, and good until the thread's next
 * wf_digest_begin of md (wf_digest_sha256_of is one of SHA-256).  Making and freeing a context per
 * hash cost more than hashing a short text.  Freed when the thread ends. */
EVP_MD_CTX *wf_digest_begin(const EVP_MD *md);

/* SHA-256 of buf into out (32 bytes).  Returns 0, or -1 when OpenSSL
 * failed (out of memory). */
int wf_digest_sha256_of(const void *buf, size_t len, unsigned char out[32]);

#endif
