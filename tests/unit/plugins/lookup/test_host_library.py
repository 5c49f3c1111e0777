"""The host_library lookup: the exact shipped source of the host libraries, installed by a real playbook run."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.sovereign.cluster.plugins.lookup.host_library import HOST_LIBRARIES, LookupModule, library_source

PLAYBOOK = """
- name: Install the host libraries the way the roles do
  hosts: all
  gather_facts: false
  tasks:
    - name: Install each library from the lookup
      ansible.builtin.copy:
        content: "{{{{ lookup('sovereign.cluster.host_library', item) }}}}"
        dest: "{out_dir}/{{{{ item }}}}.py"
        mode: "0644"
      loop: {names}
"""


def test_every_host_library_is_returned_byte_for_byte(repo_dir):
    for name, filename in HOST_LIBRARIES.items():
        assert library_source(name) == (repo_dir / "plugins" / "module_utils" / filename).read_text()


def test_the_lookup_returns_one_text_per_term(repo_dir):
    texts = LookupModule().run(["mig", "audit_chain"], variables={})
    assert texts == [library_source("mig"), library_source("audit_chain")]


@pytest.mark.parametrize("name", ["input_checks", "../module_utils/mig", "mig.py", ""])
def test_anything_but_a_host_library_is_refused_with_the_choices(name):
    with pytest.raises(AnsibleLookupError) as err:
        library_source(name)
    assert "audit_chain, mig" in str(err.value)


def _ansible_playbook():
    candidate = Path(sys.executable).parent / "ansible-playbook"
    return str(candidate if candidate.exists() else Path(__file__).resolve().parents[4] / ".venv" / "bin" / "ansible-playbook")


def test_a_playbook_installs_the_exact_files_and_a_second_run_changes_nothing(repo_dir, tmp_path):
    out_dir = tmp_path / "installed"
    out_dir.mkdir()
    (tmp_path / "install.yml").write_text(PLAYBOOK.format(out_dir=out_dir, names=sorted(HOST_LIBRARIES)))
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update({"ANSIBLE_COLLECTIONS_PATH": str(repo_dir / "build" / "collections"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local-tmp")})
    command = [_ansible_playbook(), "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
               str(tmp_path / "install.yml")]
    runs = [subprocess.run(command, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120, check=False)
            for _attempt in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
    assert "changed=1" in runs[0].stdout
    assert "changed=0" in runs[1].stdout
    for name, filename in HOST_LIBRARIES.items():
        assert (out_dir / (name + ".py")).read_bytes() == (repo_dir / "plugins" / "module_utils" / filename).read_bytes()
