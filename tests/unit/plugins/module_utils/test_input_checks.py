# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared input checks: each bad value gives one message naming the field; each good value none."""
import pytest

from ansible_collections.sovereign.cluster.plugins.module_utils.input_checks import Checks, hcl_policy_errors


def errors(method, *args, **kwargs):
    checks = Checks()
    result = getattr(checks, method)("field", *args, **kwargs)
    return result, checks.errors


BAD = [
    ("port", (0,), {}), ("port", (65536,), {}), ("port", ("22; drop",), {}), ("port", (True,), {}), ("port", (None,), {}),
    ("cidr", ("10.0.0.1 accept; tcp dport 1-65535",), {}), ("cidr", ("10.0.0.0/33",), {}), ("cidr", ("",), {}),
    ("cidr", (" 10.0.0.0/8",), {}), ("cidr", ("0.0.0.0/0", "ack_var", False), {}), ("cidr", ("::/0", "ack_var", False), {}),
    ("cidr", ("*", "ack_var", False), {}), ("cidr", ("0.0.0.0/0",), {}),
    ("host", ("",), {}), ("host", ("ntp1\nserver evil",), {}), ("host", ("a b",), {}), ("host", ("-bad.example",), {}),
    ("interface", ("*", "ack_var", False), {}), ("interface", ('eth0" accept',), {}), ("interface", ("averyverylongname0",), {}),
    ("octal", ("089",), {}), ("octal", ("u=rwx",), {}), ("octal", (77,), {}),
    ("integer", (-1,), {"low": 0}), ("integer", ("ten",), {}), ("integer", (10 ** 30,), {"high": 100}),
    ("line", ("a\nb",), {}), ("line", ("",), {}), ("line", ('say "x"',), {"forbidden": '"'}),
    ("path", ("relative/path",), {}), ("path", ("/var/../etc",), {}), ("path", ("/etc/a\nb",), {}),
    ("url", ("ftp://mirror",), {}), ("url", ("https://a b",), {}), ("url", ("vault:8200",), {}),
    ("duration", ("0",), {"allow_zero": False}), ("duration", ("1x",), {}), ("duration", ("30m",), {"minimum_seconds": 3600}),
    ("one_of", ("udp", ["relp", "tcp"]), {}),
]
GOOD = [
    ("port", (22,), {}, 22), ("port", ("6443",), {}, 6443),
    ("cidr", ("10.1.2.3/8",), {}, "10.0.0.0/8"), ("cidr", ("fd00::1",), {}, "fd00::1/128"),
    ("cidr", ("0.0.0.0/0", "ack_var", True), {}, "0.0.0.0/0"),
    ("host", ("ntp1.site.internal",), {}, "ntp1.site.internal"), ("host", ("10.0.0.5",), {}, "10.0.0.5"),
    ("interface", ("wg*",), {}, "wg*"), ("octal", ("027",), {}, "027"), ("octal", ("0077",), {}, "077"),
    ("duration", ("30d",), {}, 2592000), ("duration", (0,), {}, 0), ("path", ("/etc/sovereign/x",), {}, "/etc/sovereign/x"),
    ("url", ("https://vault.site.internal:8200",), {}, "https://vault.site.internal:8200"),
]


@pytest.mark.parametrize("method,args,kwargs", BAD, ids=["%s-%r" % (case[0], case[1][0]) for case in BAD])
def test_bad_value_gives_one_message_naming_the_field(method, args, kwargs):
    result, messages = errors(method, *args, **kwargs)
    assert (result, len(messages), messages[0].startswith("field: ")) == (None, 1, True), messages


@pytest.mark.parametrize("method,args,kwargs,expected", GOOD, ids=["%s-%r" % (case[0], case[1][0]) for case in GOOD])
def test_good_value_is_normalised(method, args, kwargs, expected):
    assert errors(method, *args, **kwargs) == (expected, [])


def test_exposure_message_names_the_acknowledgement():
    assert "set ack_var: true" in errors("cidr", "0.0.0.0/0", "ack_var", False)[1][0]


def test_sysctl_key_and_value():
    checks = Checks()
    checks.sysctl("overrides", "net ipv4", "1\n2")
    checks.sysctl("overrides", "net.ipv4.ip_forward", "0")
    assert len(checks.errors) == 2 and all(message.startswith("overrides") for message in checks.errors)


@pytest.mark.parametrize("text", ['path "transit/encrypt/a" {\n  capabilities = ["update"]\n}\n',
                                  '{"path": {"a/*": {"capabilities": ["read"]}}}',
                                  '# comment\npath "a" { capabilities = ["read"] } /* x */\n'])
def test_valid_policies(text):
    assert hcl_policy_errors(text) == []


@pytest.mark.parametrize("text", ["", "not hcl", 'path "a" { capabilities = ["read"]', 'path "a" { capabilities = ["read"] }}',
                                  'path "a {\n capabilities = ["read"] }', '{"path": ', 'path a { capabilities = ["read"] }',
                                  'path "a" { capabilities "read" }'])
def test_invalid_policies(text):
    assert hcl_policy_errors(text) != []


@pytest.mark.parametrize("text,seconds", [("1h30m", 5400), ("2w", 1209600), ("90d", 7776000), ("3600", 3600), (60, 60)])
def test_durations_follow_vault_client_grammar(text, seconds):
    from ansible_collections.sovereign.cluster.plugins.module_utils.vault_client import parse_duration
    assert (errors("duration", text), parse_duration(text, "field")) == ((seconds, []), seconds)


def test_a_path_with_a_newline_says_so():
    assert "holds a newline" in errors("path", "/etc/a\nb")[1][0]
