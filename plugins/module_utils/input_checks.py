# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of role inputs, shared by every role's ``*_input_errors`` filter.

A role validates all of its inputs before its first change: its first task passes its settings to its
``<role>_input_errors`` filter and fails when the list is not empty. Each check appends one message that
names the variable (with its index or key), says what is wrong, shows the value (truncated, never for a
secret) and says how to fix it. Nothing here touches a host; pure Python, standard library only.

Exposure-widening values (``0.0.0.0/0``, ``::/0``, an interface ``*``) are refused unless the role's
acknowledgement variable is true; the message names that variable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DNS_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(r"^(?=.{1,253}$)%s(\.%s)*\.?$" % (_DNS_LABEL, _DNS_LABEL))
_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}\*?$")
_SYSCTL_KEY = re.compile(r"^[a-z0-9_]+([./][A-Za-z0-9_@:-]+)+$")
_DURATION_PART = re.compile(r"([0-9]+)(s|m|h|d|w)")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def shown(value, limit=60):
    """The value as a short JSON text for an error message."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def as_int(value):
    """``value`` as an int when it is an int or a string of decimal digits (YAML and Jinja give both), else None."""
    if _is_int(value):
        return value
    if isinstance(value, str) and re.match(r"^-?[0-9]+$", value.strip()):
        return int(value.strip())
    return None


def truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)


class Checks(object):
    """Collects error messages; every ``check_*`` returns the normalised value or None when it failed."""

    def __init__(self):
        self.errors = []

    def fail(self, field, problem, fix, value=None, show=True):
        got = " (got %s)" % shown(value) if show else ""
        self.errors.append("%s: %s%s; %s" % (field, problem, got, fix))
        return None

    # --- numbers --------------------------------------------------------------------------------

    def integer(self, field, value, low=None, high=None, fix=None):
        number = as_int(value)
        if number is None or (low is not None and number < low) or (high is not None and number > high):
            bounds = "from %s to %s" % (low, high) if low is not None and high is not None else (
                "of at least %s" % low if low is not None else "of at most %s" % high if high is not None else "")
            return self.fail(field, "not an integer %s" % bounds if bounds else "not an integer", fix or (
                "use a whole number %s" % bounds).strip(), value)
        return number

    def port(self, field, value):
        return self.integer(field, value, 1, 65535, "use a TCP/UDP port number from 1 to 65535")

    def ports(self, field, values):
        if not isinstance(values, (list, tuple)):
            return self.fail(field, "not a list", "list port numbers, for example [443, 6443]", values)
        return [self.port("%s[%d]" % (field, index), value) for index, value in enumerate(values)]

    def octal(self, field, value, digits=3):
        text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        if text is None or not re.match(r"^0?[0-7]{%d}$" % digits, text):
            return self.fail(field, "not an octal mode of %d digits" % digits,
                             "quote it as a string of octal digits, for example '077' or '027'", value)
        return text[-digits:]

    # --- addresses ------------------------------------------------------------------------------

    def cidr(self, field, value, ack_field=None, ack=False):
        """An IPv4/IPv6 address or network; the whole address space needs ``ack_field``."""
        if not isinstance(value, str) or not value.strip() or _CONTROL.search(value) or value != value.strip():
            return self.fail(field, "not an IP address or CIDR", "write one address or network such as 10.0.0.0/8 or fd00::/8",
                             value)
        if value.strip() in ("*", "any", "all"):
            network = None
        else:
            try:
                network = ipaddress.ip_network(value, strict=False)
            except ValueError:
                return self.fail(field, "not an IP address or CIDR",
                                 "write one address or network such as 10.0.0.0/8 or fd00::/8 (nothing else: no rule syntax)",
                                 value)
        if network is None or network.prefixlen == 0:
            if ack_field is None:
                return self.fail(field, "opens to every address", "name the networks that need access", value)
            if not truthy(ack):
                return self.fail(field, "opens to every address",
                                 "name the networks that need access, or set %s: true to accept the exposure" % ack_field, value)
            return value
        return str(network)

    def cidrs(self, field, values, ack_field=None, ack=False):
        if not isinstance(values, (list, tuple)):
            return self.fail(field, "not a list", "list addresses or networks, for example ['10.0.0.0/8']", values)
        return [self.cidr("%s[%d]" % (field, index), value, ack_field, ack) for index, value in enumerate(values)]

    def host(self, field, value):
        """A DNS name or an IP address (an NTP server, a syslog target, ...)."""
        if isinstance(value, str) and value and not _CONTROL.search(value):
            try:
                return str(ipaddress.ip_address(value.strip("[]")))
            except ValueError:
                if _DNS_NAME.match(value):
                    return value
        return self.fail(field, "not a host name or IP address",
                         "use a DNS name (letters, digits, '-', '.') or an IP address, one per entry", value)

    def interface(self, field, value, ack_field=None, ack=False):
        if isinstance(value, str) and value.strip() in ("*", "any", "all"):
            if ack_field is not None and truthy(ack):
                return value
            return self.fail(field, "trusts every interface", "name the interfaces (eth1, br-lab, wg*)%s" % (
                ", or set %s: true to accept the exposure" % ack_field if ack_field else ""), value)
        if not isinstance(value, str) or not _IFNAME.match(value):
            return self.fail(field, "not a network interface name",
                             "use a Linux interface name of at most 15 characters (letters, digits, '_.:-', an optional final '*')",
                             value)
        return value

    def url(self, field, value, schemes=("https", "http")):
        pattern = r"^(%s)://[A-Za-z0-9.\[\]:_-]+(:[0-9]{1,5})?(/[^\s]*)?$" % "|".join(schemes)
        if not isinstance(value, str) or _CONTROL.search(value) or not re.match(pattern, value):
            return self.fail(field, "not a %s URL" % "/".join(schemes),
                             "use %s://host:port" % schemes[0], value)
        return value

    # --- text and names -------------------------------------------------------------------------

    def line(self, field, value, allow_empty=False, forbidden="", what="text", fix=None, limit=1024):
        """One line of text that reaches a config file: no newline or control character, no ``forbidden`` character."""
        if not isinstance(value, str) or (not value.strip() and not allow_empty):
            return self.fail(field, "empty or not a text" if not allow_empty else "not a text", fix or "give a %s" % what, value)
        if _CONTROL.search(value):
            return self.fail(field, "holds a newline or control character",
                             fix or "write the %s on one line without control characters" % what, value)
        bad = sorted(set(char for char in value if char in forbidden))
        if bad:
            return self.fail(field, "holds %s" % " ".join(repr(char) for char in bad),
                             fix or "remove those characters: they are syntax of the file the %s goes into" % what, value)
        if len(value) > limit:
            return self.fail(field, "longer than %d characters" % limit, fix or "shorten it", value)
        return value

    def name(self, field, value, pattern, what, fix):
        if not isinstance(value, str) or not re.match(pattern, value):
            return self.fail(field, "not a valid %s" % what, fix, value)
        return value

    def path(self, field, value, allow_empty=False):
        """An absolute path without ``..``, ``//`` tricks or control characters."""
        if allow_empty and value in ("", None):
            return value
        if isinstance(value, str) and _CONTROL.search(value):
            return self.fail(field, "holds a newline or control character", "write the path on one line", value)
        if not isinstance(value, str) or not value.startswith("/"):
            return self.fail(field, "not an absolute path", "use an absolute path such as /etc/sovereign/file", value)
        if ".." in value.split("/"):
            return self.fail(field, "holds '..'", "use the path without '..' (the real folder it means)", value)
        return value

    def one_of(self, field, value, choices):
        if value not in choices:
            return self.fail(field, "not one of %s" % ", ".join(str(choice) for choice in choices),
                             "use one of those values", value)
        return value

    # --- kernel and Vault formats ---------------------------------------------------------------

    def sysctl(self, field, key, value):
        if not isinstance(key, str) or not _SYSCTL_KEY.match(key):
            self.fail("%s key" % field, "not a sysctl key", "use a dotted key such as net.ipv4.ip_forward", key)
        if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
            return self.fail("%s[%s]" % (field, shown(key, 40)), "not a sysctl value",
                             "use a number or a one-line string such as '1' or '4096 87380 6291456'", value)
        text = str(value)
        if not text.strip() or _CONTROL.search(text.replace("\t", " ")) or "=" in text:
            return self.fail("%s[%s]" % (field, shown(key, 40)), "not a one-line sysctl value",
                             "use a number or a one-line string without '=' or newlines", value)
        return text

    def duration(self, field, value, allow_zero=True, minimum_seconds=0, fix=None):
        """A Vault duration: seconds as an int, or digits with an optional s/m/h/d unit."""
        text = str(value).strip().lower() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        # The grammar of vault_client.parse_duration: seconds, or number+unit parts (90d, 1h30m, 2w).
        seconds, position = (int(text), len(text)) if text.isdigit() else (0, 0)
        for part in ([] if text.isdigit() else _DURATION_PART.finditer(text)):
            if part.start() != position:
                break
            seconds += int(part.group(1)) * _DURATION_SECONDS[part.group(2)]
            position = part.end()
        if not text or position != len(text):
            return self.fail(field, "not a duration", fix or "use seconds or numbers with a unit s, m, h, d or w, such as 30d or 1h30m",
                             value)
        if seconds == 0 and not allow_zero:
            return self.fail(field, "is zero", fix or "use a positive duration such as 30d", value)
        if seconds and seconds < minimum_seconds:
            return self.fail(field, "shorter than %d seconds" % minimum_seconds,
                             fix or "use at least %ds (or 0 to turn it off)" % minimum_seconds, value)
        return seconds


def hcl_policy_errors(text):
    """Problems that make a Vault/OpenBao policy text unparsable (JSON or the HCL subset policies use), or []."""
    if not isinstance(text, str) or not text.strip():
        return ["empty"]
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except ValueError as exc:
            return ["not valid JSON: %s" % exc]
        return [] if isinstance(document, dict) and "path" in document else ["JSON policy without a 'path' object"]
    errors = []
    depth = 0
    in_string = False
    index = 0
    line = 1
    saw_path = False
    while index < len(text):
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
            elif char == "\n":
                errors.append("line %d: string not closed" % line)
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#" or text.startswith("//", index):
            while index < len(text) and text[index] != "\n":
                index += 1
            continue
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            if end < 0:
                errors.append("line %d: comment not closed" % line)
                break
            line += text.count("\n", index, end)
            index = end + 2
            continue
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                errors.append("line %d: '}' without '{'" % line)
                depth = 0
        elif depth == 0 and text.startswith("path", index):
            saw_path = True
        if char == "\n":
            line += 1
        index += 1
    if in_string:
        errors.append("string not closed at the end")
    if depth > 0:
        errors.append("%d '{' not closed" % depth)
    if not saw_path and not errors:
        errors.append("no path block")
    for number, raw in enumerate(text.splitlines(), 1):
        body = raw.split("#", 1)[0].strip()
        if re.match(r"^path\b", body) and not re.match(r'^path\s+"[^"]*"\s*\{', body):
            errors.append("line %d: a path block is written path \"<path>\" {" % number)
        bare = re.sub(r'"(\\.|[^"\\])*"', '""', body)
        if re.search(r"\bcapabilities\b(?!\s*=\s*\[)", bare):
            errors.append("line %d: capabilities is written capabilities = [\"read\", ...]" % number)
    return errors
