# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Kubernetes API *emulator* for tests: kmock 0.8's KubernetesEmulator with its gaps patched.

This is not a cluster: there is no authorisation, no admission, no validation, no uid or
resourceVersion, no garbage collection. It gives the official ``kubernetes`` client a real HTTP
API on loopback that stores objects, so a module's API behaviour (what it reads, creates,
patches, deletes; idempotence; check mode making no write) can be tested end to end.

Gaps of kmock 0.8 and what this fixture does about them:
- namespaces are broken (``/api/v1/namespaces`` fails, ``/api/v1/namespaces/<n>`` is read as
  "all resources of namespace n"): ``kmock._internal.parsing.parse_path`` is wrapped while the
  emulator runs so that the Namespace resource itself is recognised;
- list responses lack ``kind``/``apiVersion``: ``_serve_list`` is overridden to add them;
- no PUT and server-side apply on a missing object returns 404: not patched; code under test must
  use POST / merge PATCH / DELETE (the request log lets tests assert that);
- labelSelector and fieldSelector are ignored: deliberately *not* patched, so that tests prove
  the code filters labels client-side and never relies on the selector;
- create answers 200 instead of 201: harmless for the client.

Use :func:`k8s_emulator` as a pytest fixture, or ``with KubernetesApiEmulator() as emulator``.
"""
import asyncio
import json
import threading
import urllib.error
import urllib.request

import pytest

# kmock==0.8 (a missing emulator must fail loudly, not skip); its private modules are what we patch.
from kmock._internal import apps, k8s, parsing

RBAC = "rbac.authorization.k8s.io/v1"
# kind -> (resource key for kmock, URL prefix, plural, namespaced)
KINDS = {
    "Namespace": ("v1/namespaces", "/api/v1", "namespaces", False),
    "Role": (RBAC + "/roles", "/apis/" + RBAC, "roles", True),
    "RoleBinding": (RBAC + "/rolebindings", "/apis/" + RBAC, "rolebindings", True),
    "ClusterRole": (RBAC + "/clusterroles", "/apis/" + RBAC, "clusterroles", False),
    "ClusterRoleBinding": (RBAC + "/clusterrolebindings", "/apis/" + RBAC, "clusterrolebindings", False),
}
_API_VERSIONS = {"Namespace": "v1"}


def _parse_path_with_namespaces(original):
    """Wrap kmock's parse_path so that the Namespace resource itself is parsed as a resource."""

    def parse_path(path):
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "v1"] and len(parts) >= 3 and parts[2] == "namespaces":
            rest = parts[3:]
            if len(rest) <= 1 or rest[1] in ("status", "finalize"):
                return parsing.ParsedPath(group="", version="v1", plural="namespaces",
                                          namespace=None, name=rest[0] if rest else None,
                                          subresource=rest[1] if len(rest) > 1 else None)
        return original(path)

    return parse_path


class _PatchedEmulator(k8s.KubernetesEmulator):
    """KubernetesEmulator that answers lists with kind/apiVersion and logs every request."""

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self.request_log = []
        self.authorizations = []
        self.list_kinds = {}

    async def _handle(self, request):
        self.request_log.append((str(request.method).upper().rsplit(".", 1)[-1], request.url.path_qs))
        self.authorizations.append(request.headers.get("Authorization"))
        return await super()._handle(request)

    async def _serve_list(self, request):
        payload = await super()._serve_list(request)
        kind, api_version = self.list_kinds.get(request.resource.plural, (None, None))
        if kind:
            payload = dict(payload, kind=kind + "List", apiVersion=api_version)
        return payload


class KubernetesApiEmulator:
    """The emulator on a loopback port, served from a background thread (the client is synchronous)."""

    def __init__(self):
        self.url = None
        self._handler = None
        self._loop = None
        self._stop = None
        self._ready = threading.Event()
        self._error = None
        self._thread = None
        self._original_parse_path = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        self._original_parse_path = parsing.parse_path
        parsing.parse_path = _parse_path_with_namespaces(self._original_parse_path)
        self._thread = threading.Thread(target=self._serve, name="kmock-k8s-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(15) or self._error:
            self.__exit__(None, None, None)
            raise RuntimeError("the Kubernetes API emulator did not start: %r" % (self._error,))
        return self

    def __exit__(self, *exc_info):
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)
        if self._original_parse_path is not None:
            parsing.parse_path = self._original_parse_path
            self._original_parse_path = None

    def _serve(self):
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except Exception as exc:  # surfaced by __enter__
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self):
        self._stop = asyncio.Event()
        async with _PatchedEmulator() as handler, apps.Server(handler) as server:
            for kind, (resource, _prefix, plural, namespaced) in KINDS.items():
                handler.resources[resource] = k8s.KubernetesScaffold.ResourceInfo(kind=kind, namespaced=namespaced)
                handler.list_kinds[plural] = (kind, _API_VERSIONS.get(kind, RBAC))
            self._handler = handler
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    # -- helpers for tests (plain HTTP, independent of the code under test) -----------------
    def path(self, kind, name=None, namespace=None):
        prefix, plural, namespaced = KINDS[kind][1:]
        url = prefix + ("/namespaces/%s" % namespace if namespaced and namespace else "") + "/" + plural
        return url + ("/" + name if name else "")

    def _request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def create(self, obj):
        """Store an object as a client would (POST)."""
        kind, meta = obj["kind"], obj["metadata"]
        body = dict(obj, apiVersion=_API_VERSIONS.get(kind, RBAC))
        return self._request("POST", self.path(kind, namespace=meta.get("namespace")), body)

    def add_namespace(self, name, labels=None):
        return self.create({"kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}})

    def get(self, kind, name, namespace=None):
        """The stored object, or None."""
        return self._request("GET", self.path(kind, name, namespace))

    def list(self, kind):
        """Every stored object of a kind (all namespaces)."""
        return (self._request("GET", self.path(kind)) or {}).get("items") or []

    def refs(self, kind):
        """Sorted ``namespace/name`` (or ``name``) of every stored object of a kind."""
        out = []
        for obj in self.list(kind):
            meta = obj["metadata"]
            out.append("%s/%s" % (meta["namespace"], meta["name"]) if meta.get("namespace") else meta["name"])
        return sorted(out)

    @property
    def requests(self):
        """``[(METHOD, path?query)]`` received so far."""
        return list(self._handler.request_log)

    @property
    def authorizations(self):
        """The Authorization header of each request (None when absent)."""
        return list(self._handler.authorizations)

    def clear_requests(self):
        """Forget the requests so far (e.g. after seeding), so that tests see only the code under test."""
        self._handler.request_log.clear()
        self._handler.authorizations.clear()

    def writes(self):
        """Requests that would change state on a real API server."""
        return [entry for entry in self.requests if entry[0] not in ("GET", "HEAD", "OPTIONS")]


@pytest.fixture()
def k8s_emulator():
    """A fresh, empty Kubernetes API emulator (kmock, patched) on loopback, stopped after the test."""
    with KubernetesApiEmulator() as emulator:
        yield emulator
