"""The kube-apiserver configured by roles/kubernetes_control_plane, running for real (see control_plane.py).

What is shown: kubeadm accepts the role's kubeadm configuration (and refuses a wrong field with its own
message), the apiserver started from kubeadm's manifest is ready, anonymous requests are refused, the TLS
floor and the ANSSI cipher list hold on the wire, and the hardened flags are those of the role.
"""
import socket
import ssl
import subprocess

import pytest
import yaml
from control_plane import k8s_build


def test_apiserver_from_the_roles_configuration_is_ready(control_plane):
    assert control_plane.get_raw("/readyz") == "ok"
    assert control_plane.get_raw("/livez") == "ok"
    version = control_plane.kubectl_run("version", "-o", "yaml").stdout
    assert yaml.safe_load(version)["serverVersion"]["gitVersion"] == "v" + k8s_build.VERSIONS["kubernetes"]
    for name, component in control_plane.components.items():
        assert component.running(), f"{name} exited:\n{component.log_tail()}"


def test_kubeadm_accepts_the_roles_config_and_refuses_a_wrong_field(control_plane, tmp_path):
    config = control_plane.kubernetes_dir / "kubeadm-config.yaml"
    ok = control_plane.kubeadm("config", "validate", "--config", str(config))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    docs = list(yaml.safe_load_all(config.read_text()))
    cluster = next(d for d in docs if d["kind"] == "ClusterConfiguration")
    cluster["apiServer"]["extraArgs"] = {"profiling": "false"}  # v1beta3's map form: v1beta4 wants a list
    broken = tmp_path / "kubeadm-broken.yaml"
    broken.write_text(yaml.safe_dump_all(docs))
    bad = control_plane.kubeadm("config", "validate", "--config", str(broken))
    assert bad.returncode != 0
    assert "extraArgs" in bad.stdout + bad.stderr, bad.stdout + bad.stderr


def test_manifest_carries_the_roles_hardened_flags(control_plane):
    argv = control_plane.manifest_command("kube-apiserver")
    flags = dict(a[2:].split("=", 1) for a in argv[1:] if a.startswith("--") and "=" in a)
    assert flags["anonymous-auth"] == "false"
    assert flags["profiling"] == "false"
    assert flags["authorization-mode"] == "Node,RBAC"
    assert "PodSecurity" in flags["enable-admission-plugins"].split(",")
    assert flags["tls-min-version"] == "VersionTLS12"
    assert flags["audit-policy-file"].startswith(str(control_plane.config_dir))
    assert flags["encryption-provider-config"] == str(control_plane.config_dir / "encryption-config.yaml")
    # the running process has exactly that command line (plus nothing but the mapped paths and ports)
    running = control_plane.components["kube-apiserver"].argv
    assert [a for a in running if a.startswith("--tls-cipher-suites")] == [f"--tls-cipher-suites={flags['tls-cipher-suites']}"]


def test_anonymous_requests_are_refused(control_plane):
    assert control_plane.anonymous_status("/readyz") == 401
    assert control_plane.anonymous_status("/api/v1/namespaces") == 401


def _handshake(control_plane, **ctx_settings):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(control_plane.pki / "ca.crt"))
    ctx.check_hostname = False
    for key, value in ctx_settings.items():
        if key == "ciphers":
            ctx.set_ciphers(value)
        else:
            setattr(ctx, key, value)
    with socket.create_connection(("127.0.0.1", control_plane.ports["apiserver"]), timeout=10) as sock:
        with ctx.wrap_socket(sock) as tls:
            return tls.version(), tls.cipher()[0]


def test_tls_floor_and_cipher_list_on_the_wire(control_plane):
    version, cipher = _handshake(control_plane, maximum_version=ssl.TLSVersion.TLSv1_2)
    assert version == "TLSv1.2" and cipher in ("ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256")
    # CBC and non-ECDHE suites are off in TLS 1.2
    for weak in ("ECDHE-RSA-AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"):
        with pytest.raises(ssl.SSLError):
            _handshake(control_plane, maximum_version=ssl.TLSVersion.TLSv1_2, ciphers=weak)
    # TLS 1.1 is refused (OpenSSL may also refuse it locally: either way no TLS 1.1 session comes up)
    with pytest.raises((ssl.SSLError, ValueError)):
        _handshake(control_plane, minimum_version=ssl.TLSVersion.TLSv1_1, maximum_version=ssl.TLSVersion.TLSv1_1)


def test_apiserver_listens_on_loopback_only(control_plane):
    out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True, check=True).stdout
    pids = {str(c.process.pid) for c in control_plane.components.values()}
    listening = [line.split()[3] for line in out.splitlines() if any(f"pid={p}," in line for p in pids)]
    assert listening, out
    assert all(addr.startswith(("127.0.0.1:", "[::1]:")) for addr in listening), listening
