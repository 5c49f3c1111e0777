# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter of the audit_forwarding role: every problem of its settings, before anything changes.

Filters: audit_forwarding_input_errors (documented in audit_forwarding_input_errors.yml).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

from ansible_collections.sovereign.cluster.plugins.module_utils.input_checks import Checks, shown

_SOURCE_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
_IDENT = r"^[A-Za-z0-9_.-]{1,48}$"
_FACILITIES = ["kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp"] + [
    "local%d" % number for number in range(8)]
_PEER = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def audit_forwarding_input_errors(settings):
    """One message per problem of the role's variables (a mapping of variable name to value), or []."""
    checks = Checks()
    get = settings.get
    checks.one_of("audit_forwarding_protocol", get("audit_forwarding_protocol", "relp"), ["relp", "tcp"])
    checks.port("audit_forwarding_port", get("audit_forwarding_port", 6514))
    checks.line("audit_forwarding_tls_priority", get("audit_forwarding_tls_priority", "NORMAL"), what="GnuTLS priority string",
                forbidden=' "\\')
    mode = checks.one_of("audit_forwarding_pki_mode", get("audit_forwarding_pki_mode", "generate"), ["generate", "supplied"])
    if mode == "generate":
        # A folder on the controller, often relative to the inventory ("{{ inventory_dir }}/../../lab/state/pki"):
        # judged as the path it resolves to.
        pki_dir = get("audit_forwarding_pki_dir", "")
        if isinstance(pki_dir, str) and pki_dir.startswith("~/"):
            pki_dir = "/" + pki_dir[2:]
        if isinstance(pki_dir, str) and pki_dir.startswith("/") and not re.search(r"[\x00-\x1f]", pki_dir):
            pki_dir = posixpath.normpath(pki_dir)
        checks.path("audit_forwarding_pki_dir", pki_dir)
        ca_days = checks.integer("audit_forwarding_ca_valid_days", get("audit_forwarding_ca_valid_days", 3650), 1, 36500)
        cert_days = checks.integer("audit_forwarding_cert_valid_days", get("audit_forwarding_cert_valid_days", 825), 1, 3650)
        if ca_days is not None and cert_days is not None and cert_days > ca_days:
            checks.fail("audit_forwarding_cert_valid_days", "outlives the CA (audit_forwarding_ca_valid_days %d)" % ca_days,
                        "make certificates expire before their CA", cert_days)
        checks.line("audit_forwarding_ca_common_name", get("audit_forwarding_ca_common_name", "CA"), what="CA common name",
                    forbidden="/=,+\"\\<>;", limit=64)
        checks.name("audit_forwarding_cert_name", get("audit_forwarding_cert_name", "host"), _PEER.pattern, "certificate name",
                    "use the host's DNS name (letters, digits, '-', '.')")
    elif mode == "supplied":
        for field, marker in (("audit_forwarding_tls_ca_cert", "BEGIN CERTIFICATE"), ("audit_forwarding_tls_cert", "BEGIN CERTIFICATE"),
                              ("audit_forwarding_tls_key", "PRIVATE KEY")):
            value = get(field, "")
            if not isinstance(value, str) or marker not in value:
                checks.fail(field, "not a PEM %s" % ("private key" if field.endswith("key") else "certificate"),
                            "paste the PEM text (from a vault), or use audit_forwarding_pki_mode: generate", show=False)
    checks.path("audit_forwarding_tls_dir", get("audit_forwarding_tls_dir", "/etc/sovereign/audit-tls"))
    peers = get("audit_forwarding_permitted_peers", []) or []
    if not isinstance(peers, list):
        checks.fail("audit_forwarding_permitted_peers", "not a list", "list the senders' certificate names", peers)
        peers = []
    for index, peer in enumerate(peers):
        if not isinstance(peer, str) or not _PEER.match(peer):
            checks.fail("audit_forwarding_permitted_peers[%d]" % index, "not a certificate name or '*.domain' pattern",
                        "use a sender's certificate name (host.example.eu) or *.example.eu; '*' alone would admit any certificate",
                        peer)

    sources = get("audit_forwarding_sources", []) or []
    if not isinstance(sources, list) or not sources:
        checks.fail("audit_forwarding_sources", "empty or not a list", "list what the host forwards (name + paths or syslog_ident)",
                    sources)
        sources = []
    seen = set()
    for index, source in enumerate(sources):
        field = "audit_forwarding_sources[%d]" % index
        if not isinstance(source, dict):
            checks.fail(field, "not a mapping", "give name and paths (or syslog_ident)", source)
            continue
        name = checks.name(field + ".name", source.get("name"), _SOURCE_NAME, "source name",
                           "use lowercase letters, digits and '-' (the store's folder name)")
        if name == "other":
            checks.fail(field + ".name", "is reserved for unrouted records", "pick another name", name)
        elif name in seen:
            checks.fail(field + ".name", "used twice", "give each source its own name", name)
        seen.add(name)
        if ("paths" in source) == ("syslog_ident" in source):
            checks.fail(field, "needs exactly one of paths or syslog_ident", "keep one of the two", sorted(source))
        for number, path in enumerate(source.get("paths", []) or []):
            checks.path("%s.paths[%d]" % (field, number), path)
            if isinstance(path, str) and re.search(r'[\s"\\]', path):
                checks.fail("%s.paths[%d]" % (field, number), "holds a space, quote or backslash",
                            "use a path without them (it goes into rsyslog's imfile configuration)", path)
        if "syslog_ident" in source:
            checks.name(field + ".syslog_ident", source["syslog_ident"], _IDENT, "syslog identifier",
                        "use letters, digits and '_.-' (at most 48)")
        if "syslog_facility" in source:
            checks.one_of(field + ".syslog_facility", source["syslog_facility"], _FACILITIES)
        unknown = sorted(set(source) - {"name", "paths", "syslog_ident", "syslog_facility"})
        if unknown:
            checks.fail(field, "has unknown keys %s" % ", ".join(map(str, unknown)), "use name, paths, syslog_ident, syslog_facility",
                        unknown)

    checks.name("audit_forwarding_queue_max_disk_space", str(get("audit_forwarding_queue_max_disk_space", "2g")),
                r"^[0-9]{1,6}[kmgKMG]?$", "disk size", "use a size such as 2g or 512m")
    checks.integer("audit_forwarding_queue_size", get("audit_forwarding_queue_size", 100000), 100, 10000000)
    checks.integer("audit_forwarding_resume_interval", get("audit_forwarding_resume_interval", 5), 1, 3600)
    for field in ("audit_forwarding_store_dir", "audit_forwarding_chain_install_dir"):
        checks.path(field, get(field, "/"))
    checks.integer("audit_forwarding_retention_days", get("audit_forwarding_retention_days", 180), 1, 36500,
                   "use whole days; SecNumCloud 12.6.c asks for at least 180")
    checks.line("audit_forwarding_retention_override_reason", get("audit_forwarding_retention_override_reason", ""), allow_empty=True,
                what="reason")
    checks.one_of("audit_forwarding_clock_check", get("audit_forwarding_clock_check", "enforce"), ["enforce", "warn", "off"])
    mirror = get("audit_forwarding_apt_mirror", "") or ""
    if mirror:
        checks.url("audit_forwarding_apt_mirror", mirror, ("https", "http", "file"))
    checks.name("audit_forwarding_apt_suite", get("audit_forwarding_apt_suite", "bookworm"), r"^[a-z][a-z0-9.-]{0,40}$",
                "Debian suite", "use a suite name such as bookworm")
    collectors = get("audit_forwarding_collectors", []) or []
    if isinstance(collectors, list):
        for index, collector in enumerate(collectors):
            if not isinstance(collector, str) or not _PEER.match(collector) or collector.startswith("*"):
                checks.fail("audit_forwarding_collectors[%d]" % index, "not an inventory host name",
                            "list the collectors' inventory names", collector)
    else:
        checks.fail("audit_forwarding_collectors", "not a list", "list the collectors' inventory names", shown(collectors))
    return checks.errors


class FilterModule(object):
    """sovereign.cluster audit_forwarding filters."""

    def filters(self):
        return {"audit_forwarding_input_errors": audit_forwarding_input_errors}
