"""pytest bootstrap: make this checkout importable as ``ansible_collections.sovereign.cluster``.

The collection's Python code imports itself by its FQCN, exactly as Ansible loads it. Rather than
require an install, we expose the repository through a symlink under ``build/collections`` and put
that on ``sys.path`` (ansible-test does the same with its own copy).
"""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
COLLECTIONS = REPO / "build" / "collections"
_link = COLLECTIONS / "ansible_collections" / "sovereign" / "cluster"
if not _link.exists():
    _link.parent.mkdir(parents=True, exist_ok=True)
    try:
        _link.symlink_to(REPO, target_is_directory=True)
    except FileExistsError:  # another worker won the race
        pass
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
# ansible_collections is a namespace package also provided by the `ansible` bundle in
# site-packages; extend its search path so both are seen.
import ansible_collections  # noqa: E402

if str(COLLECTIONS / "ansible_collections") not in list(ansible_collections.__path__):
    ansible_collections.__path__.append(str(COLLECTIONS / "ansible_collections"))

SHARED = Path(os.environ.get("SOVEREIGN_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def repo_dir():
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def shared_dir():
    """The ../shared folder with the real captures (never copied into the project)."""
    if not (SHARED / "fixtures").is_dir():
        pytest.fail(f"../shared/fixtures not found at {SHARED}: set SOVEREIGN_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def fixtures_dir(shared_dir):
    return shared_dir / "fixtures"
