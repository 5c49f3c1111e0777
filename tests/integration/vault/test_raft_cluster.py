"""A real 3-node OpenBao raft cluster on loopback, set up and initialised by roles/vault_server.

* The role's own ``server.hcl.j2`` is rendered for three hosts of the group ``vault_servers`` by
  ansible-playbook, after the role's ``validate.yml`` (so the role's defaults are scoped exactly as in
  a real run: role defaults are not in ``hostvars[peer]``). Each node gets its own API and cluster
  port on 127.0.0.1 and ``retry_join`` blocks to the other two; one CA, one certificate for
  127.0.0.1/localhost.
* The role's own ``init.yml`` initialises node1 with ``vault_server_pgp_keys`` = three real GnuPG
  public keys (3 shares, threshold 2) and the root token encrypted to a fourth key. Only the
  service start of ``service.yml`` (systemd) is replaced, by the same ``sys/health`` read.
  The first run stops, as documented, because the role cannot use encrypted keys; the custodians
  decrypt their shares with gpg; a second run of the same tasks with ``vault_server_unseal_keys``
  unseals node1, then nodes 2 and 3 once they have joined it through ``retry_join``.
* The collection's modules then run against a standby node, and the leader is killed.
"""
import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import hvac
import pytest

from openbao_server import REPO, free_port, module_env
from test_auto_unseal import RaftNode, make_tls

GPG = "/usr/bin/gpg"
CUSTODIANS = ["custodian%d@raft-test.invalid" % n for n in (1, 2, 3)]
ROOT_TOKEN_HOLDER = "root-token-holder@raft-test.invalid"
NODES = ["node1", "node2", "node3"]

RENDER_PLAY = """---
- name: Render the vault_server configuration of every node with the role's defaults and template
  hosts: vault_servers
  gather_facts: false
  tasks:
    - name: Check the settings and load the role defaults, as the role does
      ansible.builtin.include_role:
        name: sovereign.cluster.vault_server
        tasks_from: validate.yml
        public: true
    - name: Render the server configuration
      ansible.builtin.template:
        src: {template}
        dest: "{{{{ rendered_config }}}}"
        mode: "0600"
"""

# service.yml starts a systemd unit (no systemd here: the test starts the processes), then reads
# sys/health into _vault_server_health; init.yml needs only that fact from it.
INIT_PLAY = """---
- name: Initialise and unseal with the vault_server role's own init tasks
  hosts: vault_servers
  gather_facts: false
  tasks:
    - name: Check the settings and name the first node, as the role does
      ansible.builtin.include_role:
        name: sovereign.cluster.vault_server
        tasks_from: validate.yml
        public: true
    - name: Wait for the API to answer over TLS (the read of the role's service.yml)
      ansible.builtin.uri:
        url: "{{ _vault_server_local_url }}/v1/sys/health"
        ca_path: "{{ vault_server_tls_dir }}/ca.crt"
        status_code: [200, 429, 472, 473, 501, 503]
      register: _vault_server_health
      until: _vault_server_health.status in [200, 429, 472, 473, 501, 503]
      retries: 30
      delay: 1
    - name: Initialise the first node and unseal
      ansible.builtin.include_role:
        name: sovereign.cluster.vault_server
        tasks_from: init.yml
"""


def gpg(home, *args, data=None):
    proc = subprocess.run([GPG, "--homedir", str(home), "--batch", "--quiet", *args], input=data,
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, "gpg %s: %s" % (" ".join(args), proc.stderr.decode(errors="replace"))
    return proc.stdout


def make_pgp_keys(home):
    """{uid: (base64 public key as OpenBao takes it, encryption subkey id)} for throw-away custodians."""
    home.mkdir(mode=0o700)
    keys = {}
    for uid in CUSTODIANS + [ROOT_TOKEN_HOLDER]:
        gpg(home, "--passphrase", "", "--quick-gen-key", uid, "future-default", "default", "never")
        listing = gpg(home, "--with-colons", "--list-keys", uid).decode()
        subkey = [line.split(":")[4] for line in listing.splitlines() if line.startswith("sub:")][0]
        keys[uid] = (base64.b64encode(gpg(home, "--export", uid)).decode(), subkey)
    return keys


def recipient(home, encrypted_b64):
    """Key id the PGP message is encrypted to (from its public-key encrypted session key packet)."""
    packets = gpg(home, "--list-packets", data=base64.b64decode(encrypted_b64)).decode()
    return [line.split("keyid")[1].strip() for line in packets.splitlines() if "pubkey enc packet" in line][0]


def run_playbook(workdir, play, inventory, *args, timings=None):
    """ansible-playbook -vvv, with everything Ansible writes (home, temp, log) under ``workdir``.

    Pipelining as the project's ansible.cfg sets it for ssh (modules go through stdin, not files).
    """
    started = time.monotonic()
    env = module_env(ANSIBLE_HOME=str(workdir / "ansible-home"), ANSIBLE_LOG_PATH=str(workdir / "ansible.log"),
                     ANSIBLE_PIPELINING="True",
                     ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-home" / "tmp"),
                     ANSIBLE_REMOTE_TEMP=str(workdir / "ansible-home" / "remote-tmp"))
    # the return code is asserted by the caller
    # pylint: disable-next=subprocess-run-check
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-vvv", "-i", str(inventory),
                           *args, str(play)], capture_output=True, text=True, env=env, cwd=str(REPO), timeout=240)
    if timings is not None:
        timings.append((play.stem, round(time.monotonic() - started, 1)))
    return proc


def wait_for(predicate, what, timeout=60, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("not %s within %ss" % (what, timeout))
        time.sleep(interval)


def wait_for_three_voters(cluster, name="node1"):
    """Autopilot promotes a joined node to voter after it was stable for 10 s, at its next reconcile."""
    def three_voters():
        servers = cluster.raft_servers(name)
        return servers if len(servers) == 3 and all(server["voter"] for server in servers) else None

    return wait_for(three_voters, "3 voters", timeout=45, interval=0.5)


class Cluster:
    """What the fixture built: nodes by name, the decrypted secrets and the ansible runs."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.nodes = {}
        self.ca_cert = str(workdir / "tls" / "ca.crt")
        self.timings = []  # (phase, seconds)

    def client(self, name, token=None):
        return hvac.Client(url=self.nodes[name].url, token=token if token is not None else self.root_token,
                           verify=self.ca_cert, timeout=10)

    def raft_servers(self, name="node1"):
        return self.client(name).adapter.get("/v1/sys/storage/raft/configuration")["data"]["config"]["servers"]

    def running(self):
        return [name for name, node in self.nodes.items() if node.process.poll() is None]

    def unsealed(self, standby):
        """Names of the running, unsealed nodes that are standbys (standby=True) or the active node."""
        names = []
        for name in self.running():
            state = self.nodes[name].health()
            if state.get("sealed") is False and state.get("standby") is standby:
                names.append(name)
        return names

    def active(self):
        return self.unsealed(standby=False)

    def standbys(self):
        return self.unsealed(standby=True)


@pytest.fixture(scope="module")
def raft_cluster(bao_binary, collections_path, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("raft")
    cluster = Cluster(workdir)
    gnupg_home = workdir / "gnupg"
    cluster.gnupg_home = gnupg_home
    make_tls(workdir / "tls")
    try:
        cluster.pgp = make_pgp_keys(gnupg_home)
        yield from _build_cluster(cluster)
    finally:
        for node in cluster.nodes.values():
            node.stop()
        # gpg started an agent for this throw-away home: stop that one (by its home), nothing else.
        subprocess.run(["gpgconf", "--homedir", str(gnupg_home), "--kill", "gpg-agent"], check=False,
                       capture_output=True, timeout=30)


def _build_cluster(cluster):
    """Render, start, initialise (PGP) and unseal the three nodes with the role; yields the cluster."""
    started = time.monotonic()
    workdir, pgp, gnupg_home = cluster.workdir, cluster.pgp, cluster.gnupg_home
    hosts = {}
    for name in NODES:
        node_dir = workdir / name
        (node_dir / "raft").mkdir(parents=True)
        hosts[name] = {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "rendered_config": str(node_dir / "openbao.hcl"),
            "vault_server_data_dir": str(node_dir),
            "vault_server_fqdn": "127.0.0.1", "vault_server_api_port": free_port(),
            "vault_server_cluster_port": free_port(),
        }
    cluster.hosts = hosts
    cluster.init_output = workdir / "init-output" / "openbao-init.json"
    cluster.init_output.parent.mkdir()
    inventory = workdir / "inventory.json"
    inventory.write_text(json.dumps({"vault_servers": {"hosts": hosts, "vars": {
        "vault_server_tls_dir": str(workdir / "tls"), "vault_server_listen_address": "127.0.0.1",
        "vault_server_raft_performance_multiplier": 1,
        # OpenBao keeps the declared audit devices in the replicated storage: a node whose declaration
        # differs (another file_path) cannot become active. Three nodes on one host cannot share a
        # file, so each node's audit records go to its stdout (node.log).
        "vault_server_audit_devices": [{"type": "file", "path": "file", "options": {"file_path": "stdout"}}],
        "vault_server_key_shares": 3, "vault_server_key_threshold": 2,
        "vault_server_pgp_keys": [pgp[uid][0] for uid in CUSTODIANS],
        "vault_server_root_token_pgp_key": pgp[ROOT_TOKEN_HOLDER][0],
        "vault_server_init_output_file": str(cluster.init_output),
    }}}))
    render_play = workdir / "render.yml"
    render_play.write_text(RENDER_PLAY.format(template=REPO / "roles" / "vault_server" / "templates" / "server.hcl.j2"))
    rendered = run_playbook(workdir, render_play, inventory, timings=cluster.timings)
    assert rendered.returncode == 0, rendered.stdout[-3000:] + rendered.stderr[-3000:]
    cluster.configs = {name: Path(hosts[name]["rendered_config"]).read_text() for name in NODES}
    for name in NODES:
        node = RaftNode(workdir / name, hosts[name]["rendered_config"], hosts[name]["vault_server_api_port"],
                        cluster.ca_cert)
        cluster.nodes[name] = node
        node.start()

    init_play = workdir / "init.yml"
    init_play.write_text(INIT_PLAY)
    # First run: node1 is initialised; its keys are encrypted, so the role stops (documented).
    cluster.first_run = run_playbook(workdir, init_play, inventory, "--limit", "node1", timings=cluster.timings)
    cluster.sealed_after_first_run = cluster.nodes["node1"].health()
    encrypted = json.loads(cluster.init_output.read_text())
    cluster.encrypted = encrypted
    cluster.unseal_keys = [gpg(gnupg_home, "--decrypt", data=base64.b64decode(key)).decode()
                           for key in encrypted["unseal_keys_b64_pgp"]]
    cluster.root_token = gpg(gnupg_home, "--decrypt", data=base64.b64decode(encrypted["root_token"])).decode()
    # Encrypted shares are not unseal keys: the server refuses them and counts nothing.
    cluster.rejected_encrypted = []
    anonymous = cluster.client("node1", token="")
    for key in encrypted["unseal_keys_b64_pgp"]:
        try:
            anonymous.sys.submit_unseal_key(key)
        except hvac.exceptions.VaultError as exc:
            cluster.rejected_encrypted.append(str(exc))
    cluster.progress_after_encrypted = anonymous.sys.read_seal_status()["progress"]

    # Second run: the custodians' decrypted shares (any two of three), as a survey would pass them.
    secret_vars = workdir / "custodian-shares" / "unseal.json"
    secret_vars.parent.mkdir(mode=0o700)
    with os.fdopen(os.open(secret_vars, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        json.dump({"vault_server_unseal_keys": cluster.unseal_keys[1:]}, handle)
    try:
        cluster.second_run = run_playbook(workdir, init_play, inventory, "-e", "@%s" % secret_vars,
                                          timings=cluster.timings)
    finally:
        secret_vars.unlink()
    assert cluster.second_run.returncode == 0, cluster.second_run.stdout[-4000:] + cluster.second_run.stderr[-2000:]
    cluster.setup_seconds = time.monotonic() - started
    yield cluster


def test_role_renders_retry_join_to_the_other_two_nodes(raft_cluster):
    for name, config in raft_cluster.configs.items():
        own = raft_cluster.hosts[name]
        assert 'node_id = "%s"' % name in config
        assert "performance_multiplier = 1" in config
        assert 'api_addr      = "https://127.0.0.1:%d"' % own["vault_server_api_port"] in config
        assert 'cluster_address = "127.0.0.1:%d"' % own["vault_server_cluster_port"] in config
        joins = [line.split("=", 1)[1].strip() for line in config.splitlines() if "leader_api_addr" in line]
        # The peers' own ports, although they come from host vars and the address from the role default.
        assert sorted(joins) == sorted('"https://127.0.0.1:%d"' % raft_cluster.hosts[peer]["vault_server_api_port"]
                                       for peer in NODES if peer != name)


def test_init_output_is_pgp_encrypted_to_each_custodian(raft_cluster):
    first = raft_cluster.first_run
    # The role cannot unseal with encrypted keys: it stops and says what to do.
    assert first.returncode != 0
    assert "node1 is sealed and this run has no unseal key" in first.stdout
    assert "vault_server_unseal_keys" in first.stdout
    assert raft_cluster.sealed_after_first_run["initialized"] is True
    assert raft_cluster.sealed_after_first_run["sealed"] is True

    output = raft_cluster.init_output
    assert output.stat().st_mode & 0o777 == 0o600
    encrypted = raft_cluster.encrypted
    assert sorted(encrypted) == ["root_token", "unseal_keys_b64_pgp"]
    assert len(encrypted["unseal_keys_b64_pgp"]) == 3
    home, pgp = raft_cluster.gnupg_home, raft_cluster.pgp
    # Share i is encrypted to custodian i's encryption subkey, the root token to its holder.
    for uid, share in zip(CUSTODIANS, encrypted["unseal_keys_b64_pgp"]):
        assert recipient(home, share) == pgp[uid][1]
    assert recipient(home, encrypted["root_token"]) == pgp[ROOT_TOKEN_HOLDER][1]
    # Not usable as they are: the server rejects the encrypted shares, the encrypted token is refused.
    assert len(raft_cluster.rejected_encrypted) == 3
    assert raft_cluster.progress_after_encrypted == 0
    with pytest.raises(hvac.exceptions.Forbidden):
        raft_cluster.client("node1", token=encrypted["root_token"]).lookup_token()
    # Decrypted: hex unseal keys and a root token that works.
    for key in raft_cluster.unseal_keys:
        assert len(bytes.fromhex(key)) == 33  # a Shamir share: 32 bytes and its x coordinate
        assert key not in output.read_text()
    assert raft_cluster.client("node1").lookup_token()["data"]["policies"] == ["root"]
    # The second run (two decrypted shares in vault_server_unseal_keys) unsealed every node.
    recap = raft_cluster.second_run.stdout.split("PLAY RECAP")[1]
    for name in NODES:
        line = [line for line in recap.splitlines() if line.startswith(name + " ")][0]
        assert "failed=0" in line and "changed=0" not in line, line


def test_no_plaintext_secret_in_ansible_output_or_files(raft_cluster):
    secrets = [raft_cluster.root_token]
    for key in raft_cluster.unseal_keys:
        secrets += [key, base64.b64encode(bytes.fromhex(key)).decode()]
    for run in (raft_cluster.first_run, raft_cluster.second_run):
        assert "-vvv" in run.args
        for secret in secrets:
            assert secret not in run.stdout and secret not in run.stderr
    assert "censored" in raft_cluster.second_run.stdout  # the no_log unseal tasks ran, at -vvv
    workdir = raft_cluster.workdir
    assert (workdir / "ansible.log").stat().st_size > 0
    scanned = 0
    for path in workdir.rglob("*"):
        if not path.is_file() or path == raft_cluster.init_output or raft_cluster.gnupg_home in path.parents:
            continue
        content = path.read_bytes()
        scanned += 1
        for secret in secrets:
            assert secret.encode() not in content, "%s holds a secret" % path
    assert scanned > 10


def test_modules_against_a_standby_node(raft_cluster, vault_module):
    # Right after the join a standby may still be a non-voter: it forwards requests all the same.
    standby = raft_cluster.standbys()[0]
    conn = {"url": raft_cluster.nodes[standby].url, "token": raft_cluster.root_token, "ca_cert": raft_cluster.ca_cert}
    raft_cluster.client(standby).sys.enable_secrets_engine("transit", path="transit")
    key_args = dict(conn, name="kube-secrets", auto_rotate_period="30d")
    first = vault_module("vault_transit_key", key_args)
    assert first["rc"] == 0 and first["changed"] is True and first["actions"] == ["create"], first
    second = vault_module("vault_transit_key", key_args)
    assert second["rc"] == 0 and second["changed"] is False, second
    policy_text = 'path "transit/encrypt/kube-secrets" {\n  capabilities = ["update"]\n}\n'
    policy_args = dict(conn, name="kube-secrets-encrypt", policy=policy_text)
    first = vault_module("vault_policy", policy_args)
    assert first["rc"] == 0 and first["changed"] is True, first
    second = vault_module("vault_policy", policy_args)
    assert second["rc"] == 0 and second["changed"] is False, second
    for name in NODES:
        client = raft_cluster.client(name)
        key = client.secrets.transit.read_key("kube-secrets")["data"]
        assert key["auto_rotate_period"] == 30 * 86400 and key["deletion_allowed"] is False
        assert client.sys.read_policy("kube-secrets-encrypt")["data"]["rules"] == policy_text
    raft_cluster.standby_used = standby


def test_three_voters_one_leader_all_unsealed(raft_cluster):
    for name in NODES:
        state = raft_cluster.nodes[name].health()
        assert state["initialized"] is True and state["sealed"] is False, (name, state)

    servers = wait_for_three_voters(raft_cluster)
    assert sorted(server["node_id"] for server in servers) == NODES
    for server in servers:
        assert server["address"] == "127.0.0.1:%d" % raft_cluster.hosts[server["node_id"]]["vault_server_cluster_port"]
    assert len([server for server in servers if server["leader"]]) == 1
    assert len(raft_cluster.active()) == 1 and len(raft_cluster.standbys()) == 2
    # Every node answers with the same view (node2 and node3 forward to the active node).
    for name in NODES[1:]:
        assert sorted(s["node_id"] for s in raft_cluster.raft_servers(name)) == NODES


def test_leader_killed_new_leader_elected_and_old_one_rejoins(raft_cluster):
    assert getattr(raft_cluster, "standby_used", None), "runs after test_modules_against_a_standby_node"
    wait_for_three_voters(raft_cluster)
    old_leader = raft_cluster.active()[0]
    node = raft_cluster.nodes[old_leader]
    survivors = [name for name in NODES if name != old_leader]
    plaintext = base64.b64encode(b"tenant secret").decode()
    # A crash, not a clean shutdown (which would hand leadership over): SIGKILL to that PID only.
    os.kill(node.process.pid, signal.SIGKILL)
    node.process.wait(timeout=10)
    killed = time.monotonic()
    new_leader = wait_for(lambda: [name for name in raft_cluster.active() if name in survivors], "re-elected",
                          timeout=30)[0]
    raft_cluster.failover_seconds = time.monotonic() - killed
    client = raft_cluster.client(new_leader)
    ciphertext = client.secrets.transit.encrypt_data("kube-secrets", plaintext)["data"]["ciphertext"]
    assert client.secrets.transit.decrypt_data("kube-secrets", ciphertext)["data"]["plaintext"] == plaintext
    # Written while the old leader is down: it must catch up when it rejoins.
    client.secrets.transit.rotate_key("kube-secrets")
    written_index = client.adapter.get("/v1/sys/storage/raft/autopilot/state")["data"]["servers"][new_leader]["last_index"]

    node.start()
    assert node.health()["sealed"] is True  # a restart seals a Shamir node
    anonymous = raft_cluster.client(old_leader, token="")
    for key in raft_cluster.unseal_keys[:2]:
        anonymous.sys.submit_unseal_key(key)
    node.wait(lambda h: h.get("sealed") is False and h.get("standby") is True, "unsealed standby", timeout=30)

    def rejoined():
        state = client.adapter.get("/v1/sys/storage/raft/autopilot/state")["data"]
        servers = state["servers"]
        caught_up = servers[old_leader]["healthy"] and servers[old_leader]["last_index"] >= written_index
        return state if state["healthy"] and caught_up and servers[old_leader]["status"] == "voter" else None

    state = wait_for(rejoined, "rejoined", timeout=30, interval=0.5)
    assert state["leader"] == new_leader and len(state["voters"]) == 3
    servers = raft_cluster.raft_servers(new_leader)
    assert len(servers) == 3 and all(server["voter"] for server in servers)
    assert [server["node_id"] for server in servers if server["leader"]] == [new_leader]
    old_client = raft_cluster.client(old_leader)
    assert old_client.secrets.transit.read_key("kube-secrets")["data"]["latest_version"] == 2
    again = old_client.secrets.transit.encrypt_data("kube-secrets", plaintext)["data"]["ciphertext"]
    assert again.startswith("vault:v2:")
    assert client.secrets.transit.decrypt_data("kube-secrets", again)["data"]["plaintext"] == plaintext
    assert old_client.secrets.transit.decrypt_data("kube-secrets", ciphertext)["data"]["plaintext"] == plaintext
    print("setup %.1fs %s, failover %.1fs" % (raft_cluster.setup_seconds, raft_cluster.timings, raft_cluster.failover_seconds))
