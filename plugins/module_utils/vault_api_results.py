# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Vault/OpenBao HTTP API as the vault_transit and vault_server roles see it through ``ansible.builtin.uri``.

* :func:`vault_approle_settings`: AppRole settings in one canonical form (TTLs in seconds, CIDRs as networks,
  no null lists), so a value the server normalises is not rewritten on every run;
* :func:`vault_api_error`: the message of a failed ``uri`` call to the API (status, the server's ``errors``, the
  path, the fix), or an empty string; never the token or a request body.

The modules' own client (hvac) and its error wording are in
:mod:`~ansible_collections.sovereign.cluster.plugins.module_utils.vault_client`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.sovereign.cluster.plugins.module_utils.input_checks import Checks, as_int


def _canonical_cidr(value):
    try:
        return str(ipaddress.ip_network(str(value).strip(), strict=False))
    except ValueError:
        return value


def vault_approle_settings(entry):
    """AppRole settings in the form both sides are compared in: TTLs in seconds, CIDRs as networks, lists not null."""
    canonical = {}
    for key, value in (entry or {}).items():
        if key.endswith("_ttl"):
            seconds = as_int(value)
            if seconds is None:
                seconds = Checks().duration(key, value)
            canonical[key] = seconds if seconds is not None else value
        elif key.endswith("_cidrs"):
            canonical[key] = [_canonical_cidr(cidr) for cidr in (value or [])]
        elif key.endswith("_policies"):  # a set to the server: order and repeats are no change
            canonical[key] = sorted(set(value or []))
        else:
            canonical[key] = value
    return canonical


def short_text(text, limit=200):
    """``text`` on one line, at most ``limit`` characters (a server's answer inside an error message)."""
    text = re.sub(r"\s+", " ", str(text or "no answer")).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def vault_api_error(result, action, expected=(200, 204)):
    """Why a ``uri`` call to the API failed, from its registered result; '' when it did not (or was skipped).

    Only the status, the server's ``errors`` list and the path are used: never the headers (the token), the
    request body or the response data (secret_ids, unseal keys).
    """
    result = result or {}
    if result.get("skipped") or not isinstance(result, dict):
        return ""
    status = result.get("status", -1)
    if status in list(expected) and not result.get("failed"):
        return ""
    url = str(result.get("url") or "")
    path = url[url.find("/v1/"):] if "/v1/" in url else url
    body = result.get("json") if isinstance(result.get("json"), dict) else {}
    errors = [short_text(error) for error in body.get("errors") or [] if error]
    if status in (-1, None):
        cause, fix = "no answer (%s)" % short_text(result.get("msg")), "check the URL, that the server runs, the firewall and the CA file"
    elif status in (401, 403):
        cause, fix = "HTTP %s permission denied" % status, "use a token whose policy grants this path"
    elif status == 404:
        cause, fix = "HTTP 404", "check the mount path (is the engine or auth method enabled there?)"
    elif status in (500, 501, 502, 503):
        cause, fix = "HTTP %s" % status, "check that the server is initialised, unsealed and active"
    else:
        cause, fix = "HTTP %s" % status, "fix the setting the server names"
    return "cannot %s: %s on %s%s; %s" % (action, cause, path or "the API", (": " + "; ".join(errors)) if errors else "", fix)
