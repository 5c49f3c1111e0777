# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The discovery kubeconfig both Kubernetes roles write for kubeadm join (file discovery)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sovereign.cluster.plugins.filter.kubernetes import FilterModule, kubeadm_discovery_kubeconfig

JOIN = {"endpoint": "cp.site.internal:6443", "token": "abcdef.0123456789abcdef", "ca_cert_data": "Q0E="}


def test_discovery_kubeconfig_carries_the_ca_and_the_token():
    config = kubeadm_discovery_kubeconfig(JOIN, "sovereign")
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"]
    user = next(u for u in config["users"] if u["name"] == context["user"])["user"]
    assert cluster == {"server": "https://cp.site.internal:6443", "certificate-authority-data": "Q0E="}
    assert user == {"token": JOIN["token"]}
    assert "kubeadm_discovery_kubeconfig" in FilterModule().filters()


@pytest.mark.parametrize("missing", ["endpoint", "token", "ca_cert_data"])
def test_join_data_without_a_field_is_refused_naming_it(missing):
    with pytest.raises(AnsibleFilterError, match="lack %s" % missing):
        kubeadm_discovery_kubeconfig({k: v for k, v in JOIN.items() if k != missing})
