# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Podman for the container-host suites, the way lab/lab.py and Molecule call it.

``podman(*args)`` runs podman with ``lab/containers.conf`` (the ulimits and OCI runtime these machines
need); ``require_image(image)`` fails the test, saying which command provides it, when podman or the
lab's base image is missing (a suite that needs them never passes by skipping).
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def podman(*args, check=True, timeout=120):
    env = dict(os.environ, CONTAINERS_CONF=str(REPO / "lab" / "containers.conf"))
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout, env=env)


def require_image(image):
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run `make deps` (./run test does)")
    if podman("image", "exists", image, check=False).returncode != 0:
        pytest.fail("%s is missing: run `make images` (./run test does)" % image)
