/* digest: fetched once, shared by every thread (an EVP_MD is read-only). */
#include "digest.h"

#include <pthread.h>

#include <stdlib.h>

static EVP_MD *sha256_md, *blake2b_md;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
/* Each thread's contexts, one per digest (switching a context between
 * digests costs as much as a new one), freed when the thread ends. */
typedef struct thread_ctxs {
    EVP_MD_CTX *ctx[2]; /* SHA-256, BLAKE2b */
} thread_ctxs;

static pthread_key_t ctx_key;
static int have_ctx_key;

static void ctxs_free(void *p)
{
    thread_ctxs *t = p;

    EVP_MD_CTX_free(t->ctx[0]);
    EVP_MD_CTX_free(t->ctx[1]);
    free(t);
}

static void fetch_digests(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    blake2b_md = EVP_MD_fetch(NULL, "BLAKE2B-512", NULL);
    have_ctx_key = pthread_key_create(&ctx_key, ctxs_free) == 0;
}

EVP_MD_CTX *wf_digest_begin(const EVP_MD *md)
{
    thread_ctxs *t;
    EVP_MD_CTX **ctx;

    pthread_once(&fetch_once, fetch_digests);
    if (!have_ctx_key)
        return NULL;
    if ((t = pthread_getspecific(ctx_key)) == NULL) {
        if ((t = calloc(1, sizeof(*t))) == NULL)
            return NULL;
        if (pthread_setspecific(ctx_key, t) != 0) {
            free(t);
            return NULL;
        }
    }
    ctx = &t->ctx[md == wf_digest_sha256() ? 0 : 1];
    if (*ctx == NULL && (*ctx = EVP_MD_CTX_new()) == NULL)
        return NULL;
    return EVP_DigestInit_ex2(*ctx, md, NULL) ? *ctx : NULL;
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
    EVP_MD_CTX *ctx = wf_digest_begin(wf_digest_sha256());
    unsigned int n = 0;

    if (ctx == NULL) /* no context of the thread's: a one-off */
        return EVP_Digest(buf, len, out, &n, wf_digest_sha256(), NULL) && n == 32 ? 0 : -1;
    return EVP_DigestUpdate(ctx, buf, len) && EVP_DigestFinal_ex(ctx, out, &n) && n == 32 ? 0 : -1;
}
