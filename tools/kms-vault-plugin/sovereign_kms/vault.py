# Copyright (c) sovereign.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The few Vault/OpenBao HTTP API calls the plugin needs, with the standard library only.

Every failure becomes a :class:`VaultError` with a ``kind`` the gRPC layer maps to a status code;
messages never carry tokens, secret ids, plaintexts or ciphertexts.
"""
import base64
import json
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request

# kinds of failure
SEALED = "sealed"            # the server answers but is sealed
UNAVAILABLE = "unavailable"  # unreachable, standby, 5xx, timeout
AUTH = "auth"                # AppRole login refused (wrong role_id/secret_id, secret_id expired)
DENIED = "denied"            # token lacks the policy, or expired/revoked
INVALID = "invalid"          # the request itself is wrong (bad ciphertext, unknown key)
PROTOCOL = "protocol"        # the answer does not look like Vault's

CIPHERTEXT_RE = re.compile(r"^vault:v(?P<version>[1-9][0-9]*):[A-Za-z0-9+/=]+$")


class VaultError(Exception):
    """A failed Vault call; ``kind`` is one of the module constants, ``status`` the HTTP status."""

    def __init__(self, kind, message, status=None):
        super().__init__(message)
        self.kind = kind
        self.status = status

    def __str__(self):
        return "%s: %s" % (self.kind, self.args[0])


def classify_http_error(status, errors):
    """The failure kind for an HTTP error ``status`` with Vault's ``errors`` list."""
    text = " ".join(errors).lower()
    if status == 503 and "sealed" in text:
        return SEALED
    if status in (429, 472, 473) or status >= 500:
        return UNAVAILABLE
    if status == 403:
        return DENIED
    if status in (400, 404):
        return INVALID
    return PROTOCOL


def key_version_of(ciphertext):
    """The transit key version inside a ``vault:vN:...`` ciphertext, or None when it is not one."""
    match = CIPHERTEXT_RE.match(ciphertext)
    return int(match.group("version")) if match else None


class VaultClient:
    """A minimal client: AppRole login, token renewal, transit encrypt/decrypt."""

    def __init__(self, addr, ca_cert=None, namespace=None, timeout=5.0):
        parsed = urllib.parse.urlparse(addr)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("vault address %r must be http(s)://host:port" % addr)
        self.addr = addr.rstrip("/")
        self.namespace = namespace
        self.timeout = timeout
        self._ssl = None
        if parsed.scheme == "https":
            self._ssl = ssl.create_default_context(cafile=ca_cert)
            self._ssl.minimum_version = ssl.TLSVersion.TLSv1_2

    def request(self, method, path, body=None, token=None):
        """``method`` ``/v1/<path>``; the decoded JSON answer ({} when empty)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("%s/v1/%s" % (self.addr, path.lstrip("/")), data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("X-Vault-Request", "true")
        if token:
            req.add_header("X-Vault-Token", token)
        if self.namespace:
            req.add_header("X-Vault-Namespace", self.namespace)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._ssl) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            try:
                errors = [str(e) for e in json.loads(exc.read() or b"{}").get("errors") or []]
            except ValueError:
                errors = []
            kind = classify_http_error(exc.code, errors)
            detail = " ".join("; ".join(errors).split()) or exc.reason
            raise VaultError(kind, "%s /v1/%s -> HTTP %s: %s" % (method, path, exc.code, detail), exc.code) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, ssl.SSLError) as exc:
            reason = getattr(exc, "reason", exc)
            raise VaultError(UNAVAILABLE, "cannot reach %s: %s" % (self.addr, reason)) from None
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise VaultError(PROTOCOL, "%s /v1/%s answered non-JSON" % (method, path)) from None

    def approle_login(self, mount, role_id, secret_id):
        """Log in with AppRole; (client_token, lease_duration, renewable)."""
        try:
            answer = self.request("POST", "auth/%s/login" % mount, {"role_id": role_id, "secret_id": secret_id})
        except VaultError as exc:
            if exc.kind in (INVALID, DENIED):
                hint = " (after repeated failures Vault locks the role out: see sys/locked-users)" if exc.kind == DENIED else ""
                raise VaultError(AUTH, "AppRole login at auth/%s refused (check role_id/secret_id)%s: %s"
                                 % (mount, hint, exc.args[0]), exc.status) from None
            raise
        return _auth_of(answer)

    def renew_self(self, token, increment=None):
        """Renew ``token``; (client_token, lease_duration, renewable)."""
        answer = self.request("POST", "auth/token/renew-self", {"increment": increment} if increment else {}, token)
        return _auth_of(answer)

    def transit_encrypt(self, token, mount, key, plaintext):
        """Encrypt ``plaintext`` bytes; (ciphertext string, key version)."""
        answer = self.request("POST", "%s/encrypt/%s" % (mount, key),
                              {"plaintext": base64.b64encode(plaintext).decode()}, token)
        ciphertext = (answer.get("data") or {}).get("ciphertext")
        version = key_version_of(ciphertext) if isinstance(ciphertext, str) else None
        if version is None:
            raise VaultError(PROTOCOL, "transit encrypt with %s/%s returned no vault:vN: ciphertext" % (mount, key))
        reported = (answer.get("data") or {}).get("key_version")
        if reported is not None and reported != version:
            raise VaultError(PROTOCOL, "transit encrypt reported key_version %s but the ciphertext says v%s"
                             % (reported, version))
        return ciphertext, version

    def transit_decrypt(self, token, mount, key, ciphertext):
        """Decrypt a ``vault:vN:...`` ciphertext string; the plaintext bytes."""
        answer = self.request("POST", "%s/decrypt/%s" % (mount, key), {"ciphertext": ciphertext}, token)
        encoded = (answer.get("data") or {}).get("plaintext")
        if not isinstance(encoded, str):
            raise VaultError(PROTOCOL, "transit decrypt with %s/%s returned no plaintext" % (mount, key))
        try:
            return base64.b64decode(encoded, validate=True)
        except ValueError:
            raise VaultError(PROTOCOL, "transit decrypt returned a plaintext that is not base64") from None


def _auth_of(answer):
    auth = answer.get("auth") or {}
    token = auth.get("client_token")
    if not token:
        raise VaultError(PROTOCOL, "login/renewal answer carries no auth.client_token")
    return token, int(auth.get("lease_duration") or 0), bool(auth.get("renewable"))
