# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""audit_forwarding_input_errors: the role's defaults and the lab's settings pass; host paths with '..' do not."""
from pathlib import Path

import yaml

from ansible_collections.sovereign.cluster.plugins.filter.audit_forwarding import audit_forwarding_input_errors

REPO = Path(__file__).resolve().parents[4]


def _defaults(**changes):
    defaults = yaml.safe_load((REPO / "roles/audit_forwarding/defaults/main.yml").read_text())
    settings = {key: value for key, value in defaults.items() if not (isinstance(value, str) and "{{" in value)}
    return dict(settings, audit_forwarding_collectors=["lab-collector1"], **changes)


def test_defaults_pass():
    assert audit_forwarding_input_errors(_defaults()) == []


def test_an_inventory_relative_controller_pki_folder_passes():
    """The lab's audit_forwarding_pki_dir is "{{ inventory_dir }}/../../lab/state/pki/audit": a controller folder."""
    assert audit_forwarding_input_errors(_defaults(audit_forwarding_pki_dir=str(REPO / "inventories/lab/../../lab/state/pki/audit"))) == []


def test_a_source_path_with_dot_dot_is_refused():
    errors = audit_forwarding_input_errors(_defaults(audit_forwarding_sources=[{"name": "x", "paths": ["/var/log/../../etc/shadow"]}]))
    assert [message.split(":")[0] for message in errors] == ["audit_forwarding_sources[0].paths[0]"]
