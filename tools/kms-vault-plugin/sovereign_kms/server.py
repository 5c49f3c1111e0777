# Copyright (c) sovereign.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The KMS v2 gRPC service (Status, Encrypt, Decrypt) over a unix socket, backed by Vault transit.

It fails closed: any Vault/OpenBao failure is a gRPC error (or a Status whose healthz is not "ok"),
never a made-up ciphertext or plaintext.
"""
import argparse
import logging
import os
import signal
import stat
import sys
import threading
from concurrent import futures

import grpc

from sovereign_kms import KMS_API_VERSION, __version__, api_pb2, api_pb2_grpc, renewal, vault

LOG = logging.getLogger("sovereign_kms")

DEFAULT_SOCKET = "/run/sovereign-kms/kms.sock"
# kube-apiserver rejects a key_id longer than 1 kB.
MAX_KEY_ID_BYTES = 1024
# What Status encrypts and decrypts to prove the whole path works.
HEALTH_PROBE = b"sovereign-kms-healthz"

GRPC_CODES = {
    vault.SEALED: grpc.StatusCode.UNAVAILABLE,
    vault.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    vault.AUTH: grpc.StatusCode.UNAUTHENTICATED,
    vault.DENIED: grpc.StatusCode.PERMISSION_DENIED,
    vault.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    vault.PROTOCOL: grpc.StatusCode.INTERNAL,
}


def derive_key_id(mount, key_name, version):
    """The KMS key id for version ``version`` of transit key ``mount``/``key_name``.

    Stable for a given key version and different for each version, so kube-apiserver notices a
    rotation (a new write key) and re-encrypts its DEKs with it.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError("transit key version must be an integer >= 1, got %r" % (version,))
    if not mount or not key_name:
        raise ValueError("transit mount and key name must not be empty")
    key_id = "vault-transit:%s/%s:v%d" % (mount.strip("/"), key_name, version)
    if len(key_id.encode()) > MAX_KEY_ID_BYTES:
        raise ValueError("key id longer than %d bytes: shorten the transit mount or key name" % MAX_KEY_ID_BYTES)
    return key_id


def health_message(exc):
    """The healthz text for a failed round trip (anything but "ok" fails kube-apiserver's healthz)."""
    if exc.kind == vault.SEALED:
        return "vault sealed: %s" % exc.args[0]
    return "vault %s: %s" % (exc.kind, exc.args[0])


class KmsService(api_pb2_grpc.KeyManagementServiceServicer):
    """The KeyManagementService backed by one transit key."""

    def __init__(self, client, tokens, transit_mount, transit_key):
        self.client = client
        self.tokens = tokens
        self.mount = transit_mount.strip("/")
        self.key = transit_key

    def _with_token(self, call):
        """``call(token)``; when Vault refuses the token (expired, revoked), log in again and retry once."""
        token = self.tokens.token()
        try:
            return call(token)
        except vault.VaultError as exc:
            if exc.kind != vault.DENIED:
                raise
            LOG.warning("Vault refused the token (%s): logging in again and retrying once", exc)
            self.tokens.invalidate(token)
            return call(self.tokens.token())

    def _encrypt(self, plaintext):
        ciphertext, version = self._with_token(
            lambda token: self.client.transit_encrypt(token, self.mount, self.key, plaintext))
        return ciphertext, derive_key_id(self.mount, self.key, version)

    def _decrypt(self, ciphertext):
        return self._with_token(lambda token: self.client.transit_decrypt(token, self.mount, self.key, ciphertext))

    @staticmethod
    def _abort(context, exc, operation, uid):
        LOG.warning("%s uid=%s failed: %s", operation, uid or "-", exc)
        context.abort(GRPC_CODES.get(exc.kind, grpc.StatusCode.INTERNAL), "%s failed: %s" % (operation, exc))

    def Status(self, request, context):
        try:
            ciphertext, key_id = self._encrypt(HEALTH_PROBE)
            if self._decrypt(ciphertext) != HEALTH_PROBE:
                raise vault.VaultError(vault.PROTOCOL, "transit round trip returned a different plaintext")
        except vault.VaultError as exc:
            LOG.warning("status: unhealthy: %s", exc)
            return api_pb2.StatusResponse(version=KMS_API_VERSION, healthz=health_message(exc), key_id="")
        return api_pb2.StatusResponse(version=KMS_API_VERSION, healthz="ok", key_id=key_id)

    def Encrypt(self, request, context):
        if not request.plaintext:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "encrypt: empty plaintext")
        try:
            ciphertext, key_id = self._encrypt(request.plaintext)
        except vault.VaultError as exc:
            self._abort(context, exc, "encrypt", request.uid)
        encoded = ciphertext.encode("ascii")
        if encoded == request.plaintext:  # fail closed, whatever the server answered
            context.abort(grpc.StatusCode.INTERNAL, "encrypt: the ciphertext equals the plaintext")
        LOG.debug("encrypt uid=%s key_id=%s", request.uid or "-", key_id)
        return api_pb2.EncryptResponse(ciphertext=encoded, key_id=key_id)

    def Decrypt(self, request, context):
        try:
            ciphertext = request.ciphertext.decode("ascii")
        except UnicodeDecodeError:
            ciphertext = ""
        if vault.key_version_of(ciphertext) is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "decrypt: ciphertext is not a Vault transit ciphertext (vault:vN:...)")
        try:
            plaintext = self._decrypt(ciphertext)
        except vault.VaultError as exc:
            self._abort(context, exc, "decrypt", request.uid)
        LOG.debug("decrypt uid=%s key_id=%s", request.uid or "-", request.key_id or "-")
        return api_pb2.DecryptResponse(plaintext=plaintext)


def read_secret_file(path, what):
    """The stripped content of ``path``; a VaultError(AUTH) naming ``what`` when it is missing or empty."""
    try:
        mode = os.stat(path).st_mode
        with open(path, encoding="utf-8") as handle:
            value = handle.read().strip()
    except OSError as exc:
        raise vault.VaultError(vault.AUTH, "cannot read the %s file %s: %s" % (what, path, exc.strerror)) from None
    if not value:
        raise vault.VaultError(vault.AUTH, "the %s file %s is empty" % (what, path))
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        LOG.warning("the %s file %s is readable by group or others: chmod 0400 it", what, path)
    return value


def env_default(name, default=None):
    return os.environ.get("SOVEREIGN_KMS_" + name, default)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sovereign-kms-vault",
        description="Kubernetes KMS v2 plugin backed by a Vault/OpenBao transit key (AppRole auth). "
                    "Every option can also be set as SOVEREIGN_KMS_<OPTION> (e.g. SOVEREIGN_KMS_VAULT_ADDR).")
    parser.add_argument("--socket", default=env_default("SOCKET", DEFAULT_SOCKET),
                        help="unix socket to serve on (default %(default)s)")
    parser.add_argument("--vault-addr", default=env_default("VAULT_ADDR"), help="https://vault.example:8200")
    parser.add_argument("--ca-cert", default=env_default("CA_CERT"), help="CA bundle (PEM) to verify Vault's TLS")
    parser.add_argument("--vault-namespace", default=env_default("VAULT_NAMESPACE"), help="Vault/OpenBao namespace")
    parser.add_argument("--vault-timeout", type=float, default=float(env_default("VAULT_TIMEOUT", "5")),
                        help="seconds per Vault request (default %(default)s)")
    parser.add_argument("--transit-mount", default=env_default("TRANSIT_MOUNT", "transit"))
    parser.add_argument("--transit-key", default=env_default("TRANSIT_KEY"), help="transit key name")
    parser.add_argument("--approle-mount", default=env_default("APPROLE_MOUNT", "approle"))
    parser.add_argument("--role-id-file", default=env_default("ROLE_ID_FILE"), help="file holding the AppRole role_id")
    parser.add_argument("--secret-id-file", default=env_default("SECRET_ID_FILE"),
                        help="file holding the AppRole secret_id (re-read at each login)")
    parser.add_argument("--grpc-workers", type=int, default=int(env_default("GRPC_WORKERS", "4")))
    parser.add_argument("--log-level", default=env_default("LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--healthcheck", action="store_true",
                        help="call Status on --socket and exit 0 when healthz is ok, 1 otherwise")
    parser.add_argument("--healthcheck-timeout", type=float, default=15.0)
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    return parser


def healthcheck(socket_path, timeout):
    """Call Status over ``socket_path``; 0 when healthy, 1 otherwise (one line on stdout)."""
    with grpc.insecure_channel("unix:" + socket_path) as channel:
        try:
            response = api_pb2_grpc.KeyManagementServiceStub(channel).Status(api_pb2.StatusRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            print("unhealthy: %s: %s" % (exc.code().name, exc.details()))
            return 1
    if response.healthz == "ok" and response.version == KMS_API_VERSION and response.key_id:
        print("ok version=%s key_id=%s" % (response.version, response.key_id))
        return 0
    print("unhealthy: version=%s healthz=%s" % (response.version, response.healthz))
    return 1


def prepare_socket(path):
    """Create the socket's folder and remove a stale socket left by a previous run."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, mode=0o750, exist_ok=True)
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
        else:
            raise SystemExit("%s exists and is not a socket: refusing to replace it" % path)
    except FileNotFoundError:
        pass


def serve(args):
    missing = [name for name in ("vault_addr", "transit_key", "role_id_file", "secret_id_file")
               if not getattr(args, name)]
    if missing:
        raise SystemExit("missing required option(s): %s" % ", ".join("--" + m.replace("_", "-") for m in missing))
    client = vault.VaultClient(args.vault_addr, ca_cert=args.ca_cert, namespace=args.vault_namespace,
                               timeout=args.vault_timeout)
    tokens = renewal.TokenManager(
        client, args.approle_mount.strip("/"),
        lambda: (read_secret_file(args.role_id_file, "role_id"), read_secret_file(args.secret_id_file, "secret_id")))
    try:
        tokens.token()
    except vault.VaultError:
        LOG.error("starting without a Vault token: requests fail (closed) until login succeeds")
    tokens.start()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.grpc_workers, thread_name_prefix="kms"))
    api_pb2_grpc.add_KeyManagementServiceServicer_to_server(
        KmsService(client, tokens, args.transit_mount, args.transit_key), server)
    prepare_socket(args.socket)
    old_umask = os.umask(0o077)  # the socket is for kube-apiserver (root) only
    try:
        server.add_insecure_port("unix:" + args.socket)
    finally:
        os.umask(old_umask)
    server.start()
    LOG.info("sovereign-kms-vault %s serving KMS %s on %s (transit key %s/%s at %s)", __version__,
             KMS_API_VERSION, args.socket, args.transit_mount, args.transit_key, args.vault_addr)

    stopping = threading.Event()

    def on_signal(signum, _frame):
        LOG.info("signal %s: stopping", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopping.wait()
    server.stop(grace=5).wait()
    tokens.stop()
    try:
        os.unlink(args.socket)
    except FileNotFoundError:
        pass
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.healthcheck:
        return healthcheck(args.socket, args.healthcheck_timeout)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(args)
