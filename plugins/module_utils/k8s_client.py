# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared Kubernetes client options and a small adapter over the official ``kubernetes`` client.

Modules take :data:`K8S_AUTH_ARGSPEC` (documented by the ``sovereign.cluster.k8s_auth`` doc
fragment, the way kubernetes.core does with ``k8s_auth_options``), call :func:`redact_k8s_auth`
right after ``AnsibleModule()``, then :func:`build_api_client`, and talk to the API only through
:class:`KubernetesObjectsAdapter`,
which takes and returns plain dicts. Keeping every client call here lets the planners stay pure,
and keeps one code path for every API server.

Design rules for the adapter (tested on a real kube-apiserver, tests/integration/k8s):
- writes are POST (create), merge PATCH (update) and DELETE: no PUT, no server-side apply;
- a label selector is sent as an optimisation only; callers filter labels client-side too;
- list responses are read as ``items`` only (``kind``/``apiVersion`` of a list are not needed).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import json
import logging
import os
import re
import traceback

from ansible.module_utils.basic import env_fallback

from urllib.parse import urlsplit

try:
    import yaml
    _YAML_ERRORS = (yaml.YAMLError,)
except ImportError:  # a dependency of the kubernetes client; without it the module fails on HAS_KUBERNETES
    yaml = None
    _YAML_ERRORS = ()

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

    class ApiException(Exception):  # noqa: N818 - stand-in so that except clauses stay valid
        status = None

    class ConfigException(Exception):  # noqa: N818
        pass


K8S_AUTH_ARGSPEC = dict(
    # no_log: AnsibleModule logs its "Invoked with" line to syslog, and fails on a bad argument, before a module can
    # add the kubeconfig's secrets to no_log_values; redact_k8s_auth() then narrows the masking to those secrets.
    kubeconfig=dict(type="raw", no_log=True, fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
    client_cert=dict(type="path", aliases=["cert_file"], fallback=(env_fallback, ["K8S_AUTH_CERT_FILE"])),
    client_key=dict(type="path", aliases=["key_file"], no_log=False, fallback=(env_fallback, ["K8S_AUTH_KEY_FILE"])),
    proxy=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_PROXY"])),
    request_timeout=dict(type="int", default=30),
)

_IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"

# Keys of a kubeconfig user (at any depth: auth-provider config, future fields) whose value is a secret.
_SECRET_KEY = re.compile(r"token|secret|password|passwd|key-data|credential", re.IGNORECASE)
_BASE64_SECRET_KEYS = ("client-key-data",)  # also masked decoded: the client writes the decoded key to a temp file
_SECRET_FILE_KEYS = ("tokenFile",)  # a path whose content is the secret


class K8sClientError(Exception):
    """A connection, configuration or API error, with a message that is safe to show (no secrets)."""

    def __init__(self, message, status=None):
        super(K8sClientError, self).__init__(message)
        self.status = status


def kubeconfig_secrets(kubeconfig):
    """Every secret value of a kubeconfig given as a dict, or as a path (or ':'-separated paths) to files.

    Secrets are, in each ``users[].user``: ``token``, ``password``, ``client-key-data`` (also decoded),
    the content of ``tokenFile``, every ``auth-provider.config`` value whose key names a token or secret
    (``id-token``, ``refresh-token``, ``access-token``, ``client-secret``), every ``exec.env[].value``; and
    the password of a ``server`` or ``proxy-url`` URL. Certificates, CA data, names and URLs are not secret.
    A file that cannot be read or parsed adds nothing (loading it then fails without quoting it).
    """
    secrets = set()
    for document in _kubeconfig_documents(kubeconfig):
        for entry in _entries(document, "users"):
            _collect_user_secrets(entry.get("user"), secrets)
        for entry in _entries(document, "clusters"):
            cluster = entry.get("cluster") if isinstance(entry.get("cluster"), dict) else {}
            for key in ("server", "proxy-url"):
                _add(secrets, _url_password(cluster.get(key)))
    return secrets


def default_kubeconfig_paths(params):
    """The kubeconfig files :func:`build_configuration` reads when ``kubeconfig`` is not set (may not exist)."""
    if params.get("kubeconfig") or (params.get("host") and not params.get("context")):
        return []
    return [os.path.expanduser(path) for path in os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)
            if path]


def redact_k8s_auth(module):
    """Mask every Kubernetes credential of the module's connection options in all it returns and logs.

    Call it right after ``AnsibleModule()``. Ansible has masked every value of the ``no_log`` kubeconfig (names,
    URLs, ``v1`` ...) so far; this replaces those by the kubeconfig's secrets (:func:`kubeconfig_secrets`, for a
    dict, a file, or the default file), plus ``api_key``, the in-cluster token and passwords in ``host``/``proxy``.
    """
    params = module.params
    kept = set()
    for name, options in module.argument_spec.items():
        if options.get("no_log") and name != "kubeconfig":
            kept.update(_leaf_strings(params.get(name)))
    module.no_log_values.difference_update(_leaf_strings(params.get("kubeconfig")) - kept)
    secrets = kubeconfig_secrets(params.get("kubeconfig"))
    secrets.update(kubeconfig_secrets(os.pathsep.join(default_kubeconfig_paths(params))))
    if not params.get("kubeconfig") and not params.get("host"):
        secrets.update(_file_secret(_IN_CLUSTER_TOKEN))
    _add(secrets, params.get("api_key"))
    for name in ("host", "proxy"):
        _add(secrets, _url_password(params.get(name)))
    module.no_log_values.update(secrets)
    return secrets


def _kubeconfig_source(kubeconfig):
    """Where a kubeconfig was read from, for an error message (a path is not a secret; a mapping's content is)."""
    if isinstance(kubeconfig, dict):
        return "the kubeconfig mapping"
    if isinstance(kubeconfig, str) and kubeconfig:
        return repr(kubeconfig)
    return "the default kubeconfig (%r)" % os.environ.get("KUBECONFIG", "~/.kube/config")


def _kubeconfig_documents(kubeconfig):
    if isinstance(kubeconfig, dict):
        return [kubeconfig]
    if not isinstance(kubeconfig, str) or not kubeconfig or yaml is None:
        return []
    documents = []
    for path in kubeconfig.split(os.pathsep):
        try:
            with open(os.path.expanduser(path), "rb") as stream:
                document = yaml.safe_load(stream)
        except (IOError, OSError, ValueError) + _YAML_ERRORS:
            continue
        if isinstance(document, dict):
            documents.append(document)
    return documents


def _entries(document, section):
    return [entry for entry in document.get(section) or [] if isinstance(entry, dict)]


def _collect_user_secrets(user, secrets):
    if not isinstance(user, dict):
        return
    for key, value in user.items():
        if key == "exec" and isinstance(value, dict):
            for variable in value.get("env") or []:
                if isinstance(variable, dict):
                    _add(secrets, variable.get("value"))
        elif key in _SECRET_FILE_KEYS:
            secrets.update(_file_secret(value))
        elif _SECRET_KEY.search(str(key)):
            secrets.update(_leaf_strings(value))
            if key in _BASE64_SECRET_KEYS and isinstance(value, str):
                _add(secrets, _decoded(value))
        elif isinstance(value, (dict, list)):
            for item in value if isinstance(value, list) else [value]:
                _collect_user_secrets(item, secrets)


def _leaf_strings(value):
    """Every string (and number) inside ``value``, as Ansible collects the values of a ``no_log`` option."""
    if isinstance(value, bool) or value is None:
        return set()
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple, set)):
        return set().union(*(_leaf_strings(item) for item in value)) if value else set()
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return {text} if text else set()


def _add(secrets, value):
    if isinstance(value, str) and value.strip():
        secrets.add(value)


def _url_password(url):
    try:
        return urlsplit(url).password if isinstance(url, str) and "@" in url else None
    except ValueError:
        return None


def _decoded(data):
    try:
        return base64.b64decode(data.encode("ascii"), validate=False).decode("utf-8").strip()
    except (binascii.Error, ValueError, UnicodeError):
        return None


def _file_secret(path):
    try:
        with open(os.path.expanduser(path), "r") as stream:
            content = stream.read(65536).strip()
    except (IOError, OSError, TypeError, ValueError, UnicodeError):
        return set()
    return {content} if content else set()


class _ClientLogCapture(logging.Handler):
    """Keeps what the kubernetes client logs while loading a kubeconfig (an exec plugin's stderr, for one).

    Without a handler Python prints it to the module's stderr, which Ansible's masking never sees."""

    def __init__(self):
        super(_ClientLogCapture, self).__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        try:
            self.messages.append(record.getMessage())
        except Exception:  # a broken log call must not break the module
            self.messages.append(str(record.msg))


def build_configuration(params, client_warnings=None):
    """A ``kubernetes.client.Configuration`` from the module's connection options.

    Order: ``kubeconfig`` (path, ':'-separated paths, or a dict) with ``context``; else the
    default kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``) unless ``host`` is given; else the
    in-cluster service account. ``host``, ``api_key``, ``validate_certs``, ``ca_cert``,
    ``client_cert``, ``client_key`` and ``proxy`` then override what the kubeconfig said.
    What the client logs while loading goes to ``client_warnings`` (a list), for the module to
    warn through Ansible's masking, instead of to stderr.
    """
    if not HAS_KUBERNETES:
        raise K8sClientError("the kubernetes Python library is required: pip install kubernetes")
    configuration = k8s_client.Configuration()
    kubeconfig, context, host = params.get("kubeconfig"), params.get("context"), params.get("host")
    capture = _ClientLogCapture()
    root = logging.getLogger()
    root.addHandler(capture)
    try:
        if isinstance(kubeconfig, dict):
            k8s_config.load_kube_config_from_dict(kubeconfig, context=context, client_configuration=configuration,
                                                  persist_config=False)
        elif kubeconfig or context or not host:
            path = os.path.expanduser(kubeconfig) if kubeconfig else None
            default_path = os.path.expanduser(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0])
            if path is None and not context and not os.path.exists(default_path) and os.path.exists(_IN_CLUSTER_TOKEN):
                k8s_config.load_incluster_config(client_configuration=configuration)
            else:
                k8s_config.load_kube_config(config_file=path, context=context, client_configuration=configuration,
                                            persist_config=False)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise K8sClientError("kubeconfig/context: cannot load the Kubernetes client configuration from %s (%s): set "
                             "kubeconfig to a readable file and context to one of its contexts, or set host and "
                             "api_key" % (_kubeconfig_source(kubeconfig), exc))
    except _YAML_ERRORS as exc:  # its message quotes the offending line of the file: name only its position
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark is not None else ""
        raise K8sClientError("kubeconfig: the file %s is not valid YAML%s: fix it or point kubeconfig to another file"
                             % (_kubeconfig_source(kubeconfig), where))
    finally:
        root.removeHandler(capture)
        if client_warnings is not None:
            client_warnings.extend("kubernetes client: %s" % message for message in capture.messages)
    if host:
        configuration.host = host
    if params.get("api_key"):
        configuration.api_key = {"BearerToken": "Bearer %s" % params["api_key"]}
        configuration.refresh_api_key_hook = None  # the kubeconfig's hook would put its own token back
    if params.get("validate_certs") is not None:
        configuration.verify_ssl = params["validate_certs"]
    for option, attribute in (("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"),
                              ("client_key", "key_file"), ("proxy", "proxy")):
        if params.get(option):
            setattr(configuration, attribute, params[option])
    return configuration


def build_api_client(params, client_warnings=None):
    """A ready ``kubernetes.client.ApiClient`` (see :func:`build_configuration`)."""
    return k8s_client.ApiClient(build_configuration(params, client_warnings))


def _api_error(exc, what):
    """Turn an ApiException into a K8sClientError naming the object and the API's own message."""
    message = getattr(exc, "reason", None) or str(exc)
    body = getattr(exc, "body", None)
    if body:
        try:
            message = json.loads(body).get("message") or message
        except (ValueError, AttributeError, TypeError):
            pass
    hint = ""
    if exc.status in (401, 403):
        hint = ": check the credentials (kubeconfig, context or api_key) and that they may manage RBAC objects"
    return K8sClientError("%s failed: HTTP %s %s%s" % (what, exc.status, message, hint), status=exc.status)


class KubernetesObjectsAdapter(object):
    """Plain-dict access to the objects ``tenant_rbac`` needs (Namespace, Role, RoleBinding,
    ClusterRole, ClusterRoleBinding), through the typed API classes of the official client."""

    # kind -> (api attribute, namespaced, method suffix)
    KINDS = {
        "Namespace": ("core", False, "namespace"),
        "Role": ("rbac", True, "role"),
        "RoleBinding": ("rbac", True, "role_binding"),
        "ClusterRole": ("rbac", False, "cluster_role"),
        "ClusterRoleBinding": ("rbac", False, "cluster_role_binding"),
    }

    def __init__(self, api_client, request_timeout=30):
        self._apis = {"core": k8s_client.CoreV1Api(api_client), "rbac": k8s_client.RbacAuthorizationV1Api(api_client)}
        self._timeout = request_timeout

    def _call(self, kind, operation, what, *args, **kwargs):
        api_name, namespaced, suffix = self.KINDS[kind]
        if operation in ("list_all",):
            method = "list_%s_for_all_namespaces" % suffix if namespaced else "list_%s" % suffix
        else:
            method = "%s_%s%s" % (operation, "namespaced_" if namespaced else "", suffix)
        kwargs.update(_preload_content=False, _request_timeout=self._timeout)
        try:
            response = getattr(self._apis[api_name], method)(*args, **kwargs)
        except ApiException as exc:
            raise _api_error(exc, what)
        except Exception as exc:  # urllib3 connection errors and the like: name the endpoint, not the token
            raise K8sClientError("%s failed: %s: %s" % (what, type(exc).__name__, exc))
        data = response.data
        return json.loads(data) if data else {}

    def list_objects(self, kind, label_selector=None):
        """Every object of ``kind`` (all namespaces). ``label_selector`` is only a hint: filter again."""
        kwargs = {"label_selector": label_selector} if label_selector else {}
        return self._call(kind, "list_all", "listing %s objects" % kind, **kwargs).get("items") or []

    def namespace_labels(self):
        """``{namespace: labels}`` for every namespace."""
        return {(ns.get("metadata") or {}).get("name"): (ns.get("metadata") or {}).get("labels") or {}
                for ns in self.list_objects("Namespace")}

    def read_object(self, kind, name, namespace=None):
        """The live object, or None when it does not exist."""
        args = (name, namespace) if self.KINDS[kind][1] else (name,)
        try:
            return self._call(kind, "read", "reading %s %s" % (kind, _ref(name, namespace)), *args)
        except K8sClientError as exc:
            if exc.status == 404:
                return None
            raise

    def create_object(self, obj):
        kind, meta = obj["kind"], obj["metadata"]
        args = (meta["namespace"], obj) if self.KINDS[kind][1] else (obj,)
        return self._call(kind, "create", "creating %s %s" % (kind, _ref(meta["name"], meta.get("namespace"))), *args)

    def patch_object(self, kind, name, namespace, patch):
        """JSON merge patch (RFC 7386): lists such as rules and subjects are replaced whole."""
        args = (name, namespace, patch) if self.KINDS[kind][1] else (name, patch)
        return self._call(kind, "patch", "updating %s %s" % (kind, _ref(name, namespace)), *args,
                          _content_type="application/merge-patch+json")

    def delete_object(self, kind, name, namespace=None):
        args = (name, namespace) if self.KINDS[kind][1] else (name,)
        try:
            return self._call(kind, "delete", "deleting %s %s" % (kind, _ref(name, namespace)), *args)
        except K8sClientError as exc:
            if exc.status == 404:  # already gone: the goal is reached
                return None
            raise


def _ref(name, namespace):
    return "%s/%s" % (namespace, name) if namespace else name
