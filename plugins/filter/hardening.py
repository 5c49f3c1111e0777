# -*- coding: utf-8 -*-
# Copyright: contributors to sovereign.cluster
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decision logic of the hardening role: which ANSSI-BP-028 rules apply, with which values,
and which of them deviate on Kubernetes and GPU nodes. Pure functions, unit tested.

Filters: hardening_plan, hardening_input_errors, hardening_node_roles, hardening_active_rules.

Their documentation for ansible-doc is in the sidecar files plugins/filter/<filter name>.yml.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sovereign.cluster.plugins.module_utils.input_checks import Checks, truthy

LEVELS = ("minimal", "intermediary", "enhanced", "high")

# ANSSI-BP-028 v2.0 rules this role implements (fully or partly), with their level and section.
RULES = {
    "R8": {"level": "intermediary", "section": "sysctl", "title": "Memory configuration options (vm.mmap_min_addr part)"},
    "R9": {"level": "intermediary", "section": "sysctl", "title": "Kernel configuration options"},
    "R10": {"level": "enhanced", "section": "modules", "title": "Disabling the loading of kernel modules"},
    "R11": {"level": "intermediary", "section": "sysctl", "title": "Yama module sysctl configuration"},
    "R12": {"level": "intermediary", "section": "sysctl", "title": "IPv4 configuration options"},
    "R13": {"level": "intermediary", "section": "sysctl", "title": "Disabling or hardening IPv6"},
    "R14": {"level": "intermediary", "section": "sysctl", "title": "File system configuration options"},
    "R28": {"level": "intermediary", "section": "mounts", "title": "Partitioning type (/tmp, /var/tmp, /dev/shm options)"},
    "R31": {"level": "minimal", "section": "pam", "title": "User password strength"},
    "R32": {"level": "intermediary", "section": "pam", "title": "Timeout on local user sessions"},
    "R33": {"level": "intermediary", "section": "sshd", "title": "Dedicated administration accounts (no direct root login, sudo audited)"},
    "R36": {"level": "enhanced", "section": "pam", "title": "Default UMASK"},
    "R39": {"level": "intermediary", "section": "sudo", "title": "Sudo configuration guidelines"},
    "R40": {"level": "intermediary", "section": "sudo", "title": "Using unprivileged users as target for sudo (recorded deviation)"},
    "R43": {"level": "intermediary", "section": "sudo", "title": "Specifying arguments in sudo specifications (recorded deviation)"},
    "R45": {"level": "enhanced", "section": "apparmor", "title": "AppArmor security profiles"},
    "R50": {"level": "intermediary", "section": "permissions", "title": "Rights to access sensitive files"},
    "R54": {"level": "minimal", "section": "permissions", "title": "Sticky bit and write access rights"},
    "R61": {"level": "minimal", "section": "updates", "title": "Regular updates"},
    "R68": {"level": "minimal", "section": "pam", "title": "Protecting stored passwords"},
    "R71": {"level": "enhanced", "section": "chrony", "title": "Logging system (time synchronisation part)"},
    "R73": {"level": "enhanced", "section": "auditd", "title": "Logging activity by auditd"},
    "R75": {"level": "intermediary", "section": "mail", "title": "Configuring a mail alias for service accounts (root)"},
    "R76": {"level": "high", "section": "aide", "title": "Sealing and integrity of files"},
    "R79": {"level": "intermediary", "section": "aide", "title": "Hardening and monitoring of exposed services (AIDE part)"},
}

# R28: the partitions ANSSI-BP-028 lists for a typical layout (ComplianceAsCode partition_for_*).
SEPARATE_PARTITIONS = ("/boot", "/home", "/opt", "/srv", "/usr", "/var", "/var/log")

# (rule, key, value). Values from ANSSI-BP-028 v2.0 R8, R9, R11, R12, R13, R14.
SYSCTL_RULES = (
    ("R8", "vm.mmap_min_addr", "65536"),
    ("R9", "kernel.dmesg_restrict", "1"),
    ("R9", "kernel.kptr_restrict", "2"),
    ("R9", "kernel.pid_max", "65536"),
    ("R9", "kernel.perf_cpu_time_max_percent", "1"),
    ("R9", "kernel.perf_event_max_sample_rate", "1"),
    ("R9", "kernel.perf_event_paranoid", "2"),
    ("R9", "kernel.randomize_va_space", "2"),
    ("R9", "kernel.sysrq", "0"),
    ("R9", "kernel.unprivileged_bpf_disabled", "1"),
    ("R9", "kernel.panic_on_oops", "1"),
    ("R10", "kernel.modules_disabled", "1"),
    ("R11", "kernel.yama.ptrace_scope", "1"),
    ("R12", "net.core.bpf_jit_harden", "2"),
    ("R12", "net.ipv4.ip_forward", "0"),
    ("R12", "net.ipv4.conf.all.accept_local", "0"),
    ("R12", "net.ipv4.conf.all.accept_redirects", "0"),
    ("R12", "net.ipv4.conf.default.accept_redirects", "0"),
    ("R12", "net.ipv4.conf.all.secure_redirects", "0"),
    ("R12", "net.ipv4.conf.default.secure_redirects", "0"),
    ("R12", "net.ipv4.conf.all.shared_media", "0"),
    ("R12", "net.ipv4.conf.default.shared_media", "0"),
    ("R12", "net.ipv4.conf.all.accept_source_route", "0"),
    ("R12", "net.ipv4.conf.default.accept_source_route", "0"),
    ("R12", "net.ipv4.conf.all.arp_filter", "1"),
    ("R12", "net.ipv4.conf.all.arp_ignore", "2"),
    ("R12", "net.ipv4.conf.all.route_localnet", "0"),
    ("R12", "net.ipv4.conf.all.drop_gratuitous_arp", "1"),
    ("R12", "net.ipv4.conf.all.rp_filter", "1"),
    ("R12", "net.ipv4.conf.default.rp_filter", "1"),
    ("R12", "net.ipv4.conf.all.send_redirects", "0"),
    ("R12", "net.ipv4.conf.default.send_redirects", "0"),
    ("R12", "net.ipv4.icmp_ignore_bogus_error_responses", "1"),
    ("R12", "net.ipv4.ip_local_port_range", "32768 65535"),
    ("R12", "net.ipv4.tcp_rfc1337", "1"),
    ("R12", "net.ipv4.tcp_syncookies", "1"),
    ("R14", "fs.suid_dumpable", "0"),
    ("R14", "fs.protected_fifos", "2"),
    ("R14", "fs.protected_regular", "2"),
    ("R14", "fs.protected_symlinks", "1"),
    ("R14", "fs.protected_hardlinks", "1"),
)

IPV6_HARDEN = (
    "router_solicitations", "accept_ra_rtr_pref", "accept_ra_pinfo", "accept_ra_defrtr", "autoconf",
    "accept_redirects", "accept_source_route",
)
IPV6_DISABLE = ("disable_ipv6",)

# Modules each node role needs loaded; they are never blacklisted there.
NODE_MODULES = {
    "kubernetes": ("br_netfilter", "overlay"),
    "gpu": ("nvidia", "nvidia_modeset", "nvidia_uvm", "nvidia_drm"),
}

# Rules that a node role cannot follow: (rule, setting, expected, applied, reason, compensating).
NODE_DEVIATIONS = {
    "kubernetes": (
        ("R12", "net.ipv4.ip_forward", "0", "1",
         "Kubernetes nodes route pod and service traffic between interfaces (CNI, kube-proxy).",
         "nftables default-deny on input; traffic between pods is filtered by default-deny NetworkPolicies."),
        ("R10", "kernel.modules_disabled", "1", "0",
         "CNI plugins and kube-proxy load netfilter/IPVS modules on demand after boot.",
         "Required modules are loaded at boot from /etc/modules-load.d; every module load is audited (auditd key 'modules')."),
    ),
    "gpu": (
        ("R10", "kernel.modules_disabled", "1", "0",
         "The NVIDIA driver stack (nvidia, nvidia_uvm, nvidia_modeset) is loaded on demand by nvidia-persistenced and the container toolkit.",
         "NVIDIA modules are loaded at boot from /etc/modules-load.d; every module load is audited (auditd key 'modules')."),
    ),
}

# Where the ANSSI content of ComplianceAsCode (ssg-debian 0.1.76, the reference scan) checks another thing than
# the role applies on purpose: recorded, so that an auditor who scans with it finds the reason beside the fail.
# (rule, setting, expected by the check, applied, reason, compensating)
SCANNER_DISAGREEMENTS = (
    ("R12", "net.ipv4.conf.all.arp_filter", "0 (ComplianceAsCode ANSSI profiles)", "1",
     "ANSSI-BP-028 v2.0 R12 lists net.ipv4.conf.all.arp_filter = 1; ComplianceAsCode's ANSSI profiles leave "
     "sysctl_net_ipv4_conf_all_arp_filter_value at its default 0, so its check fails on the guide's value.",
     "the guide's value is applied; a scan tailored with sysctl_net_ipv4_conf_all_arp_filter_value=1 passes."),
    ("R79", "AIDE build database", "option database=file: in /etc/aide/aide.conf (AIDE before 0.17)",
     "database_in=file:/var/lib/aide/aide.db (AIDE 0.17 and later)",
     "ComplianceAsCode's aide_build_database reads the option 'database', which AIDE 0.17 renamed 'database_in'; "
     "Debian 12 ships AIDE 0.18, which warns about the old name at every run.",
     "the role builds /var/lib/aide/aide.db (aideinit) and at level high checks it daily (dailyaidecheck.timer)."),
)

PERNETNS_PREFIXES = ("net.ipv4.", "net.ipv6.")
FORWARDING_KEYS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")


class HardeningPlanError(ValueError):
    """Bad input to the hardening plan; the message names the field and the fix."""


def _rule_number(rule_id):
    return int(rule_id[1:]) if rule_id[1:].isdigit() else 10 ** 6


def _level_index(level):
    if level not in LEVELS:
        raise HardeningPlanError(
            "hardening_anssi_level %r is not an ANSSI-BP-028 level: use one of %s" % (level, ", ".join(LEVELS)))
    return LEVELS.index(level)


def _check_rule_ids(rule_ids, field):
    unknown = sorted(r for r in rule_ids if r not in RULES)
    if unknown:
        raise HardeningPlanError(
            "%s names %s, which this role does not implement: use rule ids among %s"
            % (field, ", ".join(unknown), ", ".join(sorted(RULES, key=_rule_number))))


def hardening_node_roles(group_names, role_groups):
    """Node roles (sorted) of a host from its inventory groups and a role -> groups mapping."""
    groups = set(group_names or [])
    return sorted(role for role, names in (role_groups or {}).items() if groups.intersection(names or []))


def hardening_active_rules(level, skip_rules=None, sections=None):
    """Rule ids in scope at ``level``, minus the skipped ones and those of disabled sections."""
    limit = _level_index(level)
    skip = set(skip_rules or [])
    _check_rule_ids(skip, "hardening_skip_rules")
    sections = sections or {}
    active = [rule for rule, meta in RULES.items()
              if LEVELS.index(meta["level"]) <= limit and rule not in skip
              and sections.get(meta["section"], True)]
    return sorted(active, key=_rule_number)


def _in_scope(level):
    limit = _level_index(level)
    return sorted((r for r, m in RULES.items() if LEVELS.index(m["level"]) <= limit), key=_rule_number)


def _deviation(rule, setting, expected, applied, reason, compensating, source):
    return {"rule": rule, "setting": setting, "expected": expected, "applied": applied,
            "reason": reason, "compensating": compensating, "source": source}


def hardening_plan(settings):
    """Full plan for one host; see DOCUMENTATION for the input and RETURN for the output."""
    if not isinstance(settings, dict):
        raise HardeningPlanError("hardening_plan expects a dictionary of settings")
    level = settings.get("level") or "intermediary"
    skip = list(settings.get("skip_rules") or [])
    skip_reasons = dict(settings.get("skip_reasons") or {})
    sections = dict(settings.get("sections") or {})
    node_roles = sorted(set(settings.get("node_roles") or []))
    unknown_roles = [r for r in node_roles if r not in NODE_MODULES]
    if unknown_roles:
        raise HardeningPlanError(
            "hardening_node_roles contains %s: use only %s" % (", ".join(unknown_roles), ", ".join(sorted(NODE_MODULES))))
    in_container = bool(settings.get("in_container"))
    overrides = {str(k): str(v) for k, v in (settings.get("sysctl_overrides") or {}).items()}
    rules = hardening_active_rules(level, skip, sections)
    in_scope = _in_scope(level)
    deviations = []

    # Rules in scope that the operator skipped or whose section is off.
    for rule in in_scope:
        if rule in skip:
            reason = skip_reasons.get(rule)
            if not reason:
                raise HardeningPlanError(
                    "hardening_skip_rules contains %s without a reason: add hardening_skip_reasons: {%s: '<why>'}"
                    % (rule, rule))
            deviations.append(_deviation(rule, "*", "applied", "skipped", reason,
                                         skip_reasons.get(rule + "_compensating", "none recorded"), "hardening_skip_rules"))
        elif not sections.get(RULES[rule]["section"], True):
            section = RULES[rule]["section"]
            deviations.append(_deviation(
                rule, "*", "applied", "skipped",
                skip_reasons.get(rule) or "section disabled by hardening_%s_enabled: false" % section,
                skip_reasons.get(rule + "_compensating", "none recorded"), "hardening_%s_enabled" % section))

    # Node-role deviations, only for rules that would otherwise be applied.
    node_values = {}
    for role in node_roles:
        for rule, setting, expected, applied, reason, compensating in NODE_DEVIATIONS[role]:
            if rule not in rules:
                continue
            node_values[setting] = applied
            deviations.append(_deviation(rule, setting, expected, applied, reason, compensating, "node role " + role))

    # Sysctl entries.
    sysctl = {}
    for rule, key, value in SYSCTL_RULES:
        if rule in rules:
            sysctl[key] = {"key": key, "value": value, "rule": rule, "deviation": False}
    if "R13" in rules:
        names = IPV6_DISABLE if settings.get("disable_ipv6") else IPV6_HARDEN
        for scope in ("all", "default"):
            for name in names:
                key = "net.ipv6.conf.%s.%s" % (scope, name)
                sysctl[key] = {"key": key, "value": "1" if name == "disable_ipv6" else "0", "rule": "R13", "deviation": False}
        if not settings.get("disable_ipv6"):
            for scope in ("all", "default"):
                key = "net.ipv6.conf.%s.max_addresses" % scope
                sysctl[key] = {"key": key, "value": "1", "rule": "R13", "deviation": False}
    for key, value in node_values.items():
        if key in sysctl:
            sysctl[key].update(value=value, deviation=True)
    for key, value in sorted(overrides.items()):
        entry = sysctl.get(key)
        if entry is None:
            sysctl[key] = {"key": key, "value": value, "rule": "", "deviation": False}
        elif entry["value"] != value:
            deviations.append(_deviation(entry["rule"], key, entry["value"], value,
                                         skip_reasons.get(key, "set by hardening_sysctl_overrides"),
                                         skip_reasons.get(key + "_compensating", "none recorded"),
                                         "hardening_sysctl_overrides"))
            entry.update(value=value, deviation=True)
    modules_disabled = sysctl.get("kernel.modules_disabled", {}).get("value") == "1"
    entries = []
    # Writing ip_forward resets the per-interface settings (accept_redirects, ...): it goes first.
    for key in sorted(sysctl, key=lambda k: (k not in FORWARDING_KEYS, k)):
        entry = dict(sysctl[key])
        # In a container only per-network-namespace keys are safe to apply: the others are the host's.
        entry["runtime"] = key.startswith(PERNETNS_PREFIXES) if in_container else key != "kernel.modules_disabled"
        entries.append(entry)

    # Modules.
    required = set(settings.get("modules_required") or [])
    for role in node_roles:
        required.update(NODE_MODULES[role])
    blacklist = []
    for module in sorted(set(settings.get("modules_blacklist") or [])):
        if module in required:
            deviations.append(_deviation("R10", "blacklist " + module, "blacklisted", "allowed",
                                         "the node needs module %s (%s)" % (module, ", ".join(node_roles) or "modules_required"),
                                         "module kept loadable; its loading is audited (auditd key 'modules')",
                                         "hardening_modules_blacklist"))
        else:
            blacklist.append(module)

    # sshd root login: never lock out an operator who connects as root over SSH.
    permit_root_login = settings.get("permit_root_login") or "no"
    if ("R33" in rules and permit_root_login == "no" and settings.get("connection_is_ssh")
            and settings.get("connection_user") == "root"):
        permit_root_login = "prohibit-password"
        deviations.append(_deviation(
            "R33", "sshd PermitRootLogin", "no", "prohibit-password",
            "Ansible connects to this host as root over SSH; 'no' would lock the operator out.",
            "root logs in with keys only (no password); sessions are logged; connect with a named admin account and sudo to apply 'no'.",
            "connection"))

    # Direct root login on local consoles (R33; ComplianceAsCode no_direct_root_logins): an empty
    # /etc/securetty read by pam_securetty in /etc/pam.d/login. Ansible's SSH session is not concerned;
    # the rescue shell (sulogin) does not use PAM and still works.
    root_console_login = bool(settings.get("root_console_login"))
    if "R33" in rules and root_console_login:
        deviations.append(_deviation(
            "R33", "root login on local consoles", "refused (empty /etc/securetty)", "allowed",
            "hardening_root_console_login is true: the site keeps root's console login for recovery.",
            "console access is physical or through the out-of-band management network; logins are audited.",
            "hardening_root_console_login"))

    # Root's mail (R75): only the site knows the monitored address.
    root_mail_alias = str(settings.get("root_mail_alias") or "").strip()
    if root_mail_alias and not re.match(r"^[^\s,:#\"]+(\s*,\s*[^\s,:#\"]+)*$", root_mail_alias):
        raise HardeningPlanError(
            "hardening_root_mail_alias %r is not an aliases(5) target list: give addresses or local users separated by "
            "commas, without spaces inside an address, ':' '#' or quotes (e.g. 'secops@example.eu')" % root_mail_alias)
    # Recorded when the caller manages the alias (the role always passes the key).
    if "R75" in rules and "root_mail_alias" in settings and not root_mail_alias:
        deviations.append(_deviation(
            "R75", "/etc/aliases root", "a monitored site address", "not set",
            "no site address is known to the role: hardening_root_mail_alias is empty.",
            "security events reach the central audit store (sovereign.cluster.audit_forwarding) instead of root's "
            "local mailbox; set hardening_root_mail_alias to the team's address.",
            "hardening_root_mail_alias"))

    # Partitions (R28): the layout is chosen at installation; the role only sets the mount options.
    mount_points = settings.get("mount_points")
    if "R28" in rules and mount_points is not None and not in_container:
        missing = [p for p in SEPARATE_PARTITIONS if p not in set(mount_points)]
        if missing:
            deviations.append(_deviation(
                "R28", "separate partitions " + " ".join(missing), "own partition each", "part of their parent file system",
                "the partition layout is chosen when the host is installed; the role never repartitions a running system.",
                "/tmp, /var/tmp and /dev/shm are mounted nodev,nosuid,noexec by the role; give new hosts these partitions "
                "in the site's installer (preseed) and this deviation disappears.",
                "host layout"))

    # sudo rules (R40, R43): the administrators' rule of the distribution (%sudo ALL=(ALL:ALL) ALL) is kept.
    for rule, setting, expected, reason in (
            ("R40", "sudoers %sudo ALL=(ALL:ALL) ALL", "targets other than root",
             "platform administrators and Ansible's become need root itself (packages, services, kernel settings)."),
            ("R43", "sudoers %sudo ALL=(ALL:ALL) ALL", "commands with explicit arguments",
             "Ansible's become runs 'sudo sh -c python3 ...' with varying arguments; no finite command list exists.")):
        if rule in rules and settings.get("sudo_distribution_rule_kept"):
            deviations.append(_deviation(
                rule, setting, expected, "kept", reason,
                "members of the sudo group are named in the inventory; every sudo command is logged (sudo.log) and audited "
                "(auditd key 'actions'); use_pty, env_reset, umask 0077.", "distribution sudoers"))

    # Root password age (R31 via ComplianceAsCode accounts_password_set_max_life_root): root's password is
    # locked or unused (keys only); an expiry would force a password change at the next root SSH login.
    if "R31" in rules and "root_password_max_days" in settings and settings["root_password_max_days"] in (None, ""):
        deviations.append(_deviation(
            "R31", "root password maximum age", "90 days", "unchanged",
            "an expired root password forces a password change at the next login, which stops Ansible's root SSH "
            "session and the console rescue login.",
            "root logs in over SSH with keys only (PermitRootLogin prohibit-password or no); its password is for the "
            "console and is rotated by the site's secret store; set hardening_root_password_max_days to apply an age.",
            "hardening_root_password_max_days"))

    # sudo noexec/requiretty (R39) break Ansible's become (sudo sh -c python) unless asked for.
    if "R39" in rules:
        for option, flag in (("noexec", "sudo_noexec"), ("requiretty", "sudo_requiretty")):
            if not settings.get(flag):
                deviations.append(_deviation(
                    "R39", "sudo Defaults " + option, option, "not set",
                    "Ansible become runs 'sudo sh -c python3 ...' (needs to execute a child process%s)."
                    % (" and works without a tty" if option == "requiretty" else ""),
                    "use_pty, env_reset, ignore_dot and umask 0077 are set; every sudo command is logged and audited (auditd key 'actions').",
                    "hardening_" + flag))

    # Checks of the reference scanner that disagree with what the role applies on purpose.
    for rule, setting, expected, applied, reason, compensating in SCANNER_DISAGREEMENTS:
        if not settings.get("record_scanner_disagreements") or rule not in rules:
            continue
        if setting in sysctl and sysctl[setting]["value"] != applied:
            continue  # the operator overrode the value: that override is its own deviation
        deviations.append(_deviation(rule, setting, expected, applied, reason, compensating, "reference scanner check"))

    immutable = settings.get("auditd_immutable")
    if immutable is None:
        immutable = "R73" in rules

    deviations.sort(key=lambda d: (_rule_number(d["rule"]) if d["rule"] else 10 ** 6, d["setting"], d["source"]))
    return {
        "rules": rules,
        "sysctl": entries,
        "modules_blacklist": blacklist,
        "modules_required": sorted(required),
        "modules_disabled": modules_disabled,
        "permit_root_login": permit_root_login,
        "root_console_login": root_console_login or "R33" not in rules,
        "root_mail_alias": root_mail_alias if "R75" in rules else "",
        "auditd_immutable": bool(immutable),
        "deviations": deviations,
    }


OVERRIDE_MARKER = "sovereign.cluster.hardening override of"
# sysctl.d(5): a file in /etc/sysctl.d replaces the file of the same name in these folders (highest first).
VENDOR_SYSCTL_DIRS = ("/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")


def _sysctl_key(key):
    """sysctl.d spells keys with dots or slashes and may prefix '-' (ignore errors)."""
    return key.strip().lstrip("-").replace("/", ".")


def hardening_sysctl_vendor_overrides(grep_lines, managed, etc_names=None, etc_ours=None):
    """Vendor sysctl.d files that set a key of the role to another value, with the override to write.

    ``grep_lines``: ``path:line`` from ``grep -H`` over the vendor folders (comments and blank lines
    already dropped); ``managed``: {key: value} the role sets; ``etc_names``: names already in
    /etc/sysctl.d; ``etc_ours``: those of them this role wrote (their first line carries OVERRIDE_MARKER).
    systemd-sysctl applies files by name across folders, so a vendor file sorting after the role's file
    (Debian 12: /usr/lib/sysctl.d/99-protect-links.conf, fs.protected_fifos = 1) wins at boot. The
    override has the vendor file's name and keeps its other lines, with the role's values for its keys.
    A name the administrator already uses in /etc/sysctl.d is left alone and returned with
    ``blocked: true``. Result sorted by name: [{name, source, conflicts, content, blocked}].
    """
    etc_names = set(etc_names or [])
    etc_ours = set(etc_ours or [])
    wanted = {_sysctl_key(k): " ".join(str(v).split()) for k, v in (managed or {}).items()}
    files = {}
    for line in grep_lines or []:
        path, sep, text = line.partition(":")
        if not sep or "/" not in path:
            continue
        folder, name = path.rsplit("/", 1)
        if folder not in VENDOR_SYSCTL_DIRS or not name.endswith(".conf"):
            continue
        files.setdefault(name, {}).setdefault(folder, []).append(text)
    result = []
    for name in sorted(files):
        folder = next(d for d in VENDOR_SYSCTL_DIRS if d in files[name])
        conflicts, lines = [], []
        for text in files[name][folder]:
            stripped = text.strip()
            if not stripped or stripped.startswith(("#", ";")) or "=" not in stripped:
                continue
            raw_key, value = stripped.split("=", 1)
            key = _sysctl_key(raw_key)
            if key in wanted:
                if " ".join(value.split()) != wanted[key]:
                    conflicts.append(key)
                lines.append("%s = %s" % (key, wanted[key]))
            else:
                lines.append(stripped)
        if not conflicts:
            continue
        header = "# %s %s/%s: the role's values for %s; its other lines unchanged" % (
            OVERRIDE_MARKER, folder, name, ", ".join(sorted(set(conflicts))))
        result.append({"name": name, "source": "%s/%s" % (folder, name), "conflicts": sorted(set(conflicts)),
                       "content": "\n".join([header] + list(dict.fromkeys(lines))) + "\n",
                       "blocked": name in etc_names and name not in etc_ours})
    return result


NOLOGIN_SHELLS = ("nologin", "false", "sync", "halt", "shutdown")


def hardening_interactive_homes(passwd, uid_min=1000):
    """Home directories of interactive accounts, from ``ansible.builtin.getent`` passwd facts
    ({user: [password, uid, gid, gecos, home, shell]}): uid >= ``uid_min`` (not 65534 nobody), a login
    shell, a home other than '/'. Sorted, unique."""
    homes = set()
    for fields in (passwd or {}).values():
        if not isinstance(fields, (list, tuple)) or len(fields) < 6:
            continue
        uid, home, shell = str(fields[1]), str(fields[4] or ""), str(fields[5] or "")
        if not uid.isdigit() or int(uid) < int(uid_min) or int(uid) == 65534:
            continue
        if shell.rstrip("/").rsplit("/", 1)[-1] in NOLOGIN_SHELLS or home in ("", "/"):
            continue
        homes.add(home)
    return sorted(homes)


def hardening_home_mode_fixes(find_lines):
    """Mode changes for the lines ``TYPE DEPTH PATH`` that ``find -printf '%y %d %p\\n'`` printed for files of
    interactive homes (R50): every entry loses group write and all access for others (0750 or less); regular
    dot files directly in a home (depth 1, the user initialization files) also lose group execute (0740 or
    less). Malformed lines are ignored. Returns [{path, mode}] in input order."""
    fixes = []
    for line in find_lines or []:
        parts = str(line).split(" ", 2)
        if len(parts) != 3 or not parts[2]:
            continue
        kind, depth, path = parts
        init_file = kind == "f" and depth == "1" and path.rstrip("/").rsplit("/", 1)[-1].startswith(".")
        fixes.append({"path": path, "mode": "g-wx,o-rwx" if init_file else "g-w,o-rwx"})
    return fixes


_SSH_ALGORITHM = r"^[A-Za-z0-9@._+-]{1,100}$"
_UNIX_GROUP = r"^[a-z_][a-z0-9_-]{0,31}$"
_MODULE_NAME = r"^[A-Za-z0-9_-]{1,64}$"
_SSHD_KEYWORD = r"^[A-Z][A-Za-z]{1,40}$"
# sshd settings the role writes itself: an extra setting may not override them (sshd keeps the first value it reads).
_SSHD_MANAGED = frozenset(k.lower() for k in (
    "Port", "Ciphers", "MACs", "KexAlgorithms", "HostKeyAlgorithms", "PubkeyAcceptedAlgorithms", "PermitRootLogin",
    "AllowGroups", "MaxAuthTries", "ClientAliveInterval", "ClientAliveCountMax", "PasswordAuthentication",
    "PermitEmptyPasswords", "X11Forwarding", "AllowTcpForwarding", "AllowAgentForwarding", "PermitUserEnvironment",
    "Include", "Match", "AuthorizedKeysCommand", "AuthorizedKeysFile"))


def hardening_input_errors(settings):
    """Every problem of the hardening role's inputs (a mapping of variable name to value), or [].

    The role's first task fails with these messages, so a bad value never reaches a host: ports outside
    1-65535, firewall sources that are not one address or network (an nft rule hidden in a source is
    refused), the whole address space or every interface without the acknowledgement variable, NTP
    servers that are not host names, non-octal umasks, out-of-range timeouts, sysctl keys and values that
    would break sysctl.d, free text with newlines or the target file's syntax.
    """
    checks = Checks()
    get = settings.get

    def enabled(name):
        return truthy(get(name, True))

    if enabled("hardening_sshd_enabled"):
        checks.port("hardening_sshd_port", get("hardening_sshd_port", 22))
        checks.one_of("hardening_sshd_permit_root_login", get("hardening_sshd_permit_root_login", "no"),
                      ["no", "prohibit-password", "forced-commands-only", "yes"])
        for field in ("hardening_sshd_ciphers", "hardening_sshd_macs", "hardening_sshd_kex_algorithms",
                      "hardening_sshd_host_key_algorithms", "hardening_sshd_pubkey_algorithms"):
            values = get(field, [])
            if not isinstance(values, list) or not values:
                checks.fail(field, "empty or not a list", "list the algorithm names sshd accepts", values)
                continue
            for index, value in enumerate(values):
                checks.name("%s[%d]" % (field, index), value, _SSH_ALGORITHM, "sshd algorithm name",
                            "use one algorithm name per entry (letters, digits, '@._+-'), as `ssh -Q` prints them")
        for index, group in enumerate(get("hardening_sshd_allow_groups", []) or []):
            checks.name("hardening_sshd_allow_groups[%d]" % index, group, _UNIX_GROUP, "Unix group name",
                        "use a group name of lowercase letters, digits, '_' and '-'")
        checks.integer("hardening_sshd_client_alive_interval", get("hardening_sshd_client_alive_interval", 300), 1, 3600,
                       "use seconds from 1 to 3600 (R33: idle sessions are closed)")
        checks.integer("hardening_sshd_client_alive_count_max", get("hardening_sshd_client_alive_count_max", 2), 0, 10)
        checks.integer("hardening_sshd_max_auth_tries", get("hardening_sshd_max_auth_tries", 4), 1, 10)
        extra = get("hardening_sshd_extra_settings", {}) or {}
        if not isinstance(extra, dict):
            checks.fail("hardening_sshd_extra_settings", "not a mapping", "map sshd keywords to values", extra)
            extra = {}
        for key, value in sorted(extra.items(), key=lambda item: str(item[0])):
            field = "hardening_sshd_extra_settings[%s]" % json_key(key)
            if checks.name(field, key, _SSHD_KEYWORD, "sshd keyword", "use an sshd_config keyword such as LoginGraceTime") \
                    and key.lower() in _SSHD_MANAGED:
                checks.fail(field, "is a setting the role writes itself", "set the role's own variable for it instead", key)
            checks.line(field, value if isinstance(value, str) else str(value), what="sshd value")

    if enabled("hardening_nftables_enabled"):
        checks.ports("hardening_nftables_allowed_tcp_ports", get("hardening_nftables_allowed_tcp_ports", []))
        checks.ports("hardening_nftables_allowed_udp_ports", get("hardening_nftables_allowed_udp_ports", []))
        checks.cidrs("hardening_nftables_allowed_sources", get("hardening_nftables_allowed_sources", []),
                     "hardening_nftables_allow_all_sources", get("hardening_nftables_allow_all_sources", False))
        interfaces = get("hardening_nftables_trusted_interfaces", [])
        if not isinstance(interfaces, list):
            checks.fail("hardening_nftables_trusted_interfaces", "not a list", "list interface names", interfaces)
            interfaces = []
        for index, interface in enumerate(interfaces):
            checks.interface("hardening_nftables_trusted_interfaces[%d]" % index, interface,
                             "hardening_nftables_trust_all_interfaces", get("hardening_nftables_trust_all_interfaces", False))

    if enabled("hardening_chrony_enabled"):
        servers = get("hardening_chrony_servers", [])
        if not isinstance(servers, list) or not servers:
            checks.fail("hardening_chrony_servers", "empty or not a list",
                        "list your site's own NTP servers, or set hardening_chrony_enabled: false and record why "
                        "in hardening_skip_reasons (key R71)", servers)
        else:
            for index, server in enumerate(servers):
                checks.host("hardening_chrony_servers[%d]" % index, server)

    if enabled("hardening_pam_enabled"):
        checks.octal("hardening_umask", get("hardening_umask", "077"))
        checks.integer("hardening_session_timeout", get("hardening_session_timeout", 600), 1, 86400,
                       "use the idle shell timeout in seconds, from 1 to 86400 (TMOUT)")
        checks.integer("hardening_pam_password_remember", get("hardening_pam_password_remember", 2), 0, 400)
        for field, known in (("hardening_pam_pwquality", ("minlen", "dcredit", "ucredit", "lcredit", "ocredit", "minclass",
                                                          "retry", "maxrepeat", "maxclassrepeat", "difok", "dictcheck",
                                                          "usercheck", "enforcing", "enforce_for_root")),
                             ("hardening_pam_faillock", ("deny", "fail_interval", "unlock_time", "root_unlock_time",
                                                         "even_deny_root", "audit", "silent", "local_users_only"))):
            values = get(field, {}) or {}
            if not isinstance(values, dict):
                checks.fail(field, "not a mapping", "map option names to numbers", values)
                continue
            for key, value in sorted(values.items(), key=lambda item: str(item[0])):
                if key not in known:
                    checks.fail("%s[%s]" % (field, json_key(key)), "not an option this role writes", "use one of " + ", ".join(known), key)
                elif not isinstance(value, bool):
                    checks.integer("%s[%s]" % (field, key), value, -100, 100000)

    checks.integer("hardening_password_hash_rounds", get("hardening_password_hash_rounds", 11), 1, 11,
                   "use a yescrypt cost factor from 1 to 11 (ANSSI profile 11, Debian default 5)")
    checks.integer("hardening_user_uid_min", get("hardening_user_uid_min", 1000), 1, 65535)
    if get("hardening_root_password_max_days") is not None:
        checks.integer("hardening_root_password_max_days", get("hardening_root_password_max_days"), 1, 99999)

    if enabled("hardening_sysctl_enabled"):
        overrides = get("hardening_sysctl_overrides", {}) or {}
        if not isinstance(overrides, dict):
            checks.fail("hardening_sysctl_overrides", "not a mapping", "map sysctl keys to values", overrides)
            overrides = {}
        for key, value in sorted(overrides.items(), key=lambda item: str(item[0])):
            checks.sysctl("hardening_sysctl_overrides", key, value)

    for field in ("hardening_modules_blacklist", "hardening_modules_required"):
        for index, module in enumerate(get(field, []) or []):
            checks.name("%s[%d]" % (field, index), module, _MODULE_NAME, "kernel module name",
                        "use the module name as modprobe knows it (letters, digits, '_', '-')")

    if enabled("hardening_mounts_enabled"):
        checks.name("hardening_mounts_tmp_size", str(get("hardening_mounts_tmp_size", "2G")), r"^[0-9]{1,6}[kKmMgG%]?$",
                    "tmpfs size", "use a size such as 2G, 512M or 20%")
        for field in ("hardening_mounts_options_tmp", "hardening_mounts_options_var_tmp", "hardening_mounts_options_dev_shm"):
            for index, option in enumerate(get(field, []) or []):
                checks.name("%s[%d]" % (field, index), option, r"^[a-z0-9_]+(=[A-Za-z0-9_.:]+)?$", "mount option",
                            "use one mount option per entry, such as nodev (no commas, spaces or newlines)")

    for field in ("hardening_sudo_log_file", "hardening_deviations_path", "hardening_sysctl_file"):
        checks.path(field, get(field, "/"))
    checks.line("hardening_aide_init_unit", get("hardening_aide_init_unit", "sovereign-aide-init"), what="unit name",
                forbidden=" /")

    mirror = get("hardening_apt_mirror", "") or ""
    if mirror:
        checks.url("hardening_apt_mirror", mirror, ("https", "http", "file"))
    proxy = get("hardening_apt_proxy", "") or ""
    if proxy:
        checks.url("hardening_apt_proxy", proxy, ("http", "https"))
    checks.name("hardening_apt_suite", get("hardening_apt_suite", "bookworm"), r"^[a-z][a-z0-9.-]{0,40}$", "Debian suite",
                "use a suite name such as bookworm")
    for index, component in enumerate(get("hardening_apt_components", ["main"]) or []):
        checks.name("hardening_apt_components[%d]" % index, component, r"^[a-z][a-z0-9-]{0,40}$", "archive component",
                    "use a component name such as main or non-free-firmware")

    alias = get("hardening_root_mail_alias", "") or ""
    if alias:
        checks.name("hardening_root_mail_alias", alias, r"^[A-Za-z0-9._%+@-]{1,254}$", "mail address",
                    "use one address (user@example.eu) or local user name, without spaces, commas or ':'")
    banner = get("hardening_banner_text", "")
    if not isinstance(banner, str) or re.search(r"[\x00-\x08\x0b-\x1f\x7f]", banner) or len(banner) > 4096:
        checks.fail("hardening_banner_text", "not plain text of at most 4096 characters",
                    "write the banner as printable text (newlines are fine, escape sequences are not)", banner)
    return checks.errors


def json_key(key):
    return '"%s"' % key if isinstance(key, str) and re.match(r"^[A-Za-z0-9_.-]+$", key) else repr(key)


class FilterModule(object):
    """sovereign.cluster hardening filters."""

    def filters(self):
        return {
            "hardening_plan": hardening_plan,
            "hardening_input_errors": hardening_input_errors,
            "hardening_node_roles": hardening_node_roles,
            "hardening_active_rules": hardening_active_rules,
            "hardening_sysctl_vendor_overrides": hardening_sysctl_vendor_overrides,
            "hardening_interactive_homes": hardening_interactive_homes,
            "hardening_home_mode_fixes": hardening_home_mode_fixes,
        }
