# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the hardening role's decision logic (plugins/filter/hardening.py)."""
import json

import pytest

from ansible_collections.sovereign.cluster.plugins.filter.hardening import (
    FilterModule,
    HardeningPlanError,
    hardening_active_rules,
    hardening_node_roles,
    hardening_plan,
    hardening_sysctl_vendor_overrides,
)

ROLE_GROUPS = {"kubernetes": ["k8s_cluster", "control_plane", "workers", "gpu_workers"], "gpu": ["gpu_workers"]}


def sysctl_map(plan):
    return {e["key"]: e for e in plan["sysctl"]}


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"hardening_plan", "hardening_node_roles", "hardening_active_rules",
                                             "hardening_sysctl_vendor_overrides", "hardening_interactive_homes",
                                             "hardening_home_mode_fixes", "hardening_input_errors"}


@pytest.mark.parametrize("groups,expected", [
    (["ungrouped"], []),
    (["control_plane", "k8s_cluster"], ["kubernetes"]),
    (["gpu_workers", "workers", "k8s_cluster"], ["gpu", "kubernetes"]),
    ([], []),
])
def test_node_roles_from_groups(groups, expected):
    assert hardening_node_roles(groups, ROLE_GROUPS) == expected


def test_levels_are_cumulative():
    minimal = hardening_active_rules("minimal")
    intermediary = hardening_active_rules("intermediary")
    enhanced = hardening_active_rules("enhanced")
    high = hardening_active_rules("high")
    assert minimal == ["R31", "R54", "R61", "R68"]
    assert set(minimal) < set(intermediary) < set(enhanced) < set(high)
    assert "R10" not in intermediary and "R10" in enhanced
    assert "R76" in high and "R76" not in enhanced
    # rule order, not string order
    assert intermediary.index("R9") < intermediary.index("R12")


def test_unknown_level_names_field_and_choices():
    with pytest.raises(HardeningPlanError, match=r"hardening_anssi_level 'strict'.*minimal, intermediary, enhanced, high"):
        hardening_active_rules("strict")


def test_unknown_skip_rule_is_refused():
    with pytest.raises(HardeningPlanError, match=r"hardening_skip_rules names R999"):
        hardening_plan({"skip_rules": ["R999"]})


def test_plain_host_intermediary_values():
    plan = hardening_plan({"level": "intermediary", "sudo_noexec": True, "sudo_requiretty": True})
    sysctl = sysctl_map(plan)
    assert sysctl["net.ipv4.ip_forward"]["value"] == "0"
    assert sysctl["kernel.kptr_restrict"]["value"] == "2"
    assert sysctl["kernel.yama.ptrace_scope"]["value"] == "1"
    assert sysctl["fs.suid_dumpable"]["value"] == "0"
    assert sysctl["net.ipv6.conf.all.accept_ra_defrtr"]["value"] == "0"
    assert "kernel.modules_disabled" not in sysctl  # R10 is enhanced
    assert plan["deviations"] == []
    assert plan["modules_disabled"] is False
    assert plan["auditd_immutable"] is False
    # ip_forward first (writing it resets per-interface settings), then by key
    keys = [e["key"] for e in plan["sysctl"]]
    assert keys[0] == "net.ipv4.ip_forward" and keys[1:] == sorted(k for k in sysctl if k != "net.ipv4.ip_forward")


def test_container_applies_only_per_netns_keys_live():
    plan = hardening_plan({"level": "high", "in_container": True})
    live = {e["key"] for e in plan["sysctl"] if e["runtime"]}
    assert live and all(k.startswith(("net.ipv4.", "net.ipv6.")) for k in live)
    # global keys are written to the file but never applied inside a container
    written = sysctl_map(plan)
    assert written["kernel.modules_disabled"]["runtime"] is False
    assert written["net.core.bpf_jit_harden"]["runtime"] is False
    assert written["kernel.sysrq"]["runtime"] is False


def test_vm_never_applies_modules_disabled_live_but_applies_kernel_keys():
    plan = hardening_plan({"level": "enhanced", "in_container": False})
    written = sysctl_map(plan)
    assert written["kernel.modules_disabled"]["value"] == "1"
    assert written["kernel.modules_disabled"]["runtime"] is False
    assert written["kernel.dmesg_restrict"]["runtime"] is True
    assert plan["modules_disabled"] is True
    assert plan["auditd_immutable"] is True


def test_kubernetes_node_keeps_forwarding_and_records_it():
    plan = hardening_plan({"level": "intermediary", "node_roles": ["kubernetes"],
                           "modules_blacklist": ["overlay", "br_netfilter", "dccp"]})
    sysctl = sysctl_map(plan)
    assert sysctl["net.ipv4.ip_forward"] == {"key": "net.ipv4.ip_forward", "value": "1", "rule": "R12",
                                             "deviation": True, "runtime": True}
    assert plan["modules_blacklist"] == ["dccp"]
    assert plan["modules_required"] == ["br_netfilter", "overlay"]
    settings = [(d["rule"], d["setting"]) for d in plan["deviations"]]
    assert settings == [("R10", "blacklist br_netfilter"), ("R10", "blacklist overlay"), ("R12", "net.ipv4.ip_forward"),
                        ("R39", "sudo Defaults noexec"), ("R39", "sudo Defaults requiretty")]
    for dev in plan["deviations"]:
        assert dev["reason"] and dev["compensating"]


def test_gpu_kubernetes_node_at_enhanced_does_not_disable_module_loading():
    plan = hardening_plan({"level": "enhanced", "node_roles": ["gpu", "kubernetes"]})
    sysctl = sysctl_map(plan)
    assert sysctl["kernel.modules_disabled"]["value"] == "0"
    assert plan["modules_disabled"] is False
    assert "nvidia_uvm" in plan["modules_required"] and "overlay" in plan["modules_required"]
    r10 = [d for d in plan["deviations"] if d["rule"] == "R10"]
    assert {d["source"] for d in r10} == {"node role gpu", "node role kubernetes"}


def test_unknown_node_role_is_refused():
    with pytest.raises(HardeningPlanError, match="hardening_node_roles contains storage"):
        hardening_plan({"node_roles": ["storage"]})


def test_skipped_rule_needs_a_reason_and_is_recorded():
    with pytest.raises(HardeningPlanError, match=r"R31 without a reason.*hardening_skip_reasons"):
        hardening_plan({"skip_rules": ["R31"]})
    plan = hardening_plan({"skip_rules": ["R31"], "skip_reasons": {"R31": "passwords are managed by the IdP"},
                           "level": "minimal"})
    assert "R31" not in plan["rules"]
    assert plan["deviations"] == [{
        "rule": "R31", "setting": "*", "expected": "applied", "applied": "skipped",
        "reason": "passwords are managed by the IdP", "compensating": "none recorded", "source": "hardening_skip_rules"}]


def test_skipping_a_rule_above_the_level_records_nothing():
    plan = hardening_plan({"level": "intermediary", "skip_rules": ["R76"], "skip_reasons": {"R76": "x"},
                           "sudo_noexec": True, "sudo_requiretty": True})
    assert plan["deviations"] == []


def test_disabled_section_becomes_deviations():
    plan = hardening_plan({"level": "intermediary", "sections": {"sysctl": False}, "sudo_noexec": True, "sudo_requiretty": True})
    assert plan["sysctl"] == []
    rules = [d["rule"] for d in plan["deviations"]]
    assert rules == ["R8", "R9", "R11", "R12", "R13", "R14"]
    assert plan["deviations"][0]["source"] == "hardening_sysctl_enabled"


def test_sysctl_override_is_a_recorded_deviation():
    plan = hardening_plan({"sysctl_overrides": {"kernel.pid_max": 4194304, "vm.swappiness": 10}, "sudo_noexec": True, "sudo_requiretty": True,
                           "skip_reasons": {"kernel.pid_max": "GPU nodes run many processes"}})
    sysctl = sysctl_map(plan)
    assert sysctl["kernel.pid_max"]["value"] == "4194304"
    assert sysctl["vm.swappiness"]["value"] == "10"
    assert [(d["rule"], d["setting"], d["reason"]) for d in plan["deviations"]] == [
        ("R9", "kernel.pid_max", "GPU nodes run many processes")]


def test_disable_ipv6_replaces_the_hardening_keys():
    plan = hardening_plan({"disable_ipv6": True})
    keys = {k for k in sysctl_map(plan) if k.startswith("net.ipv6.")}
    assert keys == {"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"}


def test_root_over_ssh_is_never_locked_out():
    plan = hardening_plan({"permit_root_login": "no", "connection_user": "root", "connection_is_ssh": True})
    assert plan["permit_root_login"] == "prohibit-password"
    assert plan["deviations"][0]["rule"] == "R33"
    # a named admin account (or a non-SSH connection) gets the ANSSI value
    assert hardening_plan({"permit_root_login": "no", "connection_user": "admin",
                           "connection_is_ssh": True})["permit_root_login"] == "no"
    assert hardening_plan({"permit_root_login": "no", "connection_user": "root",
                           "connection_is_ssh": False})["permit_root_login"] == "no"


def test_plan_is_deterministic_and_json_serialisable():
    settings = {"level": "high", "node_roles": ["kubernetes", "gpu"], "modules_blacklist": ["nvidia", "sctp", "overlay"]}
    first = json.dumps(hardening_plan(settings), sort_keys=True)
    settings["node_roles"] = ["gpu", "kubernetes"]
    settings["modules_blacklist"] = ["overlay", "sctp", "nvidia"]
    assert json.dumps(hardening_plan(settings), sort_keys=True) == first


def test_sudo_noexec_and_requiretty_are_deviations_unless_requested():
    plan = hardening_plan({"level": "intermediary"})
    assert [(d["rule"], d["setting"], d["source"]) for d in plan["deviations"]] == [
        ("R39", "sudo Defaults noexec", "hardening_sudo_noexec"),
        ("R39", "sudo Defaults requiretty", "hardening_sudo_requiretty")]
    assert hardening_plan({"level": "minimal"})["deviations"] == []  # R39 is intermediary


# --- vendor sysctl.d files (Debian 12's systemd ships two that contradict ANSSI values)
DEBIAN12_VENDOR = [
    "/usr/lib/sysctl.d/50-pid-max.conf:kernel.pid_max = 4194304",
    "/usr/lib/sysctl.d/99-protect-links.conf:fs.protected_fifos = 1",
    "/usr/lib/sysctl.d/99-protect-links.conf:fs.protected_hardlinks = 1",
    "/usr/lib/sysctl.d/99-protect-links.conf:fs.protected_regular = 2",
    "/usr/lib/sysctl.d/99-protect-links.conf:fs.protected_symlinks = 1",
]
MANAGED = {"kernel.pid_max": "65536", "fs.protected_fifos": "2", "fs.protected_regular": "2",
           "fs.protected_symlinks": "1", "fs.protected_hardlinks": "1", "net.ipv4.ip_local_port_range": "32768 65535"}


def test_debian12_vendor_files_are_overridden_with_the_role_values():
    result = {o["name"]: o for o in hardening_sysctl_vendor_overrides(DEBIAN12_VENDOR, MANAGED)}
    assert set(result) == {"50-pid-max.conf", "99-protect-links.conf"}
    assert result["50-pid-max.conf"]["conflicts"] == ["kernel.pid_max"]
    assert result["50-pid-max.conf"]["content"].splitlines()[1:] == ["kernel.pid_max = 65536"]
    links = result["99-protect-links.conf"]
    assert links["conflicts"] == ["fs.protected_fifos"] and not links["blocked"]
    assert links["source"] == "/usr/lib/sysctl.d/99-protect-links.conf"
    assert links["content"].splitlines()[0].startswith("# sovereign.cluster.hardening override of /usr/lib/sysctl.d/99-protect-links.conf")
    assert links["content"].splitlines()[1:] == ["fs.protected_fifos = 2", "fs.protected_hardlinks = 1",
                                                 "fs.protected_regular = 2", "fs.protected_symlinks = 1"]


def test_vendor_file_in_agreement_or_foreign_keys_only_is_left_alone():
    lines = ["/usr/lib/sysctl.d/10-ok.conf:fs.protected_symlinks=1",
             "/usr/lib/sysctl.d/20-other.conf:net.core.somaxconn = 4096",
             "/usr/lib/sysctl.d/30-ports.conf:net.ipv4.ip_local_port_range = 32768\t65535"]
    assert hardening_sysctl_vendor_overrides(lines, MANAGED) == []


def test_other_lines_slash_keys_and_dash_prefix_are_kept_or_normalised():
    lines = ["/usr/lib/sysctl.d/60-mix.conf:net.core.somaxconn = 4096",
             "/usr/lib/sysctl.d/60-mix.conf:-kernel/pid_max = 99999"]
    (override,) = hardening_sysctl_vendor_overrides(lines, MANAGED)
    assert override["conflicts"] == ["kernel.pid_max"]
    assert override["content"].splitlines()[1:] == ["net.core.somaxconn = 4096", "kernel.pid_max = 65536"]


def test_run_wins_over_usr_lib_and_unknown_folders_are_ignored():
    lines = ["/usr/lib/sysctl.d/50-pid-max.conf:kernel.pid_max = 4194304",
             "/run/sysctl.d/50-pid-max.conf:kernel.pid_max = 65536",
             "/etc/sysctl.d/99-sysctl.conf:kernel.pid_max = 1",
             "/opt/sysctl.d/70-x.conf:kernel.pid_max = 1"]
    assert hardening_sysctl_vendor_overrides(lines, MANAGED) == []


def test_a_name_the_administrator_uses_is_blocked_unless_the_role_wrote_it():
    (blocked,) = hardening_sysctl_vendor_overrides(DEBIAN12_VENDOR[:1], MANAGED, etc_names=["50-pid-max.conf"])
    assert blocked["blocked"] is True
    (ours,) = hardening_sysctl_vendor_overrides(DEBIAN12_VENDOR[:1], MANAGED, etc_names=["50-pid-max.conf"],
                                                etc_ours=["50-pid-max.conf"])
    assert ours["blocked"] is False


# --- host constraints recorded as deviations (partitions, the distribution's sudo rule, root password age)
def test_missing_partitions_are_one_r28_deviation_naming_them():
    plan = hardening_plan({"level": "intermediary", "mount_points": ["/", "/boot", "/var", "/tmp"]})
    (r28,) = [d for d in plan["deviations"] if d["rule"] == "R28"]
    assert r28["setting"] == "separate partitions /home /opt /srv /usr /var/log"
    assert "never repartitions" in r28["reason"] and "nodev,nosuid,noexec" in r28["compensating"]


def test_partitions_all_present_unknown_or_in_a_container_record_nothing():
    full = ["/", "/boot", "/home", "/opt", "/srv", "/usr", "/var", "/var/log"]
    assert not [d for d in hardening_plan({"mount_points": full})["deviations"] if d["rule"] == "R28"]
    assert not [d for d in hardening_plan({})["deviations"] if d["rule"] == "R28"]
    assert not [d for d in hardening_plan({"mount_points": ["/"], "in_container": True})["deviations"] if d["rule"] == "R28"]
    assert not [d for d in hardening_plan({"level": "minimal", "mount_points": ["/"]})["deviations"] if d["rule"] == "R28"]


def test_kept_distribution_sudo_rule_is_r40_and_r43():
    plan = hardening_plan({"level": "intermediary", "sudo_noexec": True, "sudo_requiretty": True,
                           "sudo_distribution_rule_kept": True})
    assert [(d["rule"], d["setting"], d["applied"]) for d in plan["deviations"]] == [
        ("R40", "sudoers %sudo ALL=(ALL:ALL) ALL", "kept"), ("R43", "sudoers %sudo ALL=(ALL:ALL) ALL", "kept")]
    assert hardening_plan({"level": "intermediary", "sudo_distribution_rule_kept": True,
                           "sections": {"sudo": False}})["deviations"][0]["source"] == "hardening_sudo_enabled"


def test_root_password_age_left_alone_is_a_deviation_unless_set():
    (r31,) = hardening_plan({"level": "minimal", "root_password_max_days": None})["deviations"]
    assert (r31["rule"], r31["setting"], r31["source"]) == ("R31", "root password maximum age", "hardening_root_password_max_days")
    assert hardening_plan({"level": "minimal", "root_password_max_days": 90})["deviations"] == []
    assert hardening_plan({"level": "minimal", "root_password_max_days": None, "skip_rules": ["R31"],
                           "skip_reasons": {"R31": "x"}})["deviations"][0]["source"] == "hardening_skip_rules"


def test_root_mail_alias_missing_is_an_r75_deviation_and_bad_targets_are_refused():
    (r75,) = hardening_plan({"level": "intermediary", "root_mail_alias": ""})["deviations"][-1:]
    assert (r75["rule"], r75["setting"], r75["applied"], r75["source"]) == (
        "R75", "/etc/aliases root", "not set", "hardening_root_mail_alias")
    plan = hardening_plan({"level": "intermediary", "root_mail_alias": " secops@example.eu, oncall "})
    assert plan["root_mail_alias"] == "secops@example.eu, oncall"
    assert "R75" not in [d["rule"] for d in plan["deviations"]]
    # R75 is intermediary: nothing written nor recorded at minimal
    assert hardening_plan({"level": "minimal", "root_mail_alias": "a@b.eu"})["root_mail_alias"] == ""
    assert hardening_plan({"level": "minimal", "root_mail_alias": ""})["deviations"] == []
    for bad in ("root: x@y.eu", "a@b.eu\nroot: evil", "# x", 'a@b "c"', "a b@c.eu"):
        with pytest.raises(HardeningPlanError, match="hardening_root_mail_alias"):
            hardening_plan({"level": "intermediary", "root_mail_alias": bad})


def test_root_console_login_is_refused_unless_kept_as_a_deviation():
    plan = hardening_plan({"level": "intermediary"})
    assert plan["root_console_login"] is False
    plan = hardening_plan({"level": "intermediary", "root_console_login": True})
    assert plan["root_console_login"] is True
    (dev,) = [d for d in plan["deviations"] if d["rule"] == "R33"]
    assert (dev["setting"], dev["applied"], dev["source"]) == (
        "root login on local consoles", "allowed", "hardening_root_console_login")
    # R33 not applied (minimal level or section off): the role leaves console logins alone
    assert hardening_plan({"level": "minimal"})["root_console_login"] is True


def test_interactive_homes_are_login_accounts_from_uid_min():
    from ansible_collections.sovereign.cluster.plugins.filter.hardening import hardening_interactive_homes
    passwd = {
        "root": ["x", "0", "0", "root", "/root", "/bin/bash"],
        "daemon": ["x", "1", "1", "daemon", "/usr/sbin", "/usr/sbin/nologin"],
        "sovadmin": ["x", "1000", "1000", "", "/home/sovadmin", "/bin/bash"],
        "svc": ["x", "1001", "1001", "", "/srv/svc", "/bin/false"],
        "ops": ["x", "1002", "1002", "", "/home/ops", "/bin/sh"],
        "shared": ["x", "1003", "1003", "", "/home/ops", "/bin/zsh"],
        "rootless": ["x", "1004", "1004", "", "/", "/bin/bash"],
        "nobody": ["x", "65534", "65534", "nobody", "/nonexistent", "/bin/bash"],
        "broken": ["x"],
    }
    assert hardening_interactive_homes(passwd) == ["/home/ops", "/home/sovadmin"]
    assert hardening_interactive_homes(passwd, 1002) == ["/home/ops"]
    assert hardening_interactive_homes(None) == []


def test_reference_scanner_disagreements_are_recorded_when_asked():
    plan = hardening_plan({"level": "intermediary", "record_scanner_disagreements": True})
    found = [(d["rule"], d["setting"], d["applied"]) for d in plan["deviations"] if d["source"] == "reference scanner check"]
    assert found == [("R12", "net.ipv4.conf.all.arp_filter", "1"),
                     ("R79", "AIDE build database", "database_in=file:/var/lib/aide/aide.db (AIDE 0.17 and later)")]
    # an operator's own arp_filter value is its own deviation, not the scanner's
    plan = hardening_plan({"level": "intermediary", "record_scanner_disagreements": True,
                           "sysctl_overrides": {"net.ipv4.conf.all.arp_filter": "0"}})
    assert [d["source"] for d in plan["deviations"] if d["setting"] == "net.ipv4.conf.all.arp_filter"] == [
        "hardening_sysctl_overrides"]
    # R79 is intermediary: nothing at minimal; nothing when not asked
    assert hardening_plan({"level": "minimal", "record_scanner_disagreements": True})["deviations"] == []
    assert not [d for d in hardening_plan({"level": "intermediary"})["deviations"]
                if d["source"] == "reference scanner check"]


def test_home_mode_fixes_narrow_everything_and_init_files_more():
    from ansible_collections.sovereign.cluster.plugins.filter.hardening import hardening_home_mode_fixes
    lines = ["d 0 /home/u1", "f 1 /home/u1/.bashrc", "d 1 /home/u1/.config", "f 1 /home/u1/data",
             "f 2 /home/u1/sub/.hidden", "f 1 /home/u1/my file", "garbage", ""]
    assert hardening_home_mode_fixes(lines) == [
        {"path": "/home/u1", "mode": "g-w,o-rwx"},
        {"path": "/home/u1/.bashrc", "mode": "g-wx,o-rwx"},
        {"path": "/home/u1/.config", "mode": "g-w,o-rwx"},
        {"path": "/home/u1/data", "mode": "g-w,o-rwx"},
        {"path": "/home/u1/sub/.hidden", "mode": "g-w,o-rwx"},
        {"path": "/home/u1/my file", "mode": "g-w,o-rwx"},
    ]
    assert hardening_home_mode_fixes(None) == []


def _role_defaults():
    import yaml
    from pathlib import Path
    defaults = yaml.safe_load((Path(__file__).resolve().parents[4] / "roles/hardening/defaults/main.yml").read_text())
    return {key: value for key, value in defaults.items() if not (isinstance(value, str) and "{{" in value)}


def test_input_errors_accept_the_defaults_with_ntp_servers():
    from ansible_collections.sovereign.cluster.plugins.filter.hardening import hardening_input_errors
    assert hardening_input_errors(dict(_role_defaults(), hardening_chrony_servers=["ntp1.site.internal"])) == []


def test_input_errors_skip_a_disabled_section():
    from ansible_collections.sovereign.cluster.plugins.filter.hardening import hardening_input_errors
    settings = dict(_role_defaults(), hardening_chrony_enabled=False, hardening_nftables_enabled=False,
                    hardening_nftables_allowed_tcp_ports=[0])
    assert hardening_input_errors(settings) == []


def test_input_errors_accept_the_whole_address_space_only_when_acknowledged():
    from ansible_collections.sovereign.cluster.plugins.filter.hardening import hardening_input_errors
    settings = dict(_role_defaults(), hardening_chrony_servers=["ntp1.site.internal"], hardening_nftables_allowed_sources=["0.0.0.0/0"])
    refused = hardening_input_errors(settings)
    assert (len(refused), "hardening_nftables_allow_all_sources" in refused[0],
            hardening_input_errors(dict(settings, hardening_nftables_allow_all_sources=True))) == (1, True, [])
