"""The parsing half of benchmarks/bench_hardening.py: OpenSCAP results, ANSSI references, Ansible recaps."""
import importlib.util
import io
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_hardening", REPO / "benchmarks" / "bench_hardening.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_hardening"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_hardening", None)


RULE = "xccdf_org.ssgproject.content_rule_"

# Shaped like `oscap xccdf eval --results` output of ComplianceAsCode 0.1.76 (XCCDF 1.2), trimmed.
XCCDF_12 = f"""<?xml version="1.0" encoding="UTF-8"?>
<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2" id="xccdf_org.ssgproject.content_benchmark_DEBIAN-12">
  <Rule id="{RULE}sysctl_net_ipv4_ip_forward" selected="false"><title>Disable IP forwarding</title></Rule>
  <TestResult id="xccdf_org.open-scap_testresult_xccdf_org.ssgproject.content_profile_anssi_bp28_intermediary">
    <profile idref="xccdf_org.ssgproject.content_profile_anssi_bp28_intermediary"/>
    <rule-result idref="{RULE}sysctl_net_ipv4_ip_forward" role="full" time="2026-11-22T23:10:00" severity="medium">
      <result>fail</result>
      <ident system="https://ncp.nist.gov/cce">CCE-81024-3</ident>
      <check system="http://oval.mitre.org/XMLSchema/oval-definitions-5"><check-content-ref name="oval:x:def:1"/></check>
    </rule-result>
    <rule-result idref="{RULE}sshd_disable_empty_passwords" role="full" severity="high"><result>pass</result></rule-result>
    <rule-result idref="{RULE}sshd_set_idle_timeout" role="full" severity="medium"><result>pass</result></rule-result>
    <rule-result idref="{RULE}grub2_password" role="full" severity="high"><result>notapplicable</result></rule-result>
    <rule-result idref="{RULE}selinux_state" role="full" severity="high"><result>notselected</result></rule-result>
    <rule-result idref="{RULE}accounts_passwords_pam_faillock_deny" role="full"><result>notchecked</result></rule-result>
    <score system="urn:xccdf:scoring:default" maximum="100.000000">66.6</score>
  </TestResult>
</Benchmark>
"""

# An ARF report wraps the TestResult deep inside; a second TestResult (another report) must not be counted.
ARF = f"""<?xml version="1.0" encoding="UTF-8"?>
<arf:asset-report-collection xmlns:arf="http://scap.nist.gov/schema/asset-reporting-format/1.1"
    xmlns:x="http://checklists.nist.gov/xccdf/1.2">
  <arf:reports>
    <arf:report id="xccdf1"><arf:content>
      <x:TestResult id="t1">
        <x:rule-result idref="{RULE}a"><x:result>pass</x:result></x:rule-result>
        <x:rule-result idref="{RULE}b"><x:result>error</x:result></x:rule-result>
      </x:TestResult>
    </arf:content></arf:report>
    <arf:report id="xccdf2"><arf:content>
      <x:TestResult id="t2">
        <x:rule-result idref="{RULE}c"><x:result>fail</x:result></x:rule-result>
      </x:TestResult>
    </arf:content></arf:report>
  </arf:reports>
</arf:asset-report-collection>
"""

DATASTREAM = f"""<?xml version="1.0" encoding="UTF-8"?>
<ds:data-stream-collection xmlns:ds="http://scap.nist.gov/schema/scap/source/1.2"
    xmlns:xccdf-1.2="http://checklists.nist.gov/xccdf/1.2">
  <ds:component id="scap_org.open-scap_comp_ssg-debian12-xccdf.xml">
    <xccdf-1.2:Benchmark id="xccdf_org.ssgproject.content_benchmark_DEBIAN-12">
      <xccdf-1.2:Group id="xccdf_org.ssgproject.content_group_network">
        <xccdf-1.2:Rule id="{RULE}sysctl_net_ipv4_ip_forward" selected="false">
          <xccdf-1.2:reference href="https://www.cisecurity.org/benchmark/debian_linux/">3.1.1</xccdf-1.2:reference>
          <xccdf-1.2:reference href="https://cyber.gouv.fr/sites/default/files/document/linux_configuration-en-v2.pdf">R12</xccdf-1.2:reference>
        </xccdf-1.2:Rule>
        <xccdf-1.2:Rule id="{RULE}file_permissions_etc_shadow" selected="false">
          <xccdf-1.2:reference href="https://www.ssi.gouv.fr/uploads/2016/01/linux_configuration-en-v1.2.pdf">R50</xccdf-1.2:reference>
          <xccdf-1.2:reference href="https://cyber.gouv.fr/sites/default/files/document/linux_configuration-en-v2.pdf">R9</xccdf-1.2:reference>
        </xccdf-1.2:Rule>
        <xccdf-1.2:Rule id="{RULE}package_telnet_removed" selected="false">
          <xccdf-1.2:reference href="https://nvd.nist.gov/800-53">CM-7(a)</xccdf-1.2:reference>
        </xccdf-1.2:Rule>
      </xccdf-1.2:Group>
    </xccdf-1.2:Benchmark>
  </ds:component>
</ds:data-stream-collection>
"""

RECAP_OUTPUT = """
TASK [sovereign.cluster.hardening : Record the deviations] *********************
ok: [bench-hardening]

PLAY RECAP *********************************************************************
bench-hardening            : ok=212  changed=87   unreachable=0    failed=0    skipped=31   rescued=0    ignored=1
localhost                  : ok=2    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
"""


def test_xccdf_results_are_counted_per_kind(bench):
    results = bench.parse_rule_results(io.StringIO(XCCDF_12))
    assert results[RULE + "sysctl_net_ipv4_ip_forward"] == "fail"
    counts = bench.count_results(results)
    assert (counts["pass"], counts["fail"], counts["notapplicable"], counts["notchecked"]) == (2, 1, 1, 1)
    # Rules outside the profile are counted apart and not in the profile's total.
    assert counts["notselected"] == 1
    assert counts["total"] == 5


def test_arf_uses_only_the_first_test_result(bench):
    results = bench.parse_rule_results(io.StringIO(ARF))
    assert results == {RULE + "a": "pass", RULE + "b": "error"}


def test_a_file_without_test_result_is_refused(bench):
    with pytest.raises(ValueError, match="no XCCDF TestResult"):
        bench.parse_rule_results(io.StringIO(DATASTREAM))


def test_anssi_references_come_only_from_the_anssi_guide(bench):
    refs = bench.parse_anssi_references(io.StringIO(DATASTREAM))
    assert refs == {RULE + "sysctl_net_ipv4_ip_forward": ["R12"],
                    RULE + "file_permissions_etc_shadow": ["R9", "R50"]}


def test_recap_counters_per_host(bench):
    recap = bench.parse_recap(RECAP_OUTPUT)
    assert recap["bench-hardening"]["changed"] == 87
    assert recap["bench-hardening"]["ok"] == 212
    assert recap["localhost"]["changed"] == 0


def test_failing_rules_are_matched_to_recorded_deviations(bench):
    results = bench.parse_rule_results(io.StringIO(XCCDF_12))
    refs = bench.parse_anssi_references(io.StringIO(DATASTREAM))
    deviations = [{"rule": "R12", "setting": "net.ipv4.ip_forward", "expected": "0", "applied": "1"},
                  {"rule": "R12", "setting": "net.ipv4.conf.all.rp_filter", "expected": "1", "applied": "2"},
                  {"rule": "R9", "setting": "kernel.kptr_restrict"},
                  {"rule": "R10", "setting": "kernel.modules_disabled"}]
    results[RULE + "package_telnet_removed"] = "fail"
    results[RULE + "file_permissions_etc_shadow"] = "fail"
    explained, unexplained = bench.match_deviations(results, refs, deviations)
    assert explained == [
        # Only the ANSSI id is shared: a weaker match, said so.
        {"rule": RULE + "file_permissions_etc_shadow", "anssi": ["R9", "R50"],
         "deviations": ["R9 kernel.kptr_restrict"], "match": "anssi_rule"},
        {"rule": RULE + "sysctl_net_ipv4_ip_forward", "anssi": ["R12"],
         "deviations": ["R12 net.ipv4.ip_forward"], "match": "setting"},
    ]
    assert unexplained == [{"rule": RULE + "package_telnet_removed", "anssi": [], "deviations": [], "match": None}]


def test_a_setting_names_a_rule_by_its_last_word(bench):
    refs = {RULE + "sudo_add_noexec": ["R39"], RULE + "sudo_add_requiretty": ["R39"], RULE + "sshd_disable_root_login": ["R33"]}
    results = {rule: "fail" for rule in refs}
    deviations = [{"rule": "R39", "setting": "sudo Defaults noexec"}, {"rule": "R39", "setting": "sudo Defaults requiretty"},
                  {"rule": "R33", "setting": "sshd PermitRootLogin"}]
    explained, unexplained = bench.match_deviations(results, refs, deviations)
    assert not unexplained
    got = {e["rule"][len(RULE):]: (e["match"], e["deviations"]) for e in explained}
    assert got == {"sudo_add_noexec": ("setting", ["R39 sudo Defaults noexec"]),
                   "sudo_add_requiretty": ("setting", ["R39 sudo Defaults requiretty"]),
                   "sshd_disable_root_login": ("anssi_rule", ["R33 sshd PermitRootLogin"])}


def test_private_apt_configuration_never_names_the_machine_sources(bench, tmp_path):
    opts = bench.apt_private_options(tmp_path)
    values = dict(o.split("=", 1) for o in opts if "=" in o)
    for key in ("Dir::Etc::SourceList", "Dir::Etc::SourceParts", "Dir::State::Lists", "Dir::Cache"):
        assert values[key].startswith(str(tmp_path)), key
    assert not any("/etc/apt" in o or "/var/lib/apt" in o for o in opts)


def test_table_shows_counts_timings_and_ssh(bench):
    record = {"variant": "role", "node_profile": "k8s", "ssh_after": True, "ip_forward": "1",
              "first_run": {"seconds": 901.4, "changed": 87}, "second_run": {"seconds": 402.0, "changed": 0},
              "scans": {"intermediary": {"counts": {"pass": 150, "fail": 30, "notapplicable": 39}}}}
    lines = bench.table([record, {"variant": "baseline", "node_profile": "none", "ssh_after": False}]).splitlines()
    assert lines[1].split() == ["role", "(k8s)", "150/30/39", "-", "901", "402", "87/0", "yes", "1", "-"]
    assert lines[2].split() == ["baseline", "-", "-", "-", "-", "-", "NO", "-", "-"]
    record["after_reboot"] = {"seconds": 80.0, "ip_forward": "1", "fs.protected_fifos": "2", "kernel.pid_max": "65536",
                              "modules": {"overlay": True, "br_netfilter": False}}
    assert bench.table([record]).splitlines()[1].split()[-5:] == [
        "ip_forward=1", "fifos=2", "pid_max=65536", "br_netfilter=MISSING", "overlay=loaded"]
