"""Kubeconfig redaction in plugins/module_utils/k8s_client.py: which values are secret, and what the module masks.

Mirrors kubernetes.core's tests/unit/module_utils/test_kubeconfig_redaction.py, for a dict and a file kubeconfig.
"""
import base64
import json
import logging
import secrets
import sys

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.sovereign.cluster.plugins.module_utils import k8s_client
from ansible_collections.sovereign.cluster.plugins.module_utils.k8s_client import (
    K8S_AUTH_ARGSPEC, K8sClientError, build_configuration, kubeconfig_secrets, redact_k8s_auth)


def _planted():
    marker = secrets.token_hex(8)
    key_pem = "-----BEGIN EC PRIVATE KEY-----\nPLANTED-KEY-%s\n-----END EC PRIVATE KEY-----" % marker
    return {
        "token": "planted-token-%s" % secrets.token_hex(12),
        "password": "planted-password-%s" % secrets.token_hex(12),
        "client_key_pem": key_pem,
        "client_key_data": base64.b64encode(key_pem.encode()).decode(),
        "id_token": "planted-id-token-%s" % secrets.token_hex(12),
        "refresh_token": "planted-refresh-token-%s" % secrets.token_hex(12),
        "access_token": "planted-access-token-%s" % secrets.token_hex(12),
        "client_secret": "planted-client-secret-%s" % secrets.token_hex(12),
        "exec_env": "planted-exec-env-%s" % secrets.token_hex(12),
        "token_file": "planted-token-file-%s" % secrets.token_hex(12),
        "proxy_password": "planted-proxy-password-%s" % secrets.token_hex(12),
    }


def planted_kubeconfig(planted, token_file):
    """A kubeconfig holding one planted value in every secret field, next to fields that are not secret."""
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "token",
        "clusters": [
            {"name": "api", "cluster": {"server": "https://api.example.internal:6443",
                                        "certificate-authority-data": "Q0EtREFUQQ=="}},
            {"name": "proxied", "cluster": {"server": "https://api.example.internal:6443",
                                            "proxy-url": "http://ops:%s@proxy.example.internal:3128"
                                                         % planted["proxy_password"]}},
        ],
        "contexts": [{"name": "token", "context": {"cluster": "api", "user": "token-user", "namespace": "team-a"}}],
        "users": [
            {"name": "token-user", "user": {"token": planted["token"], "client-certificate-data": "Q0VSVA==",
                                            "client-key-data": planted["client_key_data"]}},
            {"name": "basic", "user": {"username": "admin", "password": planted["password"]}},
            {"name": "oidc", "user": {"auth-provider": {"name": "oidc", "config": {
                "client-id": "kubernetes", "idp-issuer-url": "https://sso.example.internal",
                "id-token": planted["id_token"], "refresh-token": planted["refresh_token"],
                "client-secret": planted["client_secret"]}}}},
            {"name": "gcp", "user": {"auth-provider": {"name": "gcp", "config": {
                "access-token": planted["access_token"], "expiry": "2099-01-01T00:00:00Z"}}}},
            {"name": "exec", "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1", "command": "kubelogin", "args": ["get-token"],
                "env": [{"name": "LOGIN_SECRET", "value": planted["exec_env"]}]}}},
            {"name": "token-file", "user": {"tokenFile": str(token_file)}},
        ],
    }


def _expected(planted):
    return {planted[key] for key in ("token", "password", "client_key_pem", "client_key_data", "id_token",
                                     "refresh_token", "access_token", "client_secret", "exec_env", "token_file",
                                     "proxy_password")}


@pytest.fixture()
def planted(tmp_path):
    values = _planted()
    token_file = tmp_path / "token"
    token_file.write_text(values["token_file"] + "\n")
    values["kubeconfig"] = planted_kubeconfig(values, token_file)
    return values


def test_every_secret_field_of_a_dict_kubeconfig_is_found_and_nothing_else(planted):
    assert kubeconfig_secrets(planted["kubeconfig"]) == _expected(planted)


def test_a_file_kubeconfig_yields_the_same_secrets(planted, tmp_path):
    path = tmp_path / "config"
    path.write_text(json.dumps(planted["kubeconfig"]))  # JSON is YAML
    assert kubeconfig_secrets(str(path)) == _expected(planted)


def test_colon_separated_files_are_all_read_and_missing_or_broken_ones_add_nothing(planted, tmp_path):
    users = planted["kubeconfig"]["users"]
    first, second, broken = tmp_path / "a", tmp_path / "b", tmp_path / "broken"
    first.write_text(json.dumps({"users": users[:1]}))
    second.write_text(json.dumps({"users": users[1:2]}))
    broken.write_text("users: [\n  - name: x\n    token: %s\n" % planted["token"])
    paths = ":".join(str(p) for p in (first, tmp_path / "missing", broken, second))
    assert kubeconfig_secrets(paths) == {planted["token"], planted["client_key_data"], planted["client_key_pem"],
                                         planted["password"]}
    assert kubeconfig_secrets(str(broken)) == set()
    assert kubeconfig_secrets(None) == set() and kubeconfig_secrets({}) == set()


def test_a_broken_kubeconfig_file_is_reported_by_path_and_position_without_quoting_it(planted, tmp_path):
    broken = tmp_path / "broken"
    broken.write_text("users:\n- name: x\n  user: {token: %s\n" % planted["token"])
    with pytest.raises(K8sClientError) as caught:
        build_configuration({"kubeconfig": str(broken)})
    assert str(caught.value).startswith("kubeconfig: the file %r is not valid YAML at line " % str(broken))
    assert planted["token"] not in str(caught.value)


def _module(args, monkeypatch):
    """AnsibleModule with the collection's connection options, its 'Invoked with' log line captured."""
    logged = []
    monkeypatch.setattr(AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg))
    with patch_module_args(args):
        module = AnsibleModule(argument_spec=dict(K8S_AUTH_ARGSPEC, tenant=dict(type="str")))
    return module, logged


def test_the_invocation_log_line_never_holds_the_kubeconfig(planted, monkeypatch):
    # AnsibleModule logs its arguments to syslog/journald inside its constructor, before a module can add the
    # kubeconfig's secrets to no_log_values: the option is no_log so that line never shows it.
    logged = _module({"kubeconfig": planted["kubeconfig"], "tenant": "team-b"}, monkeypatch)[1]
    assert len(logged) == 1 and "kubeconfig=NOT_LOGGING_PARAMETER" in logged[0] and "tenant=team-b" in logged[0]
    assert not any(value in logged[0] for value in _expected(planted))


def test_redaction_masks_exactly_the_secrets_and_api_key(planted, monkeypatch):
    module, _logged = _module({"kubeconfig": planted["kubeconfig"], "api_key": "planted-api-key",
                               "proxy": "http://ops:planted-proxy-param@proxy:3128", "tenant": "team-a"},
                              monkeypatch)
    assert "v1" in module.no_log_values and "team-a" in module.no_log_values  # Ansible masks every value at first
    redact_k8s_auth(module)
    assert module.no_log_values == _expected(planted) | {"planted-api-key", "planted-proxy-param"}


def test_a_kubeconfig_value_equal_to_another_no_log_option_stays_masked(planted, monkeypatch):
    kubeconfig = dict(planted["kubeconfig"], **{"current-context": "shared-value"})
    module, _logged = _module({"kubeconfig": kubeconfig, "api_key": "shared-value"}, monkeypatch)
    redact_k8s_auth(module)
    assert "shared-value" in module.no_log_values and "https://api.example.internal:6443" not in module.no_log_values


def test_a_kubeconfig_path_is_not_masked_but_its_secrets_are(planted, tmp_path, monkeypatch):
    path = tmp_path / "config"
    path.write_text(json.dumps(planted["kubeconfig"]))
    module, _logged = _module({"kubeconfig": str(path)}, monkeypatch)
    assert str(path) in module.no_log_values
    redact_k8s_auth(module)
    assert module.no_log_values == _expected(planted)


def test_the_default_kubeconfig_file_is_redacted_too(planted, tmp_path, monkeypatch):
    path = tmp_path / "default-config"
    path.write_text(json.dumps(planted["kubeconfig"]))
    monkeypatch.setenv("KUBECONFIG", "%s:%s" % (tmp_path / "missing", path))
    module, _logged = _module({}, monkeypatch)
    redact_k8s_auth(module)
    assert module.no_log_values == _expected(planted)
    # with host and no context the default file is not read, so there is nothing of it to mask
    module, _logged = _module({"host": "https://api.example.internal:6443"}, monkeypatch)
    assert redact_k8s_auth(module) == set()


def test_the_masked_result_shows_the_kubeconfig_without_its_secrets(planted, monkeypatch, capsys):
    monkeypatch.setattr(AnsibleModule, "log", lambda self, msg, log_args=None: None)
    with patch_module_args({"kubeconfig": planted["kubeconfig"], "tenant": "team-a"}):
        module = AnsibleModule(argument_spec=dict(K8S_AUTH_ARGSPEC, tenant=dict(type="str")))
        redact_k8s_auth(module)
        with pytest.raises(SystemExit):
            module.fail_json(msg="listing failed for user token-user with %s" % planted["token"])
    result = json.loads(capsys.readouterr().out)
    shown = json.dumps(result)
    assert not any(value in shown for value in _expected(planted))
    assert result["msg"] == "listing failed for user token-user with ********"
    users = {user["name"]: user["user"] for user in result["invocation"]["module_args"]["kubeconfig"]["users"]}
    assert users["basic"] == {"username": "admin", "password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}
    assert result["invocation"]["module_args"]["kubeconfig"]["clusters"][0]["cluster"]["server"] == (
        "https://api.example.internal:6443")


def test_what_the_client_logs_while_loading_goes_to_the_module_not_to_stderr(planted, tmp_path, capfd):
    # An exec plugin that fails and echoes its environment: the client logs its stderr and carries on.
    plugin = tmp_path / "plugin"
    plugin.write_text("#!%s\nimport os, sys\nsys.stderr.write('login refused for ' + os.environ['LOGIN_SECRET'])\n"
                      "sys.exit(3)\n" % sys.executable)
    plugin.chmod(0o700)
    kubeconfig = planted["kubeconfig"]
    kubeconfig["contexts"].append({"name": "exec", "context": {"cluster": "api", "user": "exec"}})
    kubeconfig["users"][4]["user"]["exec"]["command"] = str(plugin)
    client_warnings = []
    build_configuration({"kubeconfig": kubeconfig, "context": "exec"}, client_warnings)
    assert client_warnings == ["kubernetes client: exec: process returned 3. login refused for %s"
                               % planted["exec_env"]]
    captured = capfd.readouterr()
    assert planted["exec_env"] not in captured.err + captured.out
    assert not any(isinstance(h, k8s_client._ClientLogCapture) for h in logging.getLogger().handlers)
