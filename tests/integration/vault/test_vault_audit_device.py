"""sovereign.cluster.vault_audit_device against real OpenBao servers.

``openbao`` behaves as OpenBao 2.x ships (API creation refused, one device declared in its config);
``openbao_audit_api`` allows API creation, which is how HashiCorp Vault behaves.
"""
import json
import uuid

import hvac
import pytest


def devices(server):
    return hvac.Client(url=server.url, token=server.root_token).sys.list_enabled_audit_devices()["data"]


def test_query_reports_config_declared_device(openbao, openbao_declared_audit_log, vault_module):
    args = dict(openbao.conn(), path="declared", device_type="file", state="query",
                options={"file_path": str(openbao_declared_audit_log)})
    found = vault_module("vault_audit_device", args)
    assert found["changed"] is False and found["exists"] is True and found["matches"] is True
    assert found["device"]["options"] == {"file_path": str(openbao_declared_audit_log)}
    differs = vault_module("vault_audit_device", dict(args, options={"file_path": "/elsewhere.log"}))
    assert differs["exists"] is True and differs["matches"] is False and differs["changed"] is False
    missing = vault_module("vault_audit_device", dict(args, path="not-declared"))
    assert missing["exists"] is False and missing["matches"] is False and missing["changed"] is False


def test_declared_device_present_is_unchanged(openbao, openbao_declared_audit_log, vault_module):
    args = dict(openbao.conn(), path="declared", device_type="file",
                options={"file_path": str(openbao_declared_audit_log)})
    assert vault_module("vault_audit_device", args)["changed"] is False
    assert vault_module("vault_audit_device", args, check_mode=True)["changed"] is False


def test_openbao_refusal_explains_declaration(openbao, openbao_workdir, vault_module):
    log = str(openbao_workdir / "refused.log")
    args = dict(openbao.conn(), path="siem", device_type="file", options={"file_path": log, "mode": "0600"})
    predicted = vault_module("vault_audit_device", args, check_mode=True)
    refused = vault_module("vault_audit_device", args)
    # Check mode predicts the real run: the same refusal, read from the server's configuration before any change.
    assert predicted["failed"] is True and predicted["msg"] == refused["msg"], predicted
    assert predicted["declaration"] == refused["declaration"]
    assert refused["failed"] is True
    assert "declare it in the server configuration" in refused["msg"]
    assert "sovereign.cluster.vault_server" in refused["msg"]
    assert refused["declaration"] == ('audit "file" "siem" {\n  options {\n    file_path = "%s"\n'
                                      '    mode = "0600"\n  }\n}\n' % log)
    assert "siem/" not in devices(openbao)


def test_openbao_refuses_to_replace_declared_device(openbao, openbao_declared_audit_log, vault_module):
    args = dict(openbao.conn(), path="declared", device_type="file",
                options={"file_path": str(openbao_declared_audit_log), "hmac_accessor": False})
    predicted = vault_module("vault_audit_device", args, check_mode=True)
    refused = vault_module("vault_audit_device", args)
    assert predicted["failed"] is True and predicted["msg"] == refused["msg"], predicted
    assert refused["failed"] is True and "change or remove its declaration" in refused["msg"]
    assert devices(openbao)["declared/"]["options"] == {"file_path": str(openbao_declared_audit_log)}


def test_api_device_lifecycle(openbao_audit_api, openbao_workdir, vault_module):
    path = "file-%s" % uuid.uuid4().hex[:6]
    log = str(openbao_workdir / ("%s.log" % path))
    args = dict(openbao_audit_api.conn(), path=path, device_type="file", description="test device",
                options={"file_path": log, "hmac_accessor": False, "mode": "0600"})
    predicted = vault_module("vault_audit_device", args, check_mode=True, diff=True)
    assert predicted["changed"] is True and predicted["diff"]["before"] == {}
    assert predicted["diff"]["after"]["options"] == {"file_path": log, "hmac_accessor": "0", "mode": "0600"}
    assert path + "/" not in devices(openbao_audit_api)

    created = vault_module("vault_audit_device", args)
    assert created["changed"] is True
    live = devices(openbao_audit_api)[path + "/"]
    assert live["type"] == "file" and live["description"] == "test device" and live["options"]["file_path"] == log

    # booleans compare in the server's "1"/"0" form, so a re-run, even written as strings, is unchanged
    assert vault_module("vault_audit_device", args)["changed"] is False
    as_text = dict(args, options={"file_path": log, "hmac_accessor": "false", "mode": "0600"})
    assert vault_module("vault_audit_device", as_text)["changed"] is False

    changed_args = dict(args, options={"file_path": log, "hmac_accessor": True, "mode": "0600"})
    checked = vault_module("vault_audit_device", changed_args, check_mode=True, diff=True)
    assert checked["changed"] is True
    assert checked["diff"]["before"]["options"]["hmac_accessor"] == "0"
    assert checked["diff"]["after"]["options"]["hmac_accessor"] == "1"
    assert devices(openbao_audit_api)[path + "/"]["options"]["hmac_accessor"] == "0"
    replaced = vault_module("vault_audit_device", changed_args)
    assert replaced["changed"] is True
    assert devices(openbao_audit_api)[path + "/"]["options"]["hmac_accessor"] == "1"

    removed = vault_module("vault_audit_device", dict(openbao_audit_api.conn(), path=path, state="absent"))
    assert removed["changed"] is True and path + "/" not in devices(openbao_audit_api)
    again = vault_module("vault_audit_device", dict(openbao_audit_api.conn(), path=path, state="absent"))
    assert again["changed"] is False


def test_socket_device(openbao_audit_api, vault_module):
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    try:
        address = "127.0.0.1:%d" % listener.getsockname()[1]
        path = "socket-%s" % uuid.uuid4().hex[:6]
        args = dict(openbao_audit_api.conn(), path=path, device_type="socket",
                    options={"address": address, "socket_type": "tcp"})
        assert vault_module("vault_audit_device", args)["changed"] is True
        assert vault_module("vault_audit_device", args)["changed"] is False
        assert devices(openbao_audit_api)[path + "/"]["type"] == "socket"
        vault_module("vault_audit_device", dict(openbao_audit_api.conn(), path=path, state="absent"))
    finally:
        listener.close()


@pytest.mark.parametrize("args, field", [
    (dict(path="x", device_type="tape"), "device_type"),
    (dict(path="x"), "device_type"),
    (dict(path="bad path", device_type="file", options={"file_path": "/tmp/x"}), "path 'bad path'"),
    (dict(path="x", device_type="file", options={"file_path": "/proc/no-such-dir/x.log"}), "`options`"),
    (dict(path="x", device_type="file", options={"file_path": "/tmp/x.log", "format": "yaml"}), "`options`"),
])
def test_bad_input_names_the_field(openbao_audit_api, vault_module, args, field):
    result = vault_module("vault_audit_device", dict(openbao_audit_api.conn(), **args))
    assert result["failed"] is True and field in result["msg"]
    assert "x/" not in devices(openbao_audit_api)


def test_audit_log_hashes_secrets(openbao_audit_api, openbao_workdir, vault_module):
    """Through a device made by the module, a login's secret_id and token arrive as hmac-sha256."""
    log = openbao_workdir / "hmac-audit.log"
    result = vault_module("vault_audit_device", dict(openbao_audit_api.conn(), path="hmac-check", device_type="file",
                                                     options={"file_path": str(log)}))
    assert result["changed"] is True
    client = hvac.Client(url=openbao_audit_api.url, token=openbao_audit_api.root_token)
    if "approle/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method("approle")
    client.auth.approle.create_or_update_approle("hmac-check", token_policies=["default"])
    role_id = client.auth.approle.read_role_id("hmac-check")["data"]["role_id"]
    secret_id = "planted-secret-%s" % uuid.uuid4().hex
    client.auth.approle.create_custom_secret_id("hmac-check", secret_id=secret_id)
    login = hvac.Client(url=openbao_audit_api.url).auth.approle.login(role_id=role_id, secret_id=secret_id)
    client_token = login["auth"]["client_token"]

    text = log.read_text()
    assert secret_id not in text and client_token not in text
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    logins = [r for r in records if r.get("request", {}).get("path") == "auth/approle/login"]
    assert logins, "no login request in the audit log"
    request = next(r for r in logins if r["type"] == "request")
    assert request["request"]["data"]["secret_id"].startswith("hmac-sha256:")
    response = next(r for r in logins if r["type"] == "response")
    assert response["auth"]["client_token"].startswith("hmac-sha256:")
