/* digest: fetched once, shared by every thread (an EVP_MD is read-only). */
#include "digest.h"

#include <pthread.h>

static EVP_MD *sha256_md, *blake2b_md;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_digests(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    blake2b_md = EVP_MD_fetch(NULL, "BLAKE2B-512", NULL);
}

const EVP_MD *wf_digest_sha256(void)
{
    pthread_once(&fetch_once, fetch_digests);
    return sha256_md ? sha256_md : EVP_sha256();
}

const EVP_MD *wf_digest_blake2b(void)
{
    pthread_once(&fetch_once, fetch_digests);
    return blake2b_md ? blake2b_md : EVP_blake2b512();
}

int wf_digest_sha256_of(const void *buf, size_t len, unsigned char out[32])
{
    unsigned int n = 0;

    return EVP_Digest(buf, len, out, &n, wf_digest_sha256(), NULL) && n == 32 ? 0 : -1;
}
