/* wsstatus: a state record described for people and scripts. */
#include "wsstatus.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "plan.h"

#define AUTHZ_KEY "workspace.json"

int wsstatus_pick(const wsstate *recs, size_t n)
{
    int best = -1;

    for (size_t i = 0; i < n; i++) {
        if (best < 0 || recs[i].version > recs[best].version ||
            (recs[i].version == recs[best].version && !recs[i].complete && recs[best].complete))
            best = (int)i;
    }
    return best;
}

static const char *meta_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

/* ---- identities, as the planner keys them ---- */

uint64_t wsstatus_object_id(const json_t *manifest)
{
    return plan_manifest_id(manifest);
}

uint64_t wsstatus_project_id(void)
{
    return plan_project_id();
}

uint64_t wsstatus_attributes_id(const char *domain)
{
    return plan_attributes_id(domain);
}

int wsstatus_is_cluster_attributes(const json_t *attributes)
{
    return json_object_get(json_object_get(attributes, "matching_attributes"),
                           "execution_cluster_label") != NULL;
}

/* ---- the walk over the desired objects ---- */

int wsstatus_each(const desired *d, wsstatus_object_fn *fn, void *ud)
{
    size_t k = 0, j;
    json_t *obj;
    int rc;

    if (d == NULL || !d->flyte_wanted)
        return 0;
    if ((rc = fn(ud, k++, "FlyteProject", NULL, d->project)) != 0)
        return rc;
    for (size_t i = 0; i < d->n_domains; i++) {
        const desired_domain *dd = &d->domains[i];
        if ((rc = fn(ud, k++, "ProjectDomainAttributes", dd->domain, dd->attributes)) != 0)
            return rc;
        if (dd->cluster_attributes &&
            (rc = fn(ud, k++, "ProjectDomainAttributes", dd->domain, dd->cluster_attributes)) != 0)
            return rc;
        json_array_foreach(dd->objects, j, obj)
        {
            if ((rc = fn(ud, k++, json_string_value(json_object_get(obj, "kind")), dd->domain,
                         obj)) != 0)
                return rc;
        }
    }
    json_array_foreach(d->cluster_objects, j, obj)
    {
        if ((rc = fn(ud, k++, json_string_value(json_object_get(obj, "kind")), NULL, obj)) != 0)
            return rc;
    }
    return 0;
}

/* ---- the description ---- */

static void hex64(uint64_t v, char out[17])
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
    out[16] = '\0';
}

void wsstatus_time(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;

    if (gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, len, "%lld ms", (long long)ms);
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

typedef struct describe_ctx {
    const wsstate *s;
    const desired *d;
    json_t *objects;
    size_t named; /* recorded identities some rendered object names */
    int failed;
} describe_ctx;

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* One object's entry: what it is and, when the record has its identity,
 * its recorded content hash. */
static json_t *object_entry(const describe_ctx *c, const char *kind, const char *domain,
                            const json_t *obj)
{
    /* Flyte objects have no apiVersion; the walk names their kinds. */
    if (json_object_get(obj, "apiVersion") == NULL && strcmp(kind, "FlyteProject") == 0)
        return json_pack("{s:s, s:s, s:n, s:s}", "apiVersion", "flyteadmin/v1", "kind", kind,
                         "namespace", "name", c->d->project_id);
    if (json_object_get(obj, "apiVersion") == NULL && wsstatus_is_cluster_attributes(obj))
        return json_pack("{s:s, s:s, s:s, s:s, s:s}", "apiVersion", "flyteadmin/v1", "kind", kind,
                         "namespace", c->d->project_id, "name", domain, "resource_type",
                         "EXECUTION_CLUSTER_LABEL");
    if (json_object_get(obj, "apiVersion") == NULL)
        return json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", "flyteadmin/v1", "kind", kind,
                         "namespace", c->d->project_id, "name", domain);
    return json_pack("{s:o, s:s, s:o, s:o}", "apiVersion",
                     str_or_null(json_string_value(json_object_get(obj, "apiVersion"))), "kind",
                     kind, "namespace", str_or_null(meta_string(obj, "namespace")), "name",
                     str_or_null(meta_string(obj, "name")));
}

static int describe_object(void *ud, size_t index, const char *kind, const char *domain,
                           const json_t *obj)
{
    describe_ctx *c = ud;
    int flyte = json_object_get(obj, "apiVersion") == NULL;
    uint64_t id = !flyte                                ? wsstatus_object_id(obj)
                  : strcmp(kind, "FlyteProject") == 0   ? wsstatus_project_id()
                  : wsstatus_is_cluster_attributes(obj) ? plan_cluster_attributes_id(domain)
                                                        : wsstatus_attributes_id(domain);
    uint64_t recorded = 0;
    char idh[17], ch[17];
    json_t *e = object_entry(c, kind, domain, obj);

    (void)index;
    hex64(id, idh);
    if (wsstate_find(c->s, id, &recorded)) {
        hex64(recorded, ch);
        c->named++;
    }
    if (e == NULL || json_object_set_new(e, "identity", json_string(idh)) != 0 ||
        json_object_set_new(e, "content", recorded ? json_string(ch) : json_null()) != 0 ||
        json_object_set_new(e, "rendered_matches",
                            json_boolean(recorded && recorded == wsstate_hash_json(obj))) != 0) {
        json_decref(e);
        c->failed = 1;
        return 1;
    }
    if (json_array_append_new(c->objects, e) != 0) { /* e is released */
        c->failed = 1;
        return 1;
    }
    return 0;
}

/* The members and the domains each is granted, as the authz document
 * rendered for the workspace says (members deduplicated, role by role). */
static json_t *members_of(const ws_event *ev, const desired *d)
{
    json_t *out = json_array(), *obj, *doc = NULL, *m;
    const char *user;
    size_t i;

    json_array_foreach(d ? d->cluster_objects : NULL, i, obj)
    {
        const char *text =
            json_string_value(json_object_get(json_object_get(obj, "data"), AUTHZ_KEY));
        if (text && (doc = json_loads(text, 0, NULL)) != NULL)
            break;
    }
    if (doc) {
        json_object_foreach(json_object_get(doc, "members"), user, m)
        {
            json_array_append_new(out, json_pack("{s:s, s:O?, s:O?, s:O?}", "user_id", user,
                                                 "email", json_object_get(m, "email"), "role",
                                                 json_object_get(m, "role"), "domains",
                                                 json_object_get(m, "domains")));
        }
        json_decref(doc);
        return out;
    }
    for (i = 0; ev && i < ev->ws.n_members; i++) {
        const ws_member *wm = &ev->ws.members[i];
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:n}", "user_id", wm->user_id,
                                             "email", wm->email ? wm->email : "", "role",
                                             ws_role_name(wm->role), "domains"));
    }
    return out;
}

static json_t *namespaces_of(const desired *d)
{
    json_t *out = json_array(), *entry;
    size_t i;

    if (d && d->flyte_wanted) {
        for (i = 0; i < d->n_domains; i++)
            json_array_append_new(out, json_string(d->domains[i].namespace_name));
    } else if (d) {
        json_array_foreach(d->cleanup, i, entry)
        {
            const char *kind = json_string_value(json_object_get(entry, "kind"));
            if (kind && strcmp(kind, "Namespace") == 0)
                json_array_append(out, json_object_get(entry, "name"));
        }
    }
    return out;
}

static json_t *record_fields(const wsstate *s, const ws_event *ev)
{
    char when[48] = "", digest[17];

    if (ev)
        wsstatus_time(ev->occurred_at, when, sizeof(when));
    hex64(s->digest, digest);
    return json_pack("{s:s, s:b, s:I, s:o, s:o, s:o, s:{s:s, s:o, s:b}, s:b, s:b, s:s}",
                     "workspace_id", s->workspace_id, "record", 1, "version",
                     (json_int_t)s->version, "event_id", str_or_null(s->event_id), "event_type",
                     str_or_null(ev ? ws_event_type_name(ev->type) : NULL), "event_time",
                     str_or_null(ev ? when : NULL), "outcome", "status",
                     prov_status_name(s->status), "reason", str_or_null(s->reason), "project_named",
                     s->project, "complete", s->complete, "flyte_wanted", s->flyte, "digest",
                     digest);
}

json_t *wsstatus_describe(const wsstate *s, const ws_event *ev, const desired *d,
                          const char *render_error)
{
    describe_ctx c = {s, d, json_array(), 0, 0};
    json_t *out = record_fields(s, ev);

    if (out == NULL || c.objects == NULL)
        goto fail;
    if (d)
        wsstatus_each(d, describe_object, &c);
    if (c.failed)
        goto fail;
    /* objects first: once set, out owns it on every path below. */
    if (json_object_set_new(out, "objects", c.objects))
        goto fail_out;
    if (json_object_set_new(out, "project",
                            str_or_null(d && d->flyte_wanted && s->flyte ? d->project_id : NULL)) ||
        json_object_set_new(out, "console_url",
                            str_or_null(d && d->flyte_wanted ? d->console_url : NULL)) ||
        json_object_set_new(out, "namespaces", namespaces_of(d)) ||
        json_object_set_new(out, "recorded_objects", json_integer((json_int_t)s->n_objs)) ||
        json_object_set_new(out, "unnamed_objects",
                            json_integer((json_int_t)(s->n_objs - c.named))) ||
        json_object_set_new(out, "members", members_of(ev, d)))
        goto fail_out;
    if (render_error && json_object_set_new(out, "render_error", json_string(render_error)))
        goto fail_out;
    return out;
fail:
    json_decref(c.objects);
fail_out:
    json_decref(out);
    return NULL;
}
