"""Send one RFC 5425 syslog frame (octet-counted, RFC 5424 message) to a collector's TLS port three
ways: over TLS with this host's certificate, over TLS without a client certificate, and in plaintext.
Print, as JSON, what each connection did. The markers are MARKER-tls, MARKER-nocert and MARKER-plain."""
import argparse
import datetime
import json
import socket
import ssl

parser = argparse.ArgumentParser()
parser.add_argument("collector")
parser.add_argument("--port", type=int, default=6514)
parser.add_argument("--tls-dir", default="/etc/sovereign/audit-tls")
parser.add_argument("--hostname", required=True)
parser.add_argument("--marker", required=True)
args = parser.parse_args()


def frame(kind):
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")
    msg = "<134>1 %s %s sovereign-tcp-probe - - - %s-%s" % (stamp, args.hostname, args.marker, kind)
    return ("%d %s" % (len(msg), msg)).encode("ascii")


def attempt(kind, with_tls, with_cert):
    result = {"kind": kind}
    sock = socket.create_connection((args.collector, args.port), timeout=10)
    try:
        if with_tls:
            context = ssl.create_default_context(cafile="%s/ca.crt" % args.tls_dir)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            if with_cert:
                context.load_cert_chain("%s/host.crt" % args.tls_dir, "%s/host.key" % args.tls_dir)
            try:
                sock = context.wrap_socket(sock, server_hostname=args.collector)
                result["handshake"] = sock.version()
            except (ssl.SSLError, OSError) as exc:
                result["handshake"] = "failed: %r" % exc
                return result
        try:
            sock.sendall(frame(kind))
            # A syslog collector never answers: a session it keeps stays silent until the timeout.
            sock.settimeout(3)
            data = sock.recv(4096)
            result["after_send"] = "closed" if data == b"" else "answered %r" % data[:100]
        except socket.timeout:
            result["after_send"] = "open"
        except (ssl.SSLError, OSError) as exc:
            result["after_send"] = "closed: %r" % exc
    finally:
        sock.close()
    return result


print(json.dumps({
    "tls": attempt("tls", True, True),
    "nocert": attempt("nocert", True, False),
    "plain": attempt("plain", False, False),
}))
