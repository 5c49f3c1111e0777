# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to the host roles (hardening, audit_forwarding, kubernetes_node) changes nothing on a real host.

Real: two podman containers of the lab's Debian 12 image (``make images``), reached through the
containers.podman connection the way Molecule reaches its hosts. Each bad case runs the **whole role**
(``include_role``) with one wrong setting, once in check mode and once for real, in one ansible-playbook run
per mode (block/rescue per case: tests/case_playbook.py). Each case must be refused, the message must name the
variable, and the container's file system (every path, mode, owner, size and mtime outside /proc, /sys, /dev, /run, /tmp and
Ansible's own temporary folder) must be the same after the run as before it. A planted TLS key and join
token appear in none of the -vvv --diff output, the log file, the audit_trail records or the recorded
messages. The good settings of each role pass its validation tasks (so the checks do not simply refuse
everything); they are not applied.
"""
import base64
import os
import secrets
import string

import pytest

from tests.case_playbook import MODES, CasePlaybook, assert_ran, assert_refused
from tests.lab_podman import podman, require_image

IMAGE = os.environ.get("SOVEREIGN_LAB_IMAGE", "localhost/sovereign-debian12:latest")
PLANTED_KEY = "-----BEGIN PRIVATE KEY-----\nplanted-" + secrets.token_hex(8) + "\n-----END PRIVATE KEY-----\n"
_ALNUM = string.ascii_lowercase + string.digits
PLANTED_TOKEN = "".join(secrets.choice(_ALNUM) for _index in range(6)) + "." + "".join(secrets.choice(_ALNUM) for _index in range(16))
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n"
JOIN = {"endpoint": "cp.site.internal:6443", "token": PLANTED_TOKEN, "ca_cert_hashes": ["sha256:" + "0" * 64],
        "ca_cert_data": base64.b64encode(CA_PEM.encode()).decode(), "anonymous_auth": False}

GOOD = {
    "hardening": ("plan.yml", {
        "hardening_chrony_servers": ["ntp1.site.internal", "10.0.0.5"],
        "hardening_sshd_port": 22,
        "hardening_nftables_allowed_tcp_ports": [443, 6443],
        "hardening_nftables_allowed_udp_ports": [4789],
        "hardening_nftables_allowed_sources": ["10.0.0.0/8", "fd00::/8"],
        "hardening_nftables_trusted_interfaces": ["br-lab"],
        "hardening_umask": "077",
        "hardening_session_timeout": 600,
        "hardening_sysctl_overrides": {"net.ipv4.tcp_syncookies": 1},
        "hardening_sshd_extra_settings": {"LoginGraceTime": 30},
        "hardening_sshd_allow_groups": ["ssh-users"],
        "hardening_modules_blacklist": ["cramfs", "udf"],
        "hardening_mounts_options_tmp": ["nodev", "nosuid", "noexec"],
        "hardening_sudo_log_file": "/var/log/sudo.log",
        "hardening_apt_mirror": "",
        "hardening_root_mail_alias": "secops@example.eu",
        "hardening_pam_pwquality": {"minlen": 15, "minclass": 4},
        "hardening_banner_text": "Authorised access only.\n",
    }),
    "audit_forwarding": ("validate.yml", {
        "audit_forwarding_collectors": ["lab-log1"],
        "audit_forwarding_port": 6514,
        "audit_forwarding_protocol": "relp",
        "audit_forwarding_tls_priority": "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
        "audit_forwarding_permitted_peers": ["*.site.internal"],
        "audit_forwarding_sources": [{"name": "auditd", "paths": ["/var/log/audit/audit.log"]},
                                     {"name": "ansible", "syslog_ident": "sovereign-audit-trail", "syslog_facility": "local5"}],
        "audit_forwarding_retention_days": 180,
        "audit_forwarding_store_dir": "/var/log/sovereign",
        "audit_forwarding_cert_valid_days": 825,
        "audit_forwarding_queue_max_disk_space": "2g",
        "audit_forwarding_pki_mode": "generate",
        "audit_forwarding_tls_key": "",
    }),
    "kubernetes_node": ("validate.yml", {
        "kubernetes_version": "1.36.3",
        "kubernetes_node_cgroup_driver": "systemd",
        "kubernetes_node_registry_mirrors": [{"registry": "registry.k8s.io", "mirrors": [{"url": "https://registry.site.internal"}]}],
        "kubernetes_node_kubelet_extra_config": {},
        "kubernetes_node_join_data": JOIN,
        "kubernetes_node_sysctls": {"net.ipv4.ip_forward": "1"},
        "kubernetes_node_cluster_dns": ["10.96.0.10"],
        "kubernetes_node_taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
        "kubernetes_node_kubelet_max_pods": 110,
        "kubernetes_node_bin_dir": "/usr/local/bin",
        "kubernetes_node_name": "gpu-node-1",
    }),
}

# (role, bad settings, the variable the message must name)
CASES = [
    ("hardening", {"hardening_sshd_port": 70000}, "hardening_sshd_port"),
    ("hardening", {"hardening_sshd_port": 0}, "hardening_sshd_port"),
    ("hardening", {"hardening_nftables_allowed_tcp_ports": [443, 0]}, "hardening_nftables_allowed_tcp_ports[1]"),
    ("hardening", {"hardening_nftables_allowed_udp_ports": [65536]}, "hardening_nftables_allowed_udp_ports[0]"),
    ("hardening", {"hardening_nftables_allowed_sources": ["10.0.0.1 accept; tcp dport 1-65535"]},
     "hardening_nftables_allowed_sources[0]"),
    ("hardening", {"hardening_nftables_allowed_sources": ["10.0.0.0/33"]}, "hardening_nftables_allowed_sources[0]"),
    ("hardening", {"hardening_nftables_allowed_sources": ["10.0.0.0/8", "0.0.0.0/0"]}, "hardening_nftables_allow_all_sources"),
    ("hardening", {"hardening_nftables_allowed_sources": ["::/0"]}, "hardening_nftables_allow_all_sources"),
    ("hardening", {"hardening_nftables_trusted_interfaces": ["*"]}, "hardening_nftables_trust_all_interfaces"),
    ("hardening", {"hardening_nftables_trusted_interfaces": ['eth0" accept; #']}, "hardening_nftables_trusted_interfaces[0]"),
    ("hardening", {"hardening_chrony_servers": []}, "hardening_chrony_servers"),
    ("hardening", {"hardening_chrony_servers": ["ntp1.site.internal", ""]}, "hardening_chrony_servers[1]"),
    ("hardening", {"hardening_chrony_servers": ["ntp1.site.internal\nserver ntp.evil.example"]}, "hardening_chrony_servers[0]"),
    ("hardening", {"hardening_umask": "089"}, "hardening_umask"),
    ("hardening", {"hardening_umask": "u=rwx"}, "hardening_umask"),
    ("hardening", {"hardening_session_timeout": -1}, "hardening_session_timeout"),
    ("hardening", {"hardening_sysctl_overrides": {"net ipv4 ip_forward": 1}}, "hardening_sysctl_overrides"),
    ("hardening", {"hardening_sysctl_overrides": {"net.ipv4.tcp_syncookies": "1\nkernel.modules_disabled = 0"}},
     'hardening_sysctl_overrides["net.ipv4.tcp_syncookies"]'),
    ("hardening", {"hardening_sshd_extra_settings": {"LoginGraceTime": "30\nPermitRootLogin yes"}},
     'hardening_sshd_extra_settings["LoginGraceTime"]'),
    ("hardening", {"hardening_sshd_extra_settings": {"PermitRootLogin": "yes"}}, 'hardening_sshd_extra_settings["PermitRootLogin"]'),
    ("hardening", {"hardening_sshd_allow_groups": ["ssh users"]}, "hardening_sshd_allow_groups[0]"),
    ("hardening", {"hardening_modules_blacklist": ["cramfs; rm -rf /"]}, "hardening_modules_blacklist[0]"),
    ("hardening", {"hardening_mounts_options_tmp": ["nodev,exec"]}, "hardening_mounts_options_tmp[0]"),
    ("hardening", {"hardening_sudo_log_file": "/var/log/../../etc/shadow"}, "hardening_sudo_log_file"),
    ("hardening", {"hardening_apt_mirror": "ftp://mirror.site.internal/debian"}, "hardening_apt_mirror"),
    ("hardening", {"hardening_root_mail_alias": "secops@example.eu, attacker@example.com"}, "hardening_root_mail_alias"),
    ("hardening", {"hardening_pam_pwquality": {"minlen": "fifteen"}}, 'hardening_pam_pwquality[minlen]'),
    ("hardening", {"hardening_banner_text": "\x1b[2JAuthorised"}, "hardening_banner_text"),
    ("audit_forwarding", {"audit_forwarding_port": 0}, "audit_forwarding_port"),
    ("audit_forwarding", {"audit_forwarding_port": 70000}, "audit_forwarding_port"),
    ("audit_forwarding", {"audit_forwarding_protocol": "udp"}, "audit_forwarding_protocol"),
    ("audit_forwarding", {"audit_forwarding_tls_priority": 'NORMAL"\n$IncludeConfig /tmp/x'}, "audit_forwarding_tls_priority"),
    ("audit_forwarding", {"audit_forwarding_permitted_peers": ["*"]}, "audit_forwarding_permitted_peers[0]"),
    ("audit_forwarding", {"audit_forwarding_sources": [{"name": "auditd", "paths": ["/var/log/../../etc/shadow"]}]},
     "audit_forwarding_sources[0].paths[0]"),
    ("audit_forwarding", {"audit_forwarding_sources": [{"name": "auditd", "paths": ['/var/log/a" file']}]},
     "audit_forwarding_sources[0].paths[0]"),
    ("audit_forwarding", {"audit_forwarding_sources": [{"name": "Bad Name", "paths": ["/var/log/x.log"]}]},
     "audit_forwarding_sources[0].name"),
    ("audit_forwarding", {"audit_forwarding_sources": [{"name": "a", "syslog_ident": "x", "syslog_facility": "local9"}]},
     "audit_forwarding_sources[0].syslog_facility"),
    ("audit_forwarding", {"audit_forwarding_retention_days": 0}, "audit_forwarding_retention_days"),
    ("audit_forwarding", {"audit_forwarding_cert_valid_days": 5000}, "audit_forwarding_cert_valid_days"),
    ("audit_forwarding", {"audit_forwarding_store_dir": "var/log/sovereign"}, "audit_forwarding_store_dir"),
    ("audit_forwarding", {"audit_forwarding_queue_max_disk_space": "lots"}, "audit_forwarding_queue_max_disk_space"),
    ("audit_forwarding", {"audit_forwarding_collectors": []}, "audit_forwarding_collectors"),
    ("audit_forwarding", {"audit_forwarding_pki_mode": "supplied", "audit_forwarding_tls_key": PLANTED_KEY},
     "audit_forwarding_tls_ca_cert"),
    ("kubernetes_node", {"kubernetes_version": "v1.36.3"}, "kubernetes_version"),
    ("kubernetes_node", {"kubernetes_node_cgroup_driver": "cgroupv2"}, "kubernetes_node_cgroup_driver"),
    ("kubernetes_node", {"kubernetes_node_registry_mirrors": [{"registry": "registry.k8s.io", "mirrors": [{"url": "ftp://m"}]}]},
     "kubernetes_node_registry_mirrors[0].mirrors"),
    ("kubernetes_node", {"kubernetes_node_kubelet_extra_config": {"readOnlyPort": 10255}}, "kubernetes_node_kubelet_extra_config"),
    ("kubernetes_node", {"kubernetes_node_sysctls": {"net.ipv4.ip_forward": "1\nkernel.modules_disabled=0"}},
     'kubernetes_node_sysctls["net.ipv4.ip_forward"]'),
    ("kubernetes_node", {"kubernetes_node_cluster_dns": ["10.96.0.0/12"]}, "kubernetes_node_cluster_dns[0]"),
    ("kubernetes_node", {"kubernetes_node_taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedul"}]},
     "kubernetes_node_taints[0].effect"),
    ("kubernetes_node", {"kubernetes_node_kubelet_max_pods": 0}, "kubernetes_node_kubelet_max_pods"),
    ("kubernetes_node", {"kubernetes_node_bin_dir": "/usr/local/../../tmp"}, "kubernetes_node_bin_dir"),
    ("kubernetes_node", {"kubernetes_node_name": "GPU_Node 1"}, "kubernetes_node_name"),
]

ROLE_BODY = """
- name: The role (validation only for a good case)
  ansible.builtin.include_role:
    name: "sovereign.cluster.{{ case_role }}"
    tasks_from: "{{ case_tasks_from | default(omit, true) }}"
"""
SNAPSHOT = ("find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp "
            "-o -path /root/.ansible \\) -prune -o -printf '%p %m %u %g %s %T@\\n' | LC_ALL=C sort")


def _all_cases():
    """Bad cases (whole role), then one good case per role (its validation tasks only)."""
    keys = {role: set(GOOD[role][1]) for role in GOOD}
    for role, bad, _field in CASES:
        keys[role] |= set(bad)
    cases = []
    for role, bad, field in CASES:
        settings = {key: GOOD[role][1].get(key) for key in keys[role]}
        settings.update(bad)
        cases.append((role, "", settings, field))
    for role, (tasks_from, good) in GOOD.items():
        cases.append((role, tasks_from, {key: good.get(key) for key in keys[role]} | good, None))
    return cases


@pytest.fixture(scope="module")
def containers():
    """Two throw-away containers (the cases are spread over both: two forks on two cores)."""
    require_image(IMAGE)
    names = ["sovereign-badinput-%s-%d" % (secrets.token_hex(3), number) for number in (1, 2)]
    try:
        for name in names:
            podman("run", "-d", "--name", name, "--network", "none", IMAGE, "sleep", "infinity")
            # What any first contact does, before the first snapshot: Ansible's own folder, apt's package cache.
            podman("exec", name, "sh", "-c", "mkdir -p -m 0700 /root/.ansible/tmp && apt-cache stats >/dev/null")
        yield names
    finally:
        for name in names:
            podman("rm", "-f", "-t", "0", name, check=False)


def _snapshot(containers):
    return [name + ":" + line for name in containers
            for line in podman("exec", name, "sh", "-c", SNAPSHOT).stdout.splitlines()]


@pytest.fixture(scope="module")
def case_playbook(containers, tmp_path_factory):
    """Every case on the two containers (spread over both), with -vvv, the log file and the audit_trail records."""
    cases = [("role", dict(settings, case_role=role, case_tasks_from=tasks_from))
             for role, tasks_from, settings, _field in _all_cases()]
    inventory = {"all": {"children": {"targets": {"hosts": {
        "target%d" % number: {"ansible_connection": "containers.podman.podman", "ansible_host": name,
                              "ansible_python_interpreter": "/usr/bin/python3"}
        for number, name in enumerate(containers, 1)}}}}}
    return CasePlaybook(tmp_path_factory.mktemp("bad-input"), cases, {"role": ROLE_BODY}, inventory=inventory,
                        hosts="targets", gather_facts=True, args=["-vvv"], record_output=True)


@pytest.fixture(scope="module", params=MODES)
def outcome(request, containers, case_playbook):
    before = _snapshot(containers)
    played = case_playbook.run(request.param)
    return {"run": played, "before": before, "after": _snapshot(containers), "results": played.results}


def test_the_run_completed(outcome):
    assert_ran(outcome["run"])


@pytest.mark.parametrize("index", range(len(CASES)), ids=["%s-%s" % (case[0], case[2]) for case in CASES])
def test_bad_input_is_refused_naming_the_field(outcome, index):
    assert_refused(outcome["results"][index], CASES[index][2], include_items=True)


def test_good_settings_pass_validation(outcome):
    assert [None if result is None else result.refused for result in outcome["results"][len(CASES):]] == [False] * len(GOOD)


def test_nothing_changed_on_the_host(outcome):
    before, after = set(outcome["before"]), set(outcome["after"])
    assert (sorted(before - after)[:20], sorted(after - before)[:20]) == ([], [])


def test_no_task_reported_a_change(outcome):
    recap = [line for line in outcome["run"].stdout.splitlines() if line.startswith("target")]
    assert len(recap) == 2 and all(" changed=0 " in line for line in recap), recap


def test_refusals_come_from_the_first_checks(outcome):
    """Every bad case stops at a validation task (nothing in between could have changed anything)."""
    names = sorted({result.task for result in outcome["results"][:len(CASES)] if result})
    assert [name for name in names if not name.startswith(("Check", "Validating arguments against arg spec"))] == [], names


@pytest.mark.parametrize("secret", [PLANTED_KEY.split("\n")[1], PLANTED_TOKEN], ids=["tls_key", "join_token"])
def test_the_planted_secrets_are_nowhere(outcome, secret):
    run = outcome["run"]
    assert (run.trail != "", [where for where, text in (
        ("stdout", run.stdout), ("stderr", run.stderr), ("log", run.log), ("audit trail", run.trail),
        ("results", "\n".join(r.task + "\n" + r.text for r in outcome["results"] if r))) if secret in text]) == (True, [])
