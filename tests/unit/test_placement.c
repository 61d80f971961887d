#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "placement.h"

#define N_IDS 10000

static const wf_cluster two[] = {
    {.name = "east-1", .weight = 1},
    {.name = "west-1", .weight = 3},
};

/* A placement of workspace id over clusters, nothing else set. */
static placement_in input(const wf_cluster *clusters, size_t n, const char *id)
{
    placement_in in = {
        .clusters = clusters, .n_clusters = n, .label_key = "flyte-cluster", .workspace_id = id};
    return in;
}

static placement choose_ok(const placement_in *in)
{
    placement out;
    wf_err err;

    wf_err_init(&err);
    assert_int_equal(placement_choose(in, &out, &err), 0);
    assert_false(wf_err_is_set(&err));
    return out;
}

static void no_clusters_is_the_single_cluster(void **state)
{
    ws_label labels[] = {{"flyte-cluster", "east-1"}};
    placement_in in = input(NULL, 0, "ws-1");
    placement out;

    (void)state;
    in.labels = labels;
    in.n_labels = 1;
    in.current = "east-1";
    out = choose_ok(&in);
    assert_int_equal(out.via, PLACEMENT_SINGLE);
    assert_int_equal(out.index, 0);
}

static void label_wins_over_current_and_default(void **state)
{
    ws_label labels[] = {{"team", "ml"}, {"flyte-cluster", "east-1"}};
    placement_in in = input(two, 2, "ws-1");
    placement out;

    (void)state;
    in.labels = labels;
    in.n_labels = 2;
    in.current = "west-1";
    in.default_name = "west-1";
    out = choose_ok(&in);
    assert_int_equal(out.via, PLACEMENT_LABEL);
    assert_int_equal(out.index, 0);
    assert_int_equal(out.current_dropped, 0);
}

static void unknown_label_is_a_validation_error(void **state)
{
    ws_label labels[] = {{"flyte-cluster", "mars-1"}};
    placement_in in = input(two, 2, "ws-1");
    placement out;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    in.labels = labels;
    in.n_labels = 1;
    in.current = "east-1";
    assert_int_equal(placement_choose(&in, &out, &err), -1);
    assert_int_equal(err.cls, WF_VALIDATION);
    assert_string_equal(err.code, "placement.unknown-cluster");
    assert_non_null(strstr(err.msg, "workspace.labels[\"flyte-cluster\"]: \"mars-1\""));
}

static void empty_label_value_is_no_label(void **state)
{
    ws_label labels[] = {{"flyte-cluster", ""}};
    placement_in in = input(two, 2, "ws-1");
    placement out;

    (void)state;
    in.labels = labels;
    in.n_labels = 1;
    in.current = "west-1";
    out = choose_ok(&in);
    assert_int_equal(out.via, PLACEMENT_CURRENT);
    assert_int_equal(out.index, 1);
}

static void other_label_keys_do_not_place(void **state)
{
    ws_label labels[] = {{"cluster", "mars-1"}, {"example.com/flyte-cluster", "mars-1"}};
    placement_in in = input(two, 2, "ws-1");
    placement out;

    (void)state;
    in.labels = labels;
    in.n_labels = 2;
    in.default_name = "east-1";
    out = choose_ok(&in);
    assert_int_equal(out.via, PLACEMENT_DEFAULT);
    assert_int_equal(out.index, 0);
}

static void placed_workspace_is_sticky(void **state)
{
    placement_in in = input(two, 2, "ws-1");
    placement out;

    (void)state;
    in.current = "east-1";
    in.default_name = "west-1";
    out = choose_ok(&in);
    assert_int_equal(out.via, PLACEMENT_CURRENT);
    assert_int_equal(out.index, 0);
}

static void dropped_cluster_falls_through_to_default(void **state)
{
    placement_in in = input(two, 2, "ws-1");
    placement out;

    (void)state;
    in.current = "gone-1";
    in.default_name = "west-1";
    out = choose_ok(&in);
    assert_int_equal(out.via, PLACEMENT_DEFAULT);
    assert_int_equal(out.index, 1);
    assert_int_equal(out.current_dropped, 1);
    in.default_name = "";
    out = choose_ok(&in);
    assert_int_equal(out.via, PLACEMENT_WEIGHT);
    assert_int_equal(out.current_dropped, 1);
}

static void default_places_a_new_workspace(void **state)
{
    placement_in in = input(two, 2, "ws-1");
    placement out;

    (void)state;
    in.current = "";
    in.default_name = "east-1";
    out = choose_ok(&in);
    assert_int_equal(out.via, PLACEMENT_DEFAULT);
    assert_int_equal(out.index, 0);
}

static void ws_id(char *id, size_t len, int i)
{
    snprintf(id, len, "ws-%05d", i);
}

static void weights_split_new_workspaces(void **state)
{
    size_t hits[2] = {0, 0};
    char id[32];

    (void)state;
    for (int i = 0; i < N_IDS; i++) {
        placement_in in;
        placement out;
        ws_id(id, sizeof(id), i);
        in = input(two, 2, id);
        out = choose_ok(&in);
        assert_int_equal(out.via, PLACEMENT_WEIGHT);
        hits[out.index]++;
    }
    /* 1:3 is 25 % on the first; generous bounds keep the test exact. */
    assert_in_range(hits[0], N_IDS * 20 / 100, N_IDS * 30 / 100);
    assert_int_equal(hits[0] + hits[1], N_IDS);
}

static void weights_are_deterministic(void **state)
{
    static const wf_cluster reversed[] = {{.name = "west-1", .weight = 3},
                                          {.name = "east-1", .weight = 1}};
    char id[32];

    (void)state;
    for (int i = 0; i < 1000; i++) {
        placement_in a, b;
        placement pa, pb;
        ws_id(id, sizeof(id), i);
        a = input(two, 2, id);
        b = input(reversed, 2, id);
        pa = choose_ok(&a);
        assert_int_equal(choose_ok(&a).index, pa.index);
        /* The list's order does not matter, only names and weights. */
        pb = choose_ok(&b);
        assert_string_equal(two[pa.index].name, reversed[pb.index].name);
    }
    assert_true(placement_score("ws-1", "east-1", 1) ==
                placement_score("ws-1", "east-1", 1)); /* no hidden state */
}

static void zero_weight_is_never_chosen(void **state)
{
    static const wf_cluster three[] = {{.name = "east-1", .weight = 1},
                                       {.name = "drain-1", .weight = 0},
                                       {.name = "west-1", .weight = 1}};
    char id[32];

    (void)state;
    for (int i = 0; i < N_IDS; i++) {
        placement_in in;
        ws_id(id, sizeof(id), i);
        in = input(three, 3, id);
        assert_int_not_equal(choose_ok(&in).index, 1);
    }
    assert_true(placement_score("ws-1", "drain-1", 0) == 0.0);
}

static void zero_weight_still_takes_label_and_default(void **state)
{
    static const wf_cluster three[] = {{.name = "east-1", .weight = 1},
                                       {.name = "drain-1", .weight = 0}};
    ws_label labels[] = {{"flyte-cluster", "drain-1"}};
    placement_in in = input(three, 2, "ws-1");

    (void)state;
    in.labels = labels;
    in.n_labels = 1;
    assert_int_equal(choose_ok(&in).index, 1);
    in.n_labels = 0;
    in.current = "drain-1";
    assert_int_equal(choose_ok(&in).index, 1);
}

/* Rendezvous hashing: a new cluster takes workspaces only for itself. */
static void adding_a_cluster_moves_only_to_it(void **state)
{
    static const wf_cluster three[] = {{.name = "east-1", .weight = 1},
                                       {.name = "west-1", .weight = 3},
                                       {.name = "north-1", .weight = 2}};
    size_t moved = 0;
    char id[32];

    (void)state;
    for (int i = 0; i < N_IDS; i++) {
        placement_in before, after;
        placement pb, pa;
        ws_id(id, sizeof(id), i);
        before = input(two, 2, id);
        after = input(three, 3, id);
        pb = choose_ok(&before);
        pa = choose_ok(&after);
        if (pa.index != pb.index) {
            assert_int_equal(pa.index, 2);
            moved++;
        }
    }
    /* north-1 is 2 of 6: about a third. */
    assert_in_range(moved, N_IDS * 25 / 100, N_IDS * 42 / 100);
}

static void all_weights_zero_is_a_config_error(void **state)
{
    static const wf_cluster none[] = {{.name = "east-1", .weight = 0}};
    placement_in in = input(none, 1, "ws-1");
    placement out;
    wf_err err;

    (void)state;
    wf_err_init(&err);
    assert_int_equal(placement_choose(&in, &out, &err), -1);
    assert_int_equal(err.cls, WF_CONFIG);
    assert_string_equal(err.code, "placement.no-weight");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_clusters_is_the_single_cluster),
        cmocka_unit_test(label_wins_over_current_and_default),
        cmocka_unit_test(unknown_label_is_a_validation_error),
        cmocka_unit_test(empty_label_value_is_no_label),
        cmocka_unit_test(other_label_keys_do_not_place),
        cmocka_unit_test(placed_workspace_is_sticky),
        cmocka_unit_test(dropped_cluster_falls_through_to_default),
        cmocka_unit_test(default_places_a_new_workspace),
        cmocka_unit_test(weights_split_new_workspaces),
        cmocka_unit_test(weights_are_deterministic),
        cmocka_unit_test(zero_weight_is_never_chosen),
        cmocka_unit_test(zero_weight_still_takes_label_and_default),
        cmocka_unit_test(adding_a_cluster_moves_only_to_it),
        cmocka_unit_test(all_weights_zero_is_a_config_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
