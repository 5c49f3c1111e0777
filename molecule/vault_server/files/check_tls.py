"""Which TLS versions the OpenBao listener accepts; run on the node, prints JSON.

For TLS 1.0/1.1 the client allows them explicitly (SECLEVEL=0), so a refusal comes from the server
(a "protocol version" alert), not from the client's own policy.
"""
import json
import socket
import ssl
import sys

HOST, PORT, CAFILE = "127.0.0.1", int(sys.argv[1]), sys.argv[2]
VERSIONS = {"TLSv1_1": ssl.TLSVersion.TLSv1_1, "TLSv1_2": ssl.TLSVersion.TLSv1_2, "TLSv1_3": ssl.TLSVersion.TLSv1_3}


def attempt(version):
    context = ssl.create_default_context(cafile=CAFILE)
    if version == ssl.TLSVersion.TLSv1_1:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = version
    context.maximum_version = version
    try:
        with socket.create_connection((HOST, PORT), timeout=5) as sock:
            with context.wrap_socket(sock, server_hostname="localhost") as tls:
                return {"accepted": True, "version": tls.version()}
    except ssl.SSLError as exc:
        return {"accepted": False, "error": str(exc)}


print(json.dumps({name: attempt(version) for name, version in VERSIONS.items()}))
