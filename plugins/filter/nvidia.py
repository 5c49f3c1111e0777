# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter of the nvidia_gpu role: every error in its variables, before the role changes anything.

Filters:
  - C(nvidia_gpu_input_errors(inputs)) returns one message per bad variable (named with its index or key,
    with the fix): the driver branch, package names, mirror URLs (when they are used), absolute paths without
    C(..), the containerd runtime name, systemd unit names and the shape of the MIG layout.
  - C(nvidia_gpu_input_errors(inputs, 'catalogue')) returns the errors of the MIG layout against the site's GPU
    models (C(nvidia_gpu_catalogue), the MIG profile table of plugins/module_utils/mig.py): a profile no GPU of
    the site has, or a count above every GPU's maximum; the role asks it where no GPU answers yet (where one
    does, the module's plan on the live GPU judges the layout with the GPU's own numbers).

The MIG rules are those of plugins/module_utils/mig.py (the planner the module and the boot unit use) and
the generic checks those of plugins/module_utils/input_checks.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sovereign.cluster.plugins.module_utils import mig as miglib
from ansible_collections.sovereign.cluster.plugins.module_utils.input_checks import Checks, truthy

_PACKAGE = r"^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+:~-]+)?$"
_UNIT = r"^[A-Za-z0-9:_.@-]+\.(service|target|socket|mount)$"
_GPU_SELECTOR = re.compile(r"^(all|[0-9]{1,3}|GPU-[0-9a-fA-F-]{8,}|0x[0-9a-fA-F]{8}|([0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:"
                           r"[0-9a-fA-F]{2}\.[0-7])$")
_MIRROR = ("https", "http", "file")


def _mirror(checks, field, value, trailing_slash=False):
    if not isinstance(value, str) or not re.match(r"^(https?|file)://[^\s]+$", value) or "\n" in value:
        return checks.fail(field, "not an http(s):// or file:// URL of your mirror",
                           "point it at the site's internal mirror, e.g. https://mirror.example/nvidia/...", value)
    if trailing_slash and not value.endswith("/"):
        return checks.fail(field, "does not end in '/'", "end the repository URL with '/'", value)
    if ".." in value.split("/"):
        return checks.fail(field, "holds '..'", "use the URL without '..'", value)
    return value


def layout_errors(inputs, against_catalogue):
    """The layout's shape, and (``against_catalogue``) its profiles and counts against the site's GPU models."""
    layout = inputs.get("nvidia_gpu_mig_layout")
    profiles, errors = miglib.catalogue_profiles(inputs.get("nvidia_gpu_catalogue"), "nvidia_gpu_catalogue")
    if layout is None or errors:
        return errors
    return ["nvidia_gpu_mig_layout" + e[len("layout"):] if e.startswith("layout") else e
            for e in miglib.layout_catalogue_errors(layout, profiles if against_catalogue else None, "layout")]


def _layout_errors(checks, inputs):
    checks.errors.extend(layout_errors(inputs, against_catalogue=False))
    layout = inputs.get("nvidia_gpu_mig_layout")
    if layout is None:
        return
    gpus = inputs.get("nvidia_gpu_mig_gpus")
    if not isinstance(gpus, list) or not gpus:
        checks.fail("nvidia_gpu_mig_gpus", "not a non-empty list", "list 'all', GPU indexes, GPU UUIDs, PCI device ids "
                    "(0x233010DE) or PCI bus ids", gpus)
    else:
        for index, gpu in enumerate(gpus):
            if not _GPU_SELECTOR.match(str(gpu)):
                checks.fail("nvidia_gpu_mig_gpus[%d]" % index, "not a GPU selector",
                            "use 'all', an index (0), a GPU UUID (GPU-...), a PCI device id (0x233010DE) or a PCI bus id",
                            gpu)
    if not truthy(inputs.get("nvidia_gpu_mig_enabled", True)) and layout:
        checks.fail("nvidia_gpu_mig_layout", "not empty while nvidia_gpu_mig_enabled is false",
                    "empty the layout ({}) to turn MIG off, or set nvidia_gpu_mig_enabled: true", layout)


def nvidia_gpu_input_errors(inputs, scope="settings"):
    """Every error in the nvidia_gpu role's variables (``inputs`` keyed by variable name), or [].

    ``settings``: every variable (the layout by its shape only: a live GPU's plan judges its profiles and
    counts, with the GPU's own numbers); ``catalogue``: the layout against ``nvidia_gpu_catalogue``, for a
    host where no GPU answers yet.
    """
    inputs = inputs or {}
    if scope == "catalogue":
        return layout_errors(inputs, against_catalogue=True)
    checks = Checks()
    checks.name("nvidia_gpu_driver_branch", str(inputs.get("nvidia_gpu_driver_branch")), r"^[0-9]{3}$", "driver branch",
                "use the three digits of a driver branch, such as '580' (R580)")
    driver = truthy(inputs.get("nvidia_gpu_install_driver", True))
    for index, package in enumerate(inputs.get("nvidia_gpu_driver_packages") or []):
        checks.name("nvidia_gpu_driver_packages[%d]" % index, package, _PACKAGE, "Debian package name",
                    "use a package name (optionally name=version), one per item")
    if driver and inputs.get("nvidia_gpu_driver_source") == "repository":
        _mirror(checks, "nvidia_gpu_repo_url", inputs.get("nvidia_gpu_repo_url"), trailing_slash=True)
        if inputs.get("nvidia_gpu_repo_key_src"):
            checks.line("nvidia_gpu_repo_key_src", inputs["nvidia_gpu_repo_key_src"], what="key file path")
            if ".." in str(inputs["nvidia_gpu_repo_key_src"]).split("/"):
                checks.fail("nvidia_gpu_repo_key_src", "holds '..'", "use the path without '..'",
                            inputs["nvidia_gpu_repo_key_src"])
        else:
            _mirror(checks, "nvidia_gpu_repo_key_url", inputs.get("nvidia_gpu_repo_key_url"))
    if driver and inputs.get("nvidia_gpu_driver_source") == "distribution" and inputs.get("nvidia_gpu_debian_mirror"):
        _mirror(checks, "nvidia_gpu_debian_mirror", inputs["nvidia_gpu_debian_mirror"])
    if truthy(inputs.get("nvidia_gpu_install_container_toolkit", True)):
        _mirror(checks, "nvidia_gpu_container_toolkit_repo_url", inputs.get("nvidia_gpu_container_toolkit_repo_url"))
        if not inputs.get("nvidia_gpu_container_toolkit_key_src"):
            _mirror(checks, "nvidia_gpu_container_toolkit_key_url", inputs.get("nvidia_gpu_container_toolkit_key_url"))
        for index, package in enumerate(inputs.get("nvidia_gpu_container_toolkit_packages") or []):
            checks.name("nvidia_gpu_container_toolkit_packages[%d]" % index, package, _PACKAGE, "Debian package name",
                        "use a package name (optionally name=version), one per item")
    if truthy(inputs.get("nvidia_gpu_containerd_configure", True)):
        checks.name("nvidia_gpu_containerd_runtime_name", inputs.get("nvidia_gpu_containerd_runtime_name"),
                    r"^[a-z0-9][a-z0-9_-]*$", "containerd runtime name", "use lowercase letters, digits, '-' and '_'")
        for name in ("nvidia_gpu_containerd_config_path", "nvidia_gpu_containerd_dropin_dir",
                     "nvidia_gpu_container_runtime_path"):
            checks.path(name, inputs.get(name))
    if inputs.get("nvidia_gpu_mig_layout") is not None:
        for name in ("nvidia_gpu_mig_layout_file", "nvidia_gpu_mig_install_dir"):
            checks.path(name, inputs.get(name))
        for index, unit in enumerate(inputs.get("nvidia_gpu_mig_unit_before") or []):
            checks.name("nvidia_gpu_mig_unit_before[%d]" % index, unit, _UNIT, "systemd unit name",
                        "use unit names such as kubelet.service")
    smi = inputs.get("nvidia_gpu_nvidia_smi_path")
    if not isinstance(smi, str) or not smi or (not smi.startswith("/") and "/" in smi):
        checks.fail("nvidia_gpu_nvidia_smi_path", "neither a program name nor an absolute path",
                    "use nvidia-smi (looked up in PATH) or an absolute path such as /usr/bin/nvidia-smi", smi)
    elif smi.startswith("/"):
        checks.path("nvidia_gpu_nvidia_smi_path", smi)
    _layout_errors(checks, inputs)
    return checks.errors


class FilterModule(object):
    """sovereign.cluster nvidia_gpu filters."""

    def filters(self):
        return {"nvidia_gpu_input_errors": nvidia_gpu_input_errors}
