"""The one hardened KubeletConfiguration both Kubernetes roles render."""
import pytest

from ansible_collections.sovereign.cluster.plugins.module_utils import kubelet_config as kc

SETTINGS = {"tls_min_version": "VersionTLS12", "tls_cipher_suites": ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"],
            "event_record_qps": "5", "cgroup_driver": "systemd",
            "runtime_endpoint": "unix:///run/containerd/containerd.sock", "client_ca_file": "/etc/kubernetes/pki/ca.crt"}


def test_hardened_fields_win_over_node_fields_and_extra_may_add():
    config = kc.hardened_kubelet_config(SETTINGS, node_fields={"maxPods": 64, "readOnlyPort": 10255},
                                        extra={"maxPods": 10, "featureGates": {"X": True}})
    assert (config["readOnlyPort"], config["maxPods"], config["featureGates"]) == (0, 64, {"X": True})
    assert config["authentication"]["anonymous"] == {"enabled": False}
    assert (config["eventRecordQPS"], config["containerRuntimeEndpoint"]) == (5, SETTINGS["runtime_endpoint"])


@pytest.mark.parametrize("extra", [{"readOnlyPort": 10255}, {"authentication": {"anonymous": {"enabled": True}}}])
def test_extra_may_not_replace_a_hardened_field(extra):
    assert kc.locked_fields_set(extra) == sorted(extra)
    with pytest.raises(ValueError, match="sets %s: these are hardened settings" % sorted(extra)[0]):
        kc.hardened_kubelet_config(SETTINGS, extra=extra)


def test_no_extra_no_clash():
    assert kc.locked_fields_set(None) == [] and kc.locked_fields_set({"maxPods": 1}) == []
