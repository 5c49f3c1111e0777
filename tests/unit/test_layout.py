"""The collection's contract files are present and coherent."""
import yaml


def test_galaxy_identity(repo_dir):
    galaxy = yaml.safe_load((repo_dir / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"]) == ("sovereign", "cluster")
    for dep in ("kubernetes.core", "community.hashi_vault", "community.crypto",
                "ansible.posix", "community.general", "openstack.cloud"):
        assert dep in galaxy["dependencies"], dep
        assert "<" in galaxy["dependencies"][dep] and ">=" in galaxy["dependencies"][dep]


def test_requirements_match_galaxy(repo_dir):
    galaxy = yaml.safe_load((repo_dir / "galaxy.yml").read_text())
    reqs = yaml.safe_load((repo_dir / "requirements.yml").read_text())
    assert {c["name"]: c["version"] for c in reqs["collections"]} == galaxy["dependencies"]


def test_runtime_requires_ansible(repo_dir):
    runtime = yaml.safe_load((repo_dir / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"] == ">=2.17.0"


def test_every_role_has_argument_specs(repo_dir):
    roles = [p for p in (repo_dir / "roles").iterdir() if p.is_dir()]
    assert roles, "no roles yet"
    for role in roles:
        spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
        assert "main" in spec["argument_specs"], role.name


def test_kubernetes_version_is_the_one_built_and_tested(repo_dir):
    """One version in one place: lab/k8s_build.py pins it, both roles default to it, their specs say it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("k8s_build", repo_dir / "lab" / "k8s_build.py")
    k8s_build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(k8s_build)
    pinned = k8s_build.VERSIONS["kubernetes"]
    for role in ("kubernetes_control_plane", "kubernetes_node"):
        defaults = yaml.safe_load((repo_dir / "roles" / role / "defaults" / "main.yml").read_text())
        argspec = yaml.safe_load((repo_dir / "roles" / role / "meta" / "argument_specs.yml").read_text())
        assert str(defaults["kubernetes_version"]) == pinned, role
        assert str(argspec["argument_specs"]["main"]["options"]["kubernetes_version"]["default"]) == pinned, role


def test_every_filter_has_its_sidecar_documentation(repo_dir):
    """ansible-doc reads a filter's documentation from plugins/filter/<name>.yml: one per filter the collection has."""
    import importlib

    names = set()
    for path in sorted((repo_dir / "plugins" / "filter").glob("*.py")):
        module = importlib.import_module("ansible_collections.sovereign.cluster.plugins.filter." + path.stem)
        names |= set(module.FilterModule().filters())
    assert names
    documented = {path.stem for path in (repo_dir / "plugins" / "filter").glob("*.yml")}
    assert (sorted(names - documented), sorted(documented - names)) == ([], [])
