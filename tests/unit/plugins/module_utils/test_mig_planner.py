"""The MIG planner: placement rules, counts, budgets, minimal change; H100 and H200 from their captures."""
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.sovereign.cluster.plugins.module_utils import mig

CAPTURES = {"h100": "h100-80gb-hbm3-mig-disabled", "h200": "h200-141gb-mig-disabled"}

# NVIDIA mig-parted's published H100 80GB configurations (config-default.yaml)
MIG_PARTED_H100 = {
    "all-1g.10gb": {"1g.10gb": 7},
    "all-1g.20gb": {"1g.20gb": 4},
    "all-2g.20gb": {"2g.20gb": 3},
    "all-3g.40gb": {"3g.40gb": 2},
    "all-balanced": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1},
    "all-7g.80gb": {"7g.80gb": 1},
}
H200_SAME_SHAPES = {
    "all-1g.18gb": {"1g.18gb": 7},
    "all-1g.35gb": {"1g.35gb": 4},
    "all-2g.35gb": {"2g.35gb": 3},
    "all-3g.71gb": {"3g.71gb": 2},
    "all-balanced": {"1g.18gb": 2, "2g.35gb": 1, "3g.71gb": 1},
    "all-7g.141gb": {"7g.141gb": 1},
}


def load_gpu(fixtures_dir, which):
    folder = fixtures_dir / "nvidia-smi" / CAPTURES[which]
    text = (folder / "mig.txt").read_text()

    def section(title):
        return re.search(r"^### %s\n(.*?)^rc=" % re.escape(title), text, re.M | re.S).group(1)

    return mig.build_gpu_states(
        mig.parse_query_csv((folder / "query.csv").read_text()), mig.parse_smi_xml((folder / "smi-q.xml").read_text()),
        mig.parse_lgip(section("nvidia-smi mig -lgip")), mig.parse_lgipp(section("nvidia-smi mig -lgipp")), {}, {})[0]


def enabled(gpu, placed=()):
    """A copy of ``gpu`` with MIG enabled and the given (profile, start) instances, each with its full CI."""
    gpu = dict(gpu, mig_current="Enabled", mig_pending="Enabled")
    instances = []
    for n, (name, start) in enumerate(placed):
        p = gpu["profiles"][name]
        instances.append({"gi_id": 100 + n, "profile": name, "profile_id": p["id"], "start": start, "size": p["size"],
                          "compute_instances": [{"gi_id": 100 + n, "ci_id": 0, "profile": name, "profile_id": 0,
                                                 "mig_uuid": "MIG-%d" % n}]})
    gpu["gpu_instances"] = instances
    return gpu


@pytest.fixture(scope="module")
def h100(fixtures_dir):
    return load_gpu(fixtures_dir, "h100")


@pytest.fixture(scope="module")
def h200(fixtures_dir):
    return load_gpu(fixtures_dir, "h200")


def all_configurations(gpu):
    """Independent oracle: every set of non-overlapping placements the rules allow (brute force by slice)."""
    profiles = gpu["profiles"]
    by_start = {}
    for name, p in profiles.items():
        for s in p["starts"]:
            by_start.setdefault(s, []).append(name)
    configs = []

    def walk(slice_, placed):
        if slice_ >= gpu["memory_slices"]:
            counts = {}
            for name, _s in placed:
                counts[name] = counts.get(name, 0) + 1
            if all(c <= profiles[n]["max_count"] for n, c in counts.items()) and \
                    sum(profiles[n]["compute_slices"] for n, _s in placed) <= gpu["compute_slices"]:
                configs.append(tuple(placed))
            return
        walk(slice_ + 1, placed)
        for name in by_start.get(slice_, []):
            walk(slice_ + profiles[name]["size"], placed + [(name, slice_)])

    walk(0, [])
    return configs


@pytest.fixture(scope="module")
def h100_oracle(h100):
    configs = all_configurations(h100)
    feasible = {}
    for config in configs:
        key = tuple(sorted(_counts([n for n, _s in config]).items()))
        feasible.setdefault(key, []).append(set(config))
    return feasible


def _counts(names):
    counts = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.mark.parametrize("config", sorted(MIG_PARTED_H100))
def test_mig_parted_h100_layouts_are_accepted(h100, config):
    layout = MIG_PARTED_H100[config]
    plan = mig.plan_gpu(h100, layout)
    assert mig.validate_plan(plan, h100) == []
    assert mig.layout_counts(plan["target"]) == layout
    assert plan["actions"][0] == {"action": "enable_mig", "gpu": 0}
    assert [a["action"] for a in plan["actions"][1:]] == ["create_gi"] * sum(layout.values())


@pytest.mark.parametrize("config", sorted(H200_SAME_SHAPES))
def test_h200_layouts_use_its_own_profile_names(h200, config):
    layout = H200_SAME_SHAPES[config]
    plan = mig.plan_gpu(h200, layout)
    assert mig.validate_plan(plan, h200) == []
    assert mig.layout_counts(plan["target"]) == layout


def test_h100_names_are_refused_on_h200(h200):
    with pytest.raises(mig.MigLayoutError) as err:
        mig.plan_gpu(h200, {"1g.10gb": 7})
    assert "layout['1g.10gb']: GPU 0 (NVIDIA H200) has no MIG profile '1g.10gb'" in str(err.value)
    assert "1g.18gb, 1g.18gb+me, 1g.35gb" in str(err.value)


@pytest.mark.parametrize("layout,reason", [
    ({"3g.40gb": 2, "1g.10gb": 1}, "needs 9 memory slices but the GPU has 8"),
    ({"7g.80gb": 1, "1g.10gb": 1}, "needs 9 memory slices but the GPU has 8"),
    ({"1g.10gb": 8}, "1g.10gb x8 exceeds the profile's maximum of 7"),
    ({"1g.10gb+me": 2}, "1g.10gb+me x2 exceeds the profile's maximum of 1"),
    ({"4g.40gb": 1, "1g.10gb": 4}, "needs 8 compute slices but the GPU has 7"),
    ({"1g.10gb": 7, "1g.10gb+me": 1}, "needs 8 compute slices but the GPU has 7"),
    ({"3g.40gb": 3}, "3g.40gb x3 exceeds the profile's maximum of 2"),
])
def test_layouts_over_budget_are_refused(h100, layout, reason):
    with pytest.raises(mig.MigLayoutError) as err:
        mig.plan_gpu(enabled(h100), layout)
    assert reason in str(err.value)


def test_collision_names_profiles_and_slices(h100):
    layout = [{"profile": "3g.40gb", "placement": 0}, {"profile": "2g.20gb", "placement": "2:2"}]
    with pytest.raises(mig.MigLayoutError) as err:
        mig.plan_gpu(enabled(h100), layout)
    text = str(err.value)
    assert "2g.20gb@2 does not fit: start 2 (slices 2-3) collides with 3g.40gb@0 on slices 2-3" in text


def test_unpinned_collision_lists_every_start(h100):
    # within both budgets, but the pinned 1g.10gb instances block both starts of 3g.40gb {0,4}:4
    layout = [{"profile": "1g.10gb", "placement": 1}, {"profile": "1g.10gb", "placement": 5}, "3g.40gb"]
    with pytest.raises(mig.MigLayoutError) as err:
        mig.plan_gpu(enabled(h100), layout)
    text = str(err.value)
    assert "3g.40gb does not fit: start 0 (slices 0-3) collides with 1g.10gb@1 on slice 1; " \
           "start 4 (slices 4-7) collides with 1g.10gb@5 on slice 5" in text
    assert "best partial fit places 1g.10gb@1 (slice 1), 1g.10gb@5 (slice 5)" in text
    # the budget numbers are reason enough when a budget is broken
    with pytest.raises(mig.MigLayoutError) as err:
        mig.plan_gpu(enabled(h100), [{"profile": "4g.40gb", "placement": 0}, "2g.20gb", "2g.20gb"])
    assert str(err.value) == ("GPU 0 (NVIDIA H100 80GB HBM3): needs 8 compute slices but the GPU has 7 "
                              "(2g.20gb x2 = 4, 4g.40gb x1 = 4)")


@pytest.mark.parametrize("layout,message", [
    ([{"profile": "2g.20gb", "placement": 6}], "layout[0].placement: 2g.20gb cannot start at slice 6; allowed starts are {0,2,4}:2"),
    ([{"profile": "3g.40gb", "placement": "4:2"}], "has size 2 but 3g.40gb always takes 4 memory slice(s): use '4:4'"),
    ([{"profile": "1g.10gb", "where": 1}], "layout[0]: unknown key(s) where"),
    ({"1g.10gb": -1}, "layout['1g.10gb']: count must be >= 0"),
    ({"1g.10gb": "many"}, "layout['1g.10gb']: count must be a whole number"),
    ("1g.10gb", "layout: must be a mapping"),
])
def test_bad_layout_input_names_the_field(h100, layout, message):
    with pytest.raises(mig.MigLayoutError) as err:
        mig.plan_gpu(enabled(h100), layout)
    assert message in str(err.value)


def test_profile_ids_and_mig_prefix_are_accepted(h100):
    plan = mig.plan_gpu(h100, {"MIG 3g.40gb": 1, 19: 2})
    assert mig.layout_counts(plan["target"]) == {"3g.40gb": 1, "1g.10gb": 2}


def test_matching_state_needs_no_action(h100):
    gpu = enabled(h100, [("3g.40gb", 4), ("2g.20gb", 0), ("1g.10gb", 2), ("1g.10gb", 3)])
    plan = mig.plan_gpu(gpu, MIG_PARTED_H100["all-balanced"])
    assert plan["actions"] == []
    assert all(t["keep"] for t in plan["target"])


def test_repartition_keeps_what_matches(h100):
    gpu = enabled(h100, [("1g.10gb", s) for s in range(7)])
    plan = mig.plan_gpu(gpu, MIG_PARTED_H100["all-balanced"])
    kept = [t for t in plan["target"] if t["keep"]]
    assert len(kept) == 2 and all(t["profile"] == "1g.10gb" for t in kept)
    kinds = [a["action"] for a in plan["actions"]]
    assert kinds == ["destroy_ci"] * 5 + ["destroy_gi"] * 5 + ["create_gi"] * 2
    created = [(a["profile"], a["start"]) for a in plan["actions"] if a["action"] == "create_gi"]
    assert created[0] == ("3g.40gb", 4)  # big instances are created first
    assert mig.validate_plan(plan, gpu) == []


def test_gi_without_its_full_ci_gets_one(h100):
    gpu = enabled(h100, [("3g.40gb", 0)])
    gpu["gpu_instances"][0]["compute_instances"] = []
    plan = mig.plan_gpu(gpu, {"3g.40gb": 1})
    assert plan["actions"] == [{"action": "create_ci", "gpu": 0, "gi_id": 100, "profile": "3g.40gb"}]
    assert mig.action_command(plan["actions"][0]) == ["mig", "-i", "0", "-gi", "100", "-cci"]


def test_layout_omitted_only_manages_mig_mode(h100):
    assert [a["action"] for a in mig.plan_gpu(h100, None)["actions"]] == ["enable_mig"]
    assert mig.plan_gpu(enabled(h100, [("7g.80gb", 0)]), None)["actions"] == []


def test_pending_enable_reports_reset(h100):
    gpu = dict(h100, mig_current="Disabled", mig_pending="Enabled")
    plan = mig.plan_gpu(gpu, {"7g.80gb": 1})
    assert plan["reset_required"] is True
    assert plan["actions"] == []
    assert [a["action"] for a in plan["after_reset"]] == ["create_gi"]


def test_mig_disabled_tears_down_then_disables(h100):
    gpu = enabled(h100, [("3g.40gb", 0), ("3g.40gb", 4)])
    plan = mig.plan_gpu(gpu, None, mig_enabled=False)
    assert [a["action"] for a in plan["actions"]] == ["destroy_ci", "destroy_ci", "destroy_gi", "destroy_gi",
                                                      "disable_mig"]
    assert mig.action_command(plan["actions"][-1]) == ["-i", "0", "-mig", "0"]
    with pytest.raises(mig.MigLayoutError, match="layout: must be empty when mig_enabled is false"):
        mig.plan_gpu(gpu, {"3g.40gb": 1}, mig_enabled=False)


def test_action_commands_use_explicit_placements(h100):
    plan = mig.plan_gpu(h100, [{"profile": "1g.10gb", "placement": 5}])
    create = [a for a in plan["actions"] if a["action"] == "create_gi"][0]
    assert mig.action_command(create) == ["mig", "-i", "0", "-cgi", "19:5", "-C"]


def test_select_gpus(h100, h200):
    h200b = dict(h200, index=1)
    t4 = dict(h100, index=2, uuid="GPU-t4", name="Tesla T4", mig_capable=False, mig_current="[N/A]",
              pci_device_id="0x1EB810DE")
    states = [h100, h200b, t4]
    assert [g["index"] for g in mig.select_gpus(states, ["all"])[0]] == [0, 1]
    assert [g["index"] for g in mig.select_gpus(states, ["all"])[1]] == [2]
    assert [g["index"] for g in mig.select_gpus(states, ["0x233510de"])[0]] == [1]
    assert [g["index"] for g in mig.select_gpus(states, [h100["uuid"].upper()])[0]] == [0]
    assert [g["index"] for g in mig.select_gpus(states, ["1", "0"])[0]] == [0, 1]
    with pytest.raises(mig.MigLayoutError, match=r"gpus\[0\]: GPU 2 .* does not support MIG"):
        mig.select_gpus(states, ["2"])
    with pytest.raises(mig.MigLayoutError, match=r"gpus\[1\]: no GPU matches '7'"):
        mig.select_gpus(states, ["0", "7"])
    with pytest.raises(mig.MigLayoutError, match=r"gpus\[0\]: 'zero' is not 'all'"):
        mig.select_gpus(states, ["zero"])


def test_every_feasible_h100_layout_is_planned(h100, h100_oracle):
    """Against the brute-force oracle: every count combination that fits is planned, validly."""
    assert len(h100_oracle) > 50
    for key in h100_oracle:
        plan = mig.plan_gpu(h100, dict(key))
        assert mig.validate_plan(plan, h100) == [], key
        assert mig.layout_counts(plan["target"]) == dict(key)


def _current_strategy(gpu):
    configs = all_configurations(gpu)
    return st.sampled_from(configs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_plans_respect_rules_counts_and_keep_the_most(h100, h100_oracle, data):
    profiles = h100["profiles"]
    layout = dict((name, data.draw(st.integers(0, min(p["max_count"], 4)), label=name))
                  for name, p in profiles.items() if data.draw(st.booleans(), label="use " + name))
    current = data.draw(st.sampled_from(sorted(set(c for cs in h100_oracle.values() for c in map(tuple, map(sorted, cs))))),
                        label="current")
    gpu = enabled(h100, current)
    wanted = dict((n, c) for n, c in layout.items() if c)
    key = tuple(sorted(wanted.items()))
    if key not in h100_oracle:
        with pytest.raises(mig.MigLayoutError):
            mig.plan_gpu(gpu, layout)
        return
    plan = mig.plan_gpu(gpu, layout)
    assert mig.validate_plan(plan, gpu) == []
    assert mig.layout_counts(plan["target"]) == wanted
    # minimal change: as many current instances kept as the best possible configuration allows
    best = max(len(cfg & set(current)) for cfg in h100_oracle[key])
    kept = [t for t in plan["target"] if t["keep"]]
    assert len(kept) == best
    destroyed = [a for a in plan["actions"] if a["action"] == "destroy_gi"]
    created = [a for a in plan["actions"] if a["action"] == "create_gi"]
    assert len(destroyed) == len(current) - best
    assert len(created) == sum(wanted.values()) - best
    # replaying the plan on the state reaches the target and a new plan is empty
    survivors = [(gi["profile"], gi["start"]) for gi in gpu["gpu_instances"]
                 if gi["gi_id"] not in set(a["gi_id"] for a in destroyed)]
    after = enabled(h100, survivors + [(a["profile"], a["start"]) for a in created])
    assert mig.plan_gpu(after, layout)["actions"] == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_pinned_layouts(h100, data):
    profiles = h100["profiles"]
    items = data.draw(st.lists(st.sampled_from(sorted(profiles)), min_size=1, max_size=5), label="profiles")
    layout = [{"profile": n, "placement": data.draw(st.sampled_from(profiles[n]["starts"]), label=n)} for n in items]
    try:
        plan = mig.plan_gpu(h100, layout)
    except mig.MigLayoutError as err:
        # refused only when the pinned instances really overlap or break a budget
        masks = [((1 << profiles[i["profile"]]["size"]) - 1) << i["placement"] for i in layout]
        overlap = any(masks[a] & masks[b] for a in range(len(masks)) for b in range(a + 1, len(masks)))
        counts = _counts(items)
        over = any(c > profiles[n]["max_count"] for n, c in counts.items()) or \
            sum(profiles[n]["compute_slices"] for n in items) > 7
        assert overlap or over, str(err)
        return
    assert mig.validate_plan(plan, h100) == []
    assert sorted((t["profile"], t["start"]) for t in plan["target"]) == sorted(
        (i["profile"], i["placement"]) for i in layout)


def test_predicted_map_and_picture(h100):
    gpu = enabled(h100, [("3g.40gb", 4)])
    plan = mig.plan_gpu(gpu, {"3g.40gb": 1, "1g.10gb+me": 1})
    entry = mig.predicted_map(gpu, plan)
    assert entry["layout"] == {"3g.40gb": 1, "1g.10gb+me": 1}
    kept = [i for i in entry["instances"] if i["gi_id"] == 100][0]
    assert kept["mig_uuids"] == ["MIG-0"]
    picture = mig.render_picture(entry)
    assert picture.splitlines()[2].startswith("      |1g.10gb+me|free      |free      |free      |3g.40gb")
    assert "GI (new)" in picture
