/* liveplan: what one event would change, read from the live FlyteAdmin and
 * Kubernetes state with GETs only (and the namespaced LIST of member
 * RoleBindings the handler prunes from), never a write.  For an operator
 * deciding whether replaying a dead letter is safe (wsflyte-render --diff).
 *
 It is the service's own plan (plan.h), made from everything read: a
 * project someone else registered fails the event (flyte.foreign-project);
 * a newer version recorded on the project (or, when Flyte is not wanted,
 * on the workspace's namespaces) makes it stale; a rendered namespace
 * without wsflyte's labels for the workspace fails it
 * (k8s.foreign-namespace).  Otherwise it prints, per object, in the
 * handler's order:
 *   create Namespace ws-a-development
 *   update ConfigMap flyte/wsflyte-authz-ws-a
 *     data["workspace.json"].members.bob: (absent) -> {...}
 *   delete RoleBinding ws-a-development/workspace-viewer-bob-0123456789
 *   unchanged Role ws-a-development/workspace-owner
 * and a summary line.  With kubernetes.clusters, a first line says where
 * the workspace goes ("cluster west (by label)[, moving from east]") and
 * each Kubernetes object's line ends in " on <cluster>" (or
 * " on control-plane" for kubernetes.api_url).  Objects are read by the names wsflyte renders
 * (desired.h), so kinds added there appear here without a change.
 *
 * What it cannot see: the service's state record (it may answer a
 * duplicate without writes even where this shows drift it would repair
 * by resync).  Credentials are never printed. */
#ifndef WF_LIVEPLAN_H
#define WF_LIVEPLAN_H

#include <stdio.h>

#include "config.h"
#include "desired.h"
#include "event.h"
#include "wf_err.h"

/* The verdict, as kubectl diff's exit status. */
typedef enum liveplan_verdict {
    LIVEPLAN_NO_CHANGE = 0, /* nothing would be written (also: a stale event) */
    LIVEPLAN_CHANGES = 1,   /* something would be written, or the event would fail */
    LIVEPLAN_ERROR = 2,     /* the live state could not be read */
} liveplan_verdict;

typedef struct liveplan liveplan;

/* Connects nothing yet; reads flyte.* and kubernetes.* from cfg (kept).
 * Returns NULL with err set (WF_CONFIG for unusable settings). */
liveplan *liveplan_new(const wf_config *cfg, wf_err *err);
void liveplan_free(liveplan *lp);

/* Places ev as the service would (with kubernetes.clusters: its label,
 * else the cluster its Flyte project names, else the default, else the
 * weights; a label naming another cluster than the project's is a move),
 * renders it there, reads the live state on each object's API server and
 * prints the plan to out.  Returns the verdict; LIVEPLAN_ERROR with err set
 * when a read failed (what was printed before stays printed). */
liveplan_verdict liveplan_run(liveplan *lp, const ws_event *ev, FILE *out, wf_err *err);

#endif
