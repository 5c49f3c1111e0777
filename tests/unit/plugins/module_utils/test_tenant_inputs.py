# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 21: the inputs of vcluster_tenant checked before anything changes (tenant_inputs), each error exact.

MIG quotas against the site's GPU catalogue (the profile table of mig.py, checked against the real H100/H200
captures in test_mig_catalogue below), transit key settings, whole-internet rules without their acknowledgement,
and the role's own variables (paths, files, URLs, Vault credentials), never showing a secret.
"""
import re

import pytest

from ansible_collections.sovereign.cluster.plugins.module_utils import mig
from ansible_collections.sovereign.cluster.plugins.module_utils import tenant_inputs as ti
from ansible_collections.sovereign.cluster.plugins.module_utils import tenant_manifests as tm

SETTINGS = {"fallback_dns": "10.0.0.53"}
CAPTURES = {"H100-80GB": "h100-80gb-hbm3-mig-disabled", "H200-141GB": "h200-141gb-mig-disabled"}


def tenant(**changes):
    return dict({"name": "alpha", "zone": "secnumcloud"}, **changes)


def errors(tenants, **settings):
    return ti.validate_tenants(tenants, dict(SETTINGS, **settings))


@pytest.mark.parametrize("model", sorted(CAPTURES))
def test_mig_catalogue_matches_the_real_captures(fixtures_dir, model):
    text = (fixtures_dir / "nvidia-smi" / CAPTURES[model] / "mig.txt").read_text()
    lgip = re.search(r"^### nvidia-smi mig -lgip\n(.*?)^rc=", text, re.M | re.S).group(1)
    live = dict((p["name"], p["max_count"]) for p in mig.parse_lgip(lgip)[0])
    assert mig.MIG_PROFILE_TABLE[model] == live


def test_mig_quota_of_a_profile_no_site_gpu_has_is_refused():
    assert errors([tenant(quotas={"mig": {"9g.999gb": 1}})]) == [
        "sovereign_tenants[0] (tenant 'alpha').quotas.mig key '9g.999gb' is not a MIG profile: use the name the device "
        "plugin exposes, e.g. 1g.10gb, 3g.40gb or 1g.10gb.me (resource nvidia.com/mig-<profile>)"]
    # well formed, but on no GPU of an H100-only site
    found = errors([tenant(quotas={"mig": {"1g.18gb": 1, "1g.10gb.me": 1}})], gpu_catalogue=["H100-80GB"])
    assert found == [
        "sovereign_tenants[0] (tenant 'alpha').quotas.mig key '1g.18gb': no GPU of the site has the MIG profile 1g.18gb "
        "(resource nvidia.com/mig-1g.18gb would never be allocatable): use one of 1g.10gb, 1g.10gb.me, 1g.20gb, "
        "2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb, or add the GPU model to vcluster_tenant_gpu_catalogue"]


def test_mig_quota_of_a_site_gpu_passes_and_a_custom_model_counts():
    assert errors([tenant(quotas={"mig": {"1g.18gb": 2, "1g.18gb.me": 1}})], gpu_catalogue=["H200-141GB"]) == []
    custom = [{"name": "B200", "profiles": {"1g.23gb": 7}}]
    assert errors([tenant(quotas={"mig": {"1g.23gb": 2}})], gpu_catalogue=custom) == []


def test_unknown_gpu_model_in_the_catalogue_is_named():
    found = errors([tenant()], gpu_catalogue=["H100-80GB", "Z9000"])
    assert found[0].startswith("vcluster_tenant_gpu_catalogue[1] 'Z9000' is not a known GPU model: use one of A100-40GB")


@pytest.mark.parametrize("vault,expected", [
    ({"auto_rotate_period": "30m"}, ".vault.auto_rotate_period '30m' is shorter than one hour"),
    ({"auto_rotate_period": "monthly"}, ".vault.auto_rotate_period 'monthly' is not a duration"),
    ({"rotate_if_older_than": "0"}, ".vault.rotate_if_older_than '0' would rotate the key on every run"),
    ({"min_decryption_version": 0}, ".vault.min_decryption_version 0: use a key version of at least 1"),
    ({"min_decryption_version": True}, ".vault.min_decryption_version True: use a key version of at least 1"),
])
def test_transit_key_settings_out_of_range_are_named(vault, expected):
    found = errors([tenant(vault=vault)])
    assert (len(found), found[0].startswith("sovereign_tenants[0] (tenant 'alpha')" + expected)) == (1, True), found


def test_transit_key_settings_in_range_pass_and_reach_the_plan():
    plan = tm.tenant_plan([tenant(vault={"auto_rotate_period": "0", "rotate_if_older_than": "90d",
                                         "min_decryption_version": 2})], SETTINGS)
    assert (plan[0]["vault"]["auto_rotate_period"], plan[0]["vault"]["min_decryption_version"]) == ("0", 2)
    assert errors([tenant(vault={"auto_rotate_period": "1h"})]) == []


def test_role_default_rotation_period_is_named():
    assert errors([tenant()], vault_defaults={"auto_rotate_period": "5m"}) == [
        "vcluster_tenant_vault_auto_rotate_period '5m' is shorter than one hour (the server's minimum): use 0 (no "
        "automatic rotation) or at least 1h, e.g. 30d"]


@pytest.mark.parametrize("direction,rules", [
    ("egress", [{"cidr": "0.0.0.0/0"}]),
    ("egress", [{"cidr": "::/0", "ports": [443]}]),
    ("ingress", [{"cidr": "0.0.0.0/0"}]),
])
def test_whole_internet_rule_needs_its_acknowledgement(direction, rules):
    ack = "vcluster_tenant_allow_internet_" + direction
    found = errors([tenant(network={direction: rules})])
    assert found == ["sovereign_tenants[0] (tenant 'alpha').network.%s[0].cidr %s opens the tenant to every address: "
                     "name the networks it needs, or set %s: true to accept the exposure" % (direction, rules[0]["cidr"], ack)]
    assert errors([tenant(network={direction: rules})], **{"allow_internet_" + direction: True}) == []


def test_rules_that_together_cover_the_internet_need_the_acknowledgement():
    rules = [{"cidr": "0.0.0.0/1"}, {"cidr": "128.0.0.0/1"}]
    assert errors([tenant(network={"egress": rules})]) == [
        "sovereign_tenants[0] (tenant 'alpha').network.egress: the rules' cidrs 0.0.0.0/1, 128.0.0.0/1 together open the "
        "tenant to every IPv4 address: name the networks it needs, or set vcluster_tenant_allow_internet_egress: true to "
        "accept the exposure"]


def test_huge_counts_are_refused_before_the_api_sees_them():
    assert errors([tenant(quotas={"pods": 2 ** 64})]) == [
        "sovereign_tenants[0] (tenant 'alpha').quotas.pods 18446744073709551616 is out of range: use a whole number "
        "from 0 to 1000000"]


GOOD_INPUTS = {"vcluster_tenant_kubeconfig": None, "vcluster_tenant_helm_binary": "helm", "tenants_present": True,
               "vcluster_tenant_vault_enabled": True, "vcluster_tenant_vault_url": "https://vault.internal:8200",
               "vcluster_tenant_vault_auth_method": "token", "vcluster_tenant_vault_token": "s.PLANTED",
               "vcluster_tenant_vault_transit_mount": "transit", "vcluster_tenant_vault_kv_mount": "secret",
               "vcluster_tenant_vault_kv_path_prefix": "tenants"}


def inputs(**changes):
    return ti.role_input_errors(dict(GOOD_INPUTS, **changes), exists=lambda path: path == "/etc/ok")


@pytest.mark.parametrize("changes,expected", [
    ({"vcluster_tenant_kubeconfig": "/etc/missing/kubeconfig"},
     'vcluster_tenant_kubeconfig: the kubeconfig file does not exist on the controller (got "/etc/missing/kubeconfig"); '
     "point it at the cluster's kubeconfig file (or null for the kubernetes.core defaults)"),
    ({"vcluster_tenant_kubeconfig": "/etc/../root/kubeconfig"},
     'vcluster_tenant_kubeconfig: holds \'..\' (got "/etc/../root/kubeconfig"); use the path without \'..\''),
    ({"vcluster_tenant_vault_ca_cert": "/etc/missing/ca.pem"},
     'vcluster_tenant_vault_ca_cert: the Vault CA certificate does not exist on the controller (got "/etc/missing/ca.pem"); '
     "point it at the existing file, or leave it unset (null)"),
    ({"vcluster_tenant_values_schema": "/srv/../etc/values.schema.json"},
     'vcluster_tenant_values_schema: holds \'..\' (got "/srv/../etc/values.schema.json"); use the path without \'..\' '
     "(the real folder it means)"),
    ({"vcluster_tenant_vault_url": "vault.internal:8200"},
     'vcluster_tenant_vault_url: not a https/http URL (got "vault.internal:8200"); use https://host:port'),
    ({"vcluster_tenant_vault_token": None},
     "vcluster_tenant_vault_token: not set (vcluster_tenant_vault_auth_method is token); set it from your vault (an "
     "Ansible Vault file or AWX credential)"),
    ({"vcluster_tenant_vault_kv_mount": "../sys"},
     'vcluster_tenant_vault_kv_mount: not a valid Vault path (got "../sys"); use letters, digits, \'-\', \'_\' and \'/\' '
     "between segments (no '..', no leading '/')"),
    ({"vcluster_tenant_helm_binary": "/usr/local/../bin/helm"},
     'vcluster_tenant_helm_binary: not a program name or path without \'..\' (got "/usr/local/../bin/helm"); use helm '
     "or an absolute path such as /usr/local/bin/helm"),
])
def test_role_inputs_are_named_with_the_fix(changes, expected):
    assert inputs(**changes) == [expected]


def test_role_inputs_never_show_a_secret():
    secret_kubeconfig = {"clusters": [], "users": [{"name": "u", "user": {"token": "PLANTED-K8S-TOKEN"}}]}
    found = inputs(vcluster_tenant_kubeconfig=secret_kubeconfig, vcluster_tenant_vault_auth_method="approle",
                   vcluster_tenant_vault_role_id="PLANTED-ROLE-ID", vcluster_tenant_vault_secret_id=None)
    assert found == [
        "vcluster_tenant_kubeconfig: a kubeconfig given as a mapping has no clusters or no users; give the whole "
        "kubeconfig (apiVersion, clusters, contexts, users) or its file path",
        "vcluster_tenant_vault_secret_id: not set (vcluster_tenant_vault_auth_method is approle); set it from your vault "
        "(an Ansible Vault file or AWX credential)"]
    assert "PLANTED" not in " ".join(found)


def test_good_role_inputs_pass_and_vault_is_not_asked_for_without_tenants():
    assert inputs(vcluster_tenant_kubeconfig="/etc/ok", vcluster_tenant_vault_ca_cert="/etc/ok") == []
    assert inputs(tenants_present=False, vcluster_tenant_vault_url=None, vcluster_tenant_vault_token=None) == []
