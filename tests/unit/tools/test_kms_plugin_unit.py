"""Unit tests for the pure parts of the KMS v2 plugin (tools/kms-vault-plugin) and its fail-closed service."""
import filecmp
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from sovereign_kms import api_pb2, renewal, server, vault

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "tools" / "kms-vault-plugin"


# --- key id -----------------------------------------------------------------------------------------

def test_key_id_names_mount_key_and_version():
    assert server.derive_key_id("transit", "kube-secrets", 1) == "vault-transit:transit/kube-secrets:v1"
    assert server.derive_key_id("/kms/transit/", "k", 12) == "vault-transit:kms/transit/k:v12"


def test_key_id_changes_with_the_key_version_and_is_stable_for_one():
    ids = {server.derive_key_id("transit", "k", v) for v in range(1, 50)}
    assert len(ids) == 49
    assert server.derive_key_id("transit", "k", 7) == server.derive_key_id("transit", "k", 7)


@pytest.mark.parametrize("version", [0, -1, None, "1", 1.0, True])
def test_key_id_rejects_non_versions(version):
    with pytest.raises(ValueError, match="version must be an integer"):
        server.derive_key_id("transit", "k", version)


def test_key_id_respects_the_apiserver_1kb_limit():
    with pytest.raises(ValueError, match="longer than 1024 bytes"):
        server.derive_key_id("transit", "k" * 1100, 1)
    with pytest.raises(ValueError, match="must not be empty"):
        server.derive_key_id("transit", "", 1)


@pytest.mark.parametrize("ciphertext, version", [
    ("vault:v1:AAAA", 1), ("vault:v23:abc+/=", 23), ("vault:v0:AAAA", None), ("vault:1:AAAA", None),
    ("AAAA", None), ("vault:v1:", None), ("vault:v1:AA\nAA", None),
])
def test_key_version_of_ciphertext(ciphertext, version):
    assert vault.key_version_of(ciphertext) == version


@pytest.mark.parametrize("status, errors, kind", [
    (503, ["Vault is sealed"], vault.SEALED), (503, ["error performing token check"], vault.UNAVAILABLE),
    (500, ["internal error"], vault.UNAVAILABLE), (429, [], vault.UNAVAILABLE), (473, [], vault.UNAVAILABLE),
    (403, ["permission denied"], vault.DENIED), (400, ["invalid ciphertext"], vault.INVALID),
    (404, [], vault.INVALID), (418, [], vault.PROTOCOL),
])
def test_http_errors_are_classified(status, errors, kind):
    assert vault.classify_http_error(status, errors) == kind


def test_vault_address_must_be_http_url():
    with pytest.raises(ValueError, match="must be http"):
        vault.VaultClient("vault.example:8200")


# --- renewal scheduling ----------------------------------------------------------------------------

def test_plan_logs_in_without_a_token():
    assert renewal.plan_next(None, 100.0) == renewal.Plan("login", 100.0)


def test_plan_renews_a_renewable_token_at_two_thirds_of_its_lease():
    lease = renewal.Lease(obtained_at=100.0, ttl=30, renewable=True, login_ttl=30)
    assert renewal.plan_next(lease, 101.0) == renewal.Plan("renew", 120.0)


def test_plan_logs_in_again_when_the_token_is_not_renewable():
    lease = renewal.Lease(obtained_at=0.0, ttl=60, renewable=False, login_ttl=60)
    assert renewal.plan_next(lease, 1.0) == renewal.Plan("login", 40.0)


def test_plan_logs_in_again_when_renewal_was_capped_by_max_ttl():
    lease = renewal.Lease(obtained_at=10.0, ttl=3, renewable=True, login_ttl=30)
    assert renewal.plan_next(lease, 10.0) == renewal.Plan("login", 12.0)


def test_plan_leaves_a_non_expiring_token_alone():
    assert renewal.plan_next(renewal.Lease(0.0, 0, False, 0), 5.0) == renewal.Plan("none", None)


def test_token_is_not_used_within_the_expiry_margin():
    lease = renewal.Lease(obtained_at=0.0, ttl=100, renewable=True, login_ttl=100)
    assert renewal.usable(lease, 98.9)
    assert not renewal.usable(lease, 99.0)  # margin min(1 s, 10 %)
    short = renewal.Lease(obtained_at=0.0, ttl=2, renewable=True, login_ttl=2)
    assert renewal.usable(short, 1.7) and not renewal.usable(short, 1.8)
    assert not renewal.usable(None, 0.0)
    assert renewal.usable(renewal.Lease(0.0, 0, False, 0), 1e9)


def test_retry_delay_backs_off_to_a_ceiling():
    assert [renewal.retry_delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeVault:
    """Hands out tokens like Vault with token_ttl=30, token_max_ttl=60."""

    def __init__(self, clock, fail_login=None, fail_renew=None):
        self.clock = clock
        self.fail_login = fail_login
        self.fail_renew = fail_renew
        self.calls = []
        self.issued = 0
        self.expiry = {}

    def approle_login(self, mount, role_id, secret_id):
        self.calls.append(("login", mount, role_id, secret_id))
        if self.fail_login:
            raise self.fail_login
        self.issued += 1
        token = "t%d" % self.issued
        self.expiry[token] = self.clock.now + 60
        return token, 30, True

    def renew_self(self, token):
        self.calls.append(("renew", token))
        if self.fail_renew:
            raise self.fail_renew
        ttl = int(min(30, self.expiry[token] - self.clock.now))
        return token, ttl, True


def test_manager_renews_then_logs_in_again_past_max_ttl():
    clock = FakeClock()
    fake = FakeVault(clock)
    manager = renewal.TokenManager(fake, "approle", lambda: ("rid", "sid"), clock=clock)
    assert manager.token() == "t1"
    assert manager.maintain_once() == 20.0  # nothing due before 2/3 of 30 s
    clock.now = 20.0
    assert manager.maintain_once() == 40.0  # renewed for 30 s
    clock.now = 40.0
    manager.maintain_once()  # renewed but capped at the max TTL (60 - 40 = 20 s)
    assert [c[0] for c in fake.calls] == ["login", "renew", "renew"]
    clock.now = 55.0
    manager.maintain_once()  # capped lease -> log in again instead of renewing
    assert fake.calls[-1][0] == "login" and manager.token() == "t2"
    assert (manager.logins, manager.renewals) == (2, 2)


def test_manager_logs_in_again_when_renewal_fails():
    clock = FakeClock()
    fake = FakeVault(clock, fail_renew=vault.VaultError(vault.DENIED, "permission denied"))
    manager = renewal.TokenManager(fake, "approle", lambda: ("rid", "sid"), clock=clock)
    manager.token()
    clock.now = 21.0
    manager.maintain_once()
    assert [c[0] for c in fake.calls] == ["login", "renew", "login"]
    assert manager.token() == "t2"


def test_manager_throttles_failed_logins():
    clock = FakeClock()
    fake = FakeVault(clock, fail_login=vault.VaultError(vault.AUTH, "refused"))
    manager = renewal.TokenManager(fake, "approle", lambda: ("rid", "sid"), clock=clock)
    for attempt in range(5):
        clock.now = attempt * 0.1  # five requests within the first 0.5 s back-off
        with pytest.raises(vault.VaultError):
            manager.token()
    assert len(fake.calls) == 1  # the rest were answered from the back-off, not sent to Vault
    clock.now = 0.6
    with pytest.raises(vault.VaultError):
        manager.token()
    assert len(fake.calls) == 2  # 1 s back-off from now on
    fake.fail_login = None
    clock.now = 1.5  # still backing off (until 1.6)
    with pytest.raises(vault.VaultError):
        manager.token()
    clock.now = 1.7
    assert manager.token() == "t1"


def test_manager_invalidate_forces_a_new_login():
    clock = FakeClock()
    fake = FakeVault(clock)
    manager = renewal.TokenManager(fake, "approle", lambda: ("rid", "sid"), clock=clock)
    assert manager.token() == "t1"
    manager.invalidate("other")  # a stale token from another request does not drop the current one
    assert manager.token() == "t1"
    manager.invalidate("t1")
    assert manager.token() == "t2"


# --- the service fails closed ----------------------------------------------------------------------

class Aborted(Exception):
    pass


class FakeContext:
    def abort(self, code, details):
        self.code, self.details = code, details
        raise Aborted(details)


class FakeTokens:
    def __init__(self):
        self.invalidated = []

    def token(self):
        return "tok"

    def invalidate(self, token):
        self.invalidated.append(token)


class ScriptedVault:
    def __init__(self, encrypt=None, decrypt=None):
        self.encrypt, self.decrypt = encrypt, decrypt

    def transit_encrypt(self, token, mount, key, plaintext):
        if isinstance(self.encrypt, Exception):
            raise self.encrypt
        return self.encrypt(plaintext)

    def transit_decrypt(self, token, mount, key, ciphertext):
        if isinstance(self.decrypt, Exception):
            raise self.decrypt
        return self.decrypt(ciphertext)


@pytest.mark.parametrize("kind, code", [
    (vault.SEALED, grpc.StatusCode.UNAVAILABLE), (vault.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE),
    (vault.AUTH, grpc.StatusCode.UNAUTHENTICATED), (vault.DENIED, grpc.StatusCode.PERMISSION_DENIED),
    (vault.INVALID, grpc.StatusCode.INVALID_ARGUMENT), (vault.PROTOCOL, grpc.StatusCode.INTERNAL),
])
def test_vault_errors_become_grpc_errors_never_data(kind, code):
    error = vault.VaultError(kind, "boom")
    service = server.KmsService(ScriptedVault(encrypt=error, decrypt=error), FakeTokens(), "transit", "k")
    for call, request in ((service.Encrypt, api_pb2.EncryptRequest(plaintext=b"p")),
                          (service.Decrypt, api_pb2.DecryptRequest(ciphertext=b"vault:v1:AAAA"))):
        context = FakeContext()
        with pytest.raises(Aborted):
            call(request, context)
        assert context.code == code and "boom" in context.details
    status = service.Status(api_pb2.StatusRequest(), FakeContext())
    assert status.healthz != "ok" and status.key_id == "" and status.version == "v2"


def test_denied_token_is_replaced_and_retried_once():
    tokens = FakeTokens()
    error = vault.VaultError(vault.DENIED, "permission denied")
    service = server.KmsService(ScriptedVault(encrypt=error), tokens, "transit", "k")
    context = FakeContext()
    with pytest.raises(Aborted):
        service.Encrypt(api_pb2.EncryptRequest(plaintext=b"p"), context)
    assert tokens.invalidated == ["tok"] and context.code == grpc.StatusCode.PERMISSION_DENIED


def test_encrypt_refuses_a_ciphertext_equal_to_the_plaintext():
    plaintext = b"vault:v1:AAAA"
    service = server.KmsService(ScriptedVault(encrypt=lambda p: (p.decode(), 1)), FakeTokens(), "transit", "k")
    context = FakeContext()
    with pytest.raises(Aborted):
        service.Encrypt(api_pb2.EncryptRequest(plaintext=plaintext), context)
    assert context.code == grpc.StatusCode.INTERNAL


def test_status_is_unhealthy_when_the_round_trip_differs():
    service = server.KmsService(ScriptedVault(encrypt=lambda p: ("vault:v3:AAAA", 3), decrypt=lambda c: b"other"),
                                FakeTokens(), "transit", "k")
    status = service.Status(api_pb2.StatusRequest(), FakeContext())
    assert status.healthz.startswith("vault protocol") and status.key_id == ""


def test_status_reports_the_key_id_of_the_write_key():
    service = server.KmsService(ScriptedVault(encrypt=lambda p: ("vault:v3:AAAA", 3), decrypt=lambda c: server.HEALTH_PROBE),
                                FakeTokens(), "transit", "k")
    status = service.Status(api_pb2.StatusRequest(), FakeContext())
    assert (status.version, status.healthz, status.key_id) == ("v2", "ok", "vault-transit:transit/k:v3")


def test_secret_files_must_exist_and_not_be_empty(tmp_path):
    with pytest.raises(vault.VaultError, match="cannot read the secret_id file"):
        server.read_secret_file(str(tmp_path / "missing"), "secret_id")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(vault.VaultError, match="secret_id file .* is empty"):
        server.read_secret_file(str(empty), "secret_id")
    good = tmp_path / "good"
    good.write_text("abc\n")
    assert server.read_secret_file(str(good), "role_id") == "abc"


def test_serve_requires_its_options():
    with pytest.raises(SystemExit, match="--vault-addr, --transit-key, --role-id-file, --secret-id-file"):
        server.serve(server.build_parser().parse_args([]))


# --- the API definition ----------------------------------------------------------------------------

def test_service_is_kms_v2_as_kube_apiserver_calls_it():
    service = api_pb2.DESCRIPTOR.services_by_name["KeyManagementService"]
    assert service.full_name == "v2.KeyManagementService"
    assert {m.name: (m.input_type.name, m.output_type.name) for m in service.methods} == {
        "Status": ("StatusRequest", "StatusResponse"),
        "Encrypt": ("EncryptRequest", "EncryptResponse"),
        "Decrypt": ("DecryptRequest", "DecryptResponse"),
    }
    fields = {name: [(f.name, f.number) for f in api_pb2.DESCRIPTOR.message_types_by_name[name].fields]
              for name in ("StatusResponse", "EncryptRequest", "EncryptResponse", "DecryptRequest")}
    assert fields == {
        "StatusResponse": [("version", 1), ("healthz", 2), ("key_id", 3)],
        "EncryptRequest": [("plaintext", 1), ("uid", 2)],
        "EncryptResponse": [("ciphertext", 1), ("key_id", 2), ("annotations", 3)],
        "DecryptRequest": [("ciphertext", 1), ("uid", 2), ("key_id", 3), ("annotations", 4)],
    }


def test_committed_stubs_match_api_proto(tmp_path):
    """The generated api_pb2*.py are exactly what grpcio-tools makes of api.proto (no drift)."""
    (tmp_path / "sovereign_kms").mkdir()
    (tmp_path / "sovereign_kms" / "api.proto").write_bytes((PLUGIN_DIR / "sovereign_kms" / "api.proto").read_bytes())
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.", "--grpc_python_out=.",
                    "sovereign_kms/api.proto"], cwd=str(tmp_path), check=True)
    for name in ("api_pb2.py", "api_pb2_grpc.py"):
        assert filecmp.cmp(tmp_path / "sovereign_kms" / name, PLUGIN_DIR / "sovereign_kms" / name, shallow=False), name
