# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which desired Kubernetes objects differ from what the API server holds (pure; no client needed).

A desired object is in sync when every field it sets is present in the live object with an equal value;
fields the server adds (defaults, status, metadata it manages) do not count. Quantities compare by value
(``0.5`` equals ``500m``, ``1Gi`` equals ``1024Mi``). Lists compare element by element, in order.
``kubernetes.core.k8s`` with ``state: present`` sends a PATCH for every object it is given, even an
unchanged one; giving it only the drifted objects makes a converged run send no write request at all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][-+]?[0-9]+)?)([numkMGTPE]i?|Ki)?$")
_SUFFIX = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal(10) ** 3,
           "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15,
           "E": Decimal(10) ** 18, "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
           "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60}


def quantity(value):
    """The value of a Kubernetes quantity string, or None when it is not one."""
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if not match or match.group(2) not in _SUFFIX and match.group(2) is not None:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2) or ""]
    except InvalidOperation:
        return None


def contained(desired, live):
    """True when every field of ``desired`` is in ``live`` with an equal value (recursively)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(key in live and contained(value, live[key])
                                              for key, value in desired.items())
    if isinstance(desired, list):
        return isinstance(live, list) and len(desired) == len(live) and all(
            contained(d, lv) for d, lv in zip(desired, live))
    if desired == live:
        return True
    if isinstance(desired, (int, float)) and isinstance(live, str) or isinstance(desired, str) and isinstance(live, (int, float)):
        return str(desired) == str(live)
    left, right = quantity(str(desired)) if desired is not None else None, quantity(live) if isinstance(live, str) else None
    return left is not None and right is not None and left == right


def _key(obj):
    meta = obj.get("metadata") or {}
    return (obj.get("apiVersion"), obj.get("kind"), meta.get("namespace") or "", meta.get("name"))


def drifted(desired, live):
    """The objects of ``desired`` that are absent from ``live`` or differ from their live version.

    ``live`` is a list of objects, or of ``kubernetes.core.k8s_info`` results (dicts with ``resources``).
    Objects are matched by apiVersion, kind, namespace and name.
    """
    found = {}
    for entry in live or []:
        objects = entry.get("resources", []) if isinstance(entry, dict) and "resources" in entry else [entry]
        for obj in objects or []:
            if isinstance(obj, dict):
                found[_key(obj)] = obj
    return [obj for obj in desired or [] if not contained(obj, found.get(_key(obj)))]


def waiting_on_namespace(desired, live):
    """The namespaced objects of ``desired`` whose namespace is neither live nor created before them in ``desired``.

    In check mode the API server cannot dry-run their creation (it answers 404 for the namespace), so a role
    reports them as to be created instead of sending them.
    """
    namespaces = set()
    for entry in live or []:
        objects = entry.get("resources", []) if isinstance(entry, dict) and "resources" in entry else [entry]
        namespaces.update(o["metadata"]["name"] for o in objects or [] if isinstance(o, dict) and o.get("kind") == "Namespace")
    return [obj for obj in desired or []
            if (obj.get("metadata") or {}).get("namespace") and obj["metadata"]["namespace"] not in namespaces]
