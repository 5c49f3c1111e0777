"""Real OpenBao servers for the vault_* module tests (and later role tests).

Fixtures (session scope unless said otherwise):

* ``openbao``: a dev server as OpenBao ships it: API creation of audit devices is refused; one
  file audit device ``declared`` is declared in its config (``openbao_declared_audit_log``).
* ``openbao_audit_api``: a dev server with ``unsafe_allow_api_audit_creation = true`` so audit devices
  can be created through the API (what HashiCorp Vault allows).
* ``vault_module``: ``vault_module(name, args, check_mode=False, diff=False)`` runs a module through
  its real entry point (``python -m ansible_collections.sovereign.cluster.plugins.modules.<name>``)
  and returns its JSON result with ``rc``.
* ``openbao_tls``: a dev server with TLS; ``openbao_tls.ca_cert`` is its CA file.
* ``fresh_openbao`` (function scope): a throw-away server, for tests that seal or break it.

Another test folder can reuse them with ``pytest_plugins`` in the root conftest, or by importing
``openbao_server`` after adding this folder to ``sys.path``.
"""
import sys
from pathlib import Path

import hvac
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from openbao_server import OpenBaoServer, ensure_collection_link, find_bao, run_module  # noqa: E402


@pytest.fixture(scope="session")
def bao_binary():
    try:
        return find_bao()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def openbao_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("openbao")


@pytest.fixture(scope="session")
def openbao_declared_audit_log(openbao_workdir):
    return openbao_workdir / "declared-audit.log"


@pytest.fixture(scope="session")
def openbao(bao_binary, openbao_workdir, openbao_declared_audit_log):
    config = 'audit "file" "declared" {\n  options {\n    file_path = "%s"\n  }\n}\n' % openbao_declared_audit_log
    server = OpenBaoServer(openbao_workdir, config_hcl=config, name="openbao")
    server.start()
    try:
        client = hvac.Client(url=server.url, token=server.root_token)
        client.sys.enable_secrets_engine("transit", path="transit")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def openbao_audit_api(bao_binary, openbao_workdir):
    server = OpenBaoServer(openbao_workdir, config_hcl="unsafe_allow_api_audit_creation = true\n",
                           name="openbao-audit-api")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def openbao_tls(bao_binary, openbao_workdir):
    """A dev server listening with TLS (``-dev-tls``); its CA is ``openbao_tls.ca_cert``."""
    server = OpenBaoServer(openbao_workdir, name="openbao-tls", tls=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_openbao(bao_binary, tmp_path):
    server = OpenBaoServer(tmp_path, name="openbao-fresh")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def collections_path():
    return ensure_collection_link()


@pytest.fixture(scope="session")
def vault_module(collections_path, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("module-args")

    def _run(name, args, check_mode=False, diff=False, env=None):
        return run_module(name, args, workdir, check_mode=check_mode, diff=diff, env=env)

    return _run


@pytest.fixture
def root_client(openbao):
    return hvac.Client(url=openbao.url, token=openbao.root_token)
