# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planted secrets, nvidia_gpu and nvidia_mig: neither has a secret-bearing input, so there is nothing to plant.

Issue 21 asks for a planted-secret test of every secret-bearing input. The GPU role takes mirror URLs, paths,
package names and a MIG layout; the module takes GPU selectors, a layout and a path. None is a credential: the
role's argument specs and the module's argument spec declare no ``no_log`` option, and no variable or option
name says token, password, secret or key material. This test fails the day one is added without a planted-secret
test of its own.
"""
import re

import yaml

from ansible_collections.sovereign.cluster.plugins.modules import nvidia_mig

SECRET_NAME = re.compile(r"(token|password|passwd|secret|api_key|private|credential|client_key)", re.I)


def _options(spec):
    for name, option in (spec or {}).items():
        yield name, option
        yield from _options(option.get("options") or option.get("suboptions"))


def test_nvidia_gpu_argument_specs_have_no_secret_input(repo_dir):
    specs = yaml.safe_load((repo_dir / "roles/nvidia_gpu/meta/argument_specs.yml").read_text())["argument_specs"]
    options = [(entry, name, option) for entry, spec in specs.items() for name, option in _options(spec["options"])]
    assert len(options) > 40
    assert [(e, n) for e, n, o in options if o.get("no_log") or SECRET_NAME.search(n)] == []


def test_nvidia_mig_has_no_secret_option():
    doc = yaml.safe_load(nvidia_mig.DOCUMENTATION)
    assert sorted(doc["options"]) == ["allow_busy", "gpus", "layout", "mig_enabled", "nvidia_smi_path", "query_backend"]
    assert [n for n, o in doc["options"].items() if o.get("no_log") or SECRET_NAME.search(n)] == []
    assert "no_log" not in open(nvidia_mig.__file__).read().split("def main", 1)[1]
