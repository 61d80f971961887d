/* placement: which execution cluster of kubernetes.clusters holds a
 * workspace's namespaces (CONTRACT.md §3, "Placement across clusters").
 *
 * Pure: no I/O, no allocation, no state; every replica given the same
 * inputs picks the same cluster.  The order:
 *   1. the workspace label kubernetes.placement.label, when it is set and
 *      not empty: it must name a configured cluster, else the event fails
 *      VALIDATION, placement.unknown-cluster;
 *   2. the cluster the workspace already has (its state record or its Flyte
 *      project's label), while that cluster is still configured; one that is
 *      no longer configured is passed over (and said so in the result), so
 *      the workspace is placed again by 3 or 4;
 *   3. kubernetes.placement.default;
 *   4. the weights: weighted rendezvous hashing of the workspace id over the
 *      clusters whose weight is above 0 (see placement_score).  Weights decide
 *      only where a new workspace goes: a placed one stays where its record
 *      says, and adding a cluster moves no workspace that is placed. */
#ifndef WF_PLACEMENT_H
#define WF_PLACEMENT_H

#include <stddef.h>

#include "config.h"
#include "event.h"
#include "wf_err.h"

typedef enum placement_via {
    PLACEMENT_SINGLE,  /* no clusters configured: the one cluster of kubernetes.api_url */
    PLACEMENT_LABEL,   /* the workspace's placement label */
    PLACEMENT_CURRENT, /* the cluster it already has */
    PLACEMENT_DEFAULT, /* kubernetes.placement.default */
    PLACEMENT_WEIGHT,  /* the weights */
} placement_via;

typedef struct placement_in {
    const wf_cluster *clusters; /* kubernetes.clusters; may be empty */
    size_t n_clusters;
    const char *label_key;  /* kubernetes.placement.label */
    const ws_label *labels; /* the event's workspace.labels */
    size_t n_labels;
    const char *current;      /* the workspace's cluster so far; NULL or "": none */
    const char *default_name; /* kubernetes.placement.default; NULL or "": none */
    const char *workspace_id;
} placement_in;

typedef struct placement {
    placement_via via;
    size_t index;        /* into clusters; 0 with PLACEMENT_SINGLE */
    int current_dropped; /* in->current named a cluster no longer configured */
} placement;

/* Chooses the cluster of in->workspace_id.  Returns 0 and fills *out (via
 * PLACEMENT_SINGLE when in->n_clusters is 0), or -1 with err set: class
 * WF_VALIDATION, code "placement.unknown-cluster" when the label names no
 * configured cluster; class WF_CONFIG, code "placement.no-weight" when the
 * weights must decide and every one is 0 (the configuration refuses that). */
int placement_choose(const placement_in *in, placement *out, wf_err *err)
    __attribute__((warn_unused_result));

/* The rendezvous score of workspace_id on a cluster: -weight / ln(u), u the
 * 64-bit FNV-1a hash of workspace_id, a NUL byte and the cluster's name,
 * mixed by SplitMix64's finalizer and mapped into (0, 1).  The highest score
 * wins, the lower index on a tie; weight 0 scores 0 and never wins.  So each
 * cluster gets about weight / total of the new workspaces. */
double placement_score(const char *workspace_id, const char *cluster, int weight);

#endif
