/* placement: label, then the cluster the workspace has, then the default,
 * then weighted rendezvous hashing of the workspace id. */
#include "placement.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

static long find(const wf_cluster *clusters, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(clusters[i].name, name) == 0)
            return (long)i;
    return -1;
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
    return h;
}

/* SplitMix64's finalizer: FNV-1a alone leaves the high bits of short,
 * similar strings correlated. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double placement_score(const char *workspace_id, const char *cluster, int weight)
{
    uint64_t h = fnv1a(FNV_OFFSET, workspace_id, strlen(workspace_id) + 1); /* with its NUL */
    double u;

    if (weight <= 0)
        return 0.0;
    h = mix(fnv1a(h, cluster, strlen(cluster)));
    u = ((double)(h >> 11) + 0.5) / 9007199254740992.0; /* 53 bits into (0, 1) */
    return -(double)weight / log(u);
}

static const char *label_value(const placement_in *in)
{
    for (size_t i = 0; i < in->n_labels; i++)
        if (strcmp(in->labels[i].key, in->label_key) == 0)
            return in->labels[i].value;
    return NULL;
}

/* The cluster of highest score, or -1 when every weight is 0. */
static long by_weight(const placement_in *in)
{
    double best = 0.0;
    long hit = -1;

    for (size_t i = 0; i < in->n_clusters; i++) {
        double score =
            placement_score(in->workspace_id, in->clusters[i].name, in->clusters[i].weight);
        if (score > best) {
            best = score;
            hit = (long)i;
        }
    }
    return hit;
}

static int place(placement *out, placement_via via, long index)
{
    out->via = via;
    out->index = (size_t)index;
    return 0;
}

int placement_choose(const placement_in *in, placement *out, wf_err *err)
{
    const char *label = in->label_key ? label_value(in) : NULL;
    long i;

    memset(out, 0, sizeof(*out));
    if (in->n_clusters == 0)
        return place(out, PLACEMENT_SINGLE, 0);
    if (label && *label) {
        if ((i = find(in->clusters, in->n_clusters, label)) >= 0)
            return place(out, PLACEMENT_LABEL, i);
        wf_err_set(err, WF_VALIDATION, "placement.unknown-cluster",
                   "workspace.labels[\"%s\"]: \"%.63s\" is not a cluster of kubernetes.clusters",
                   in->label_key, label);
        return -1;
    }
    if (in->current && *in->current) {
        if ((i = find(in->clusters, in->n_clusters, in->current)) >= 0)
            return place(out, PLACEMENT_CURRENT, i);
        out->current_dropped = 1;
    }
    if (in->default_name && *in->default_name &&
        (i = find(in->clusters, in->n_clusters, in->default_name)) >= 0)
        return place(out, PLACEMENT_DEFAULT, i);
    if ((i = by_weight(in)) >= 0)
        return place(out, PLACEMENT_WEIGHT, i);
    wf_err_set(err, WF_CONFIG, "placement.no-weight",
               "workspace %s: no cluster of kubernetes.clusters has a weight above 0",
               in->workspace_id);
    return -1;
}
