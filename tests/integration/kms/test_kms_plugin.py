"""The KMS v2 plugin against a real OpenBao: called over its unix socket exactly as kube-apiserver does."""
import base64
import time

import grpc
import hvac
import pytest

PLAINTEXT = b"\x00dek-seed-\xff" + bytes(range(32))


def test_round_trip_status_and_real_transit_ciphertext(kms_openbao, approle, kms_plugin):
    server, root = kms_openbao
    setup = approle(root)
    plugin = kms_plugin(server, setup)

    status = plugin.status()
    assert (status.version, status.healthz) == ("v2", "ok")
    assert status.key_id == "vault-transit:transit/%s:v1" % setup.key

    encrypted = plugin.encrypt(PLAINTEXT, uid="uid-1")
    assert encrypted.ciphertext.startswith(b"vault:v1:")
    assert PLAINTEXT not in encrypted.ciphertext
    assert encrypted.key_id == status.key_id
    # The ciphertext is OpenBao's own: transit decrypts it with the root token too.
    direct = root.secrets.transit.decrypt_data(name=setup.key, ciphertext=encrypted.ciphertext.decode(),
                                               mount_point="transit")
    assert base64.b64decode(direct["data"]["plaintext"]) == PLAINTEXT

    decrypted = plugin.decrypt(encrypted.ciphertext, key_id=encrypted.key_id, uid="uid-2")
    assert decrypted.plaintext == PLAINTEXT

    code, out = plugin.healthcheck()
    assert code == 0, out
    assert "key_id=vault-transit:transit/%s:v1" % setup.key in out


def test_rotation_changes_key_id_and_old_ciphertexts_still_decrypt(kms_openbao, approle, kms_plugin):
    server, root = kms_openbao
    setup = approle(root)
    plugin = kms_plugin(server, setup)
    old = plugin.encrypt(b"written before the rotation")
    assert old.key_id.endswith(":v1")

    root.secrets.transit.rotate_key(name=setup.key, mount_point="transit")

    status = plugin.status()
    assert status.healthz == "ok"
    assert status.key_id == "vault-transit:transit/%s:v2" % setup.key
    assert status.key_id != old.key_id
    new = plugin.encrypt(b"written after the rotation")
    assert new.ciphertext.startswith(b"vault:v2:")
    assert new.key_id == status.key_id
    assert plugin.decrypt(old.ciphertext, key_id=old.key_id).plaintext == b"written before the rotation"
    assert plugin.decrypt(new.ciphertext, key_id=new.key_id).plaintext == b"written after the rotation"


def test_invalid_ciphertexts_are_rejected(kms_openbao, approle, kms_plugin):
    server, root = kms_openbao
    plugin = kms_plugin(server, approle(root))
    for bad in (b"not-a-vault-ciphertext", b"\xff\xfe", b""):
        with pytest.raises(grpc.RpcError) as err:
            plugin.decrypt(bad)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Well-formed but forged: OpenBao refuses it, the plugin passes the refusal on.
    with pytest.raises(grpc.RpcError) as err:
        plugin.decrypt(b"vault:v1:" + base64.b64encode(b"x" * 40))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        plugin.encrypt(b"")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_policy_limits_the_plugin_to_its_key(kms_openbao, approle, kms_plugin):
    server, root = kms_openbao
    mine, other = approle(root), approle(root)
    foreign = root.secrets.transit.encrypt_data(name=other.key, plaintext=base64.b64encode(b"other").decode(),
                                                mount_point="transit")["data"]["ciphertext"]
    plugin = kms_plugin(server, mine, extra_args=["--transit-key", other.key])  # misconfigured: not its key
    with pytest.raises(grpc.RpcError) as err:
        plugin.decrypt(foreign.encode())
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert plugin.status().healthz.startswith("vault denied")


def test_sealed_openbao_gives_clean_errors_then_recovers(fresh_kms_openbao, approle, kms_plugin):
    server, root = fresh_kms_openbao
    setup = approle(root)
    plugin = kms_plugin(server, setup)
    before = plugin.encrypt(b"before the seal")
    unseal_key = server.unseal_key()  # printed by the dev server at start

    root.sys.seal()
    assert root.sys.is_sealed()
    for call in (lambda: plugin.encrypt(b"while sealed"), lambda: plugin.decrypt(before.ciphertext)):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "sealed" in err.value.details()
    status = plugin.status()
    assert status.healthz != "ok" and "sealed" in status.healthz
    assert status.key_id == ""
    code, out = plugin.healthcheck()
    assert code == 1 and "sealed" in out

    root.sys.submit_unseal_key(unseal_key)
    assert not root.sys.is_sealed()
    assert plugin.status().healthz == "ok"
    assert plugin.decrypt(before.ciphertext).plaintext == b"before the seal"
    assert plugin.healthcheck()[0] == 0


def test_unreachable_openbao_fails_closed(kms_openbao, approle, kms_plugin):
    server, root = kms_openbao
    setup = approle(root)
    from openbao_server import free_port  # noqa: E402 (the vault test helpers are on sys.path via conftest)
    plugin = kms_plugin(server, setup, addr="http://127.0.0.1:%d" % free_port())
    with pytest.raises(grpc.RpcError) as err:
        plugin.encrypt(b"nowhere to go")
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "cannot reach" in err.value.details()
    status = plugin.status()
    assert status.healthz.startswith("vault unavailable") and status.key_id == ""


def test_wrong_secret_id_fails_closed(kms_openbao, approle, kms_plugin):
    server, root = kms_openbao
    setup = approle(root)
    good = root.secrets.transit.encrypt_data(name=setup.key, plaintext=base64.b64encode(b"secret").decode(),
                                             mount_point="transit")["data"]["ciphertext"]
    wrong = "00000000-1111-2222-3333-444444444444"
    setup.secret_id_file.chmod(0o600)
    setup.secret_id_file.write_text(wrong + "\n")
    plugin = kms_plugin(server, setup)

    status = plugin.status()
    assert status.healthz.startswith("vault auth: AppRole login") and status.key_id == ""
    with pytest.raises(grpc.RpcError) as err:
        plugin.encrypt(b"must not pass through")
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as err:
        plugin.decrypt(good.encode())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert plugin.healthcheck()[0] == 1
    log = plugin.log()
    assert wrong not in log and setup.secret_id not in log

    # Failed logins are throttled (back-off), so the role is not locked out by OpenBao's user lockout
    # (5 failures): the fixed secret_id file, re-read at each login, heals the plugin without a restart.
    assert 1 <= log.count("AppRole login failed") <= 4, log
    assert root.read("sys/locked-users")["data"]["total"] == 0
    setup.secret_id_file.write_text(setup.secret_id + "\n")
    deadline = time.monotonic() + 20
    while plugin.status().healthz != "ok":
        assert time.monotonic() < deadline, plugin.log()
        time.sleep(0.5)
    assert plugin.decrypt(good.encode()).plaintext == b"secret"


def test_token_is_renewed_and_replaced_past_its_max_ttl(kms_openbao, approle, kms_plugin):
    server, root = kms_openbao
    setup = approle(root, token_ttl="2s", token_max_ttl="5s")
    plugin = kms_plugin(server, setup)
    ciphertext = plugin.encrypt(b"long-lived").ciphertext
    deadline = time.monotonic() + 8  # well past the 5 s max TTL of the first token
    calls = 0
    while time.monotonic() < deadline:
        assert plugin.decrypt(ciphertext).plaintext == b"long-lived"
        assert plugin.status().healthz == "ok"
        calls += 1
        time.sleep(0.7)
    log = plugin.log()
    assert calls >= 8
    assert "renewed the Vault token" in log, log
    assert log.count("logged in with AppRole") >= 2, log  # re-login once the max TTL capped renewals
    assert "Vault refused the token" not in log, log  # renewal stayed ahead of expiry


def test_logs_carry_no_secrets(kms_openbao, approle, kms_plugin):
    server, root = kms_openbao
    setup = approle(root)
    plugin = kms_plugin(server, setup)  # --log-level DEBUG
    plaintext = b"super-secret-dek-material"
    encrypted = plugin.encrypt(plaintext)
    plugin.decrypt(encrypted.ciphertext)
    plugin.stop()
    log = plugin.log()
    assert "serving KMS v2" in log
    for secret in (setup.secret_id, setup.role_id, plaintext.decode(), base64.b64encode(plaintext).decode(),
                   encrypted.ciphertext.decode()):
        assert secret not in log
    assert isinstance(hvac.Client, type)
