"""Kubernetes, etcd and helm built from their source modules (the Go module proxy), cached by version.

    k8s_build.py build      build what is missing (a second build is a cache hit), print figures
    k8s_build.py path NAME  print the cached path of one binary (building it first when missing)
    k8s_build.py verify     check every cached binary against its .sha256 and its reported version
    k8s_build.py versions   print the pinned versions as JSON

No registry ships kube-apiserver and friends for this lab, so they are built from k8s.io/kubernetes
through a throw-away wrapper module: k8s.io/kubernetes' own go.mod replaces its staging modules with
./staging, which a dependency cannot do, so the wrapper replaces each of them with the published module
at the matching v0.x release. The version ldflags are required: without them the binaries say
v0.0.0-master and kubeadm refuses its own version.

The outputs are laid out like dl.k8s.io, which is what sovereign.cluster.kubernetes_node expects of its
air-gapped mirror (kubernetes_node_artifact_base_url), so the lab is its own mirror:

    $SOVEREIGN_CACHE/kubernetes/release/v<k8s>/bin/linux/amd64/<binary>      (+ <binary>.sha256)
    $SOVEREIGN_CACHE/kubernetes/etcd/v<etcd>/etcd, etcdctl                   (+ .sha256)
    $SOVEREIGN_CACHE/kubernetes/helm/v<helm>/helm                            (+ .sha256)
    $SOVEREIGN_CACHE/kubernetes/vcluster/v<chart>/vcluster-<chart>.tgz       (+ .sha256), helm package of the
                                                                             module's chart/ folder
    $SOVEREIGN_CACHE/kubernetes/build-<k8s>.json                             what was built, how long, sizes

The one place the versions live is VERSIONS below; the roles' default kubernetes_version is checked
against it by tests/unit/test_layout.py.
"""
import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VERSIONS = {
    "kubernetes": "1.36.3",
    # every k8s.io staging module at the release that matches kubernetes 1.x.y: v0.x.y
    "etcd": "3.6.16",
    "helm": "4.3.2",
    # kubernetes.core 6.2 (the ansible 12 bundle) drives helm >=3,<4 only (`helm list --all` is gone in v4):
    # the role's Helm task uses helm 3, packaging and `helm template` use helm 4
    "helm3": "3.21.4",
    # the vCluster Helm chart, from the chart/ folder of the github.com/loft-sh/vcluster module (v0.36.1 is the
    # newest release the module proxy serves here; v0.37.0-rc.1, whose values schema is in ../shared/fixtures,
    # and v0.35.x are not served)
    "vcluster": "0.36.1",
}
ARCH = "amd64"
K8S_BINARIES = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubeadm",
                "kube-proxy", "kubectl"]
STAGING = ["api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime", "client-go",
           "cloud-provider", "cluster-bootstrap", "code-generator", "component-base", "component-helpers",
           "controller-manager", "cri-api", "cri-client", "cri-streaming", "csi-translation-lib",
           "dynamic-resource-allocation", "endpointslice", "externaljwt", "kms", "kube-aggregator",
           "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubectl", "kubelet", "metrics",
           "mount-utils", "pod-security-admission", "streaming"]
ALL_BINARIES = K8S_BINARIES + ["etcd", "etcdctl", "helm", "helm3", "vcluster-chart"]
# What the test suite needs (the rest waits for the lab): tests/integration/k8s and the vCluster tests.
SUITE_BINARIES = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubeadm", "etcd", "etcdctl", "helm",
                  "helm3", "vcluster-chart"]
BUILD_TAGS = "selinux,notest,grpcnotrace"

CACHE = Path(os.environ.get("SOVEREIGN_CACHE", "/var/cache/sovereign-cluster"))
ROOT = CACHE / "kubernetes"


def log(msg):
    print(f"k8s_build: {msg}", file=sys.stderr, flush=True)


def release_dir(version=None):
    return ROOT / "release" / f"v{version or VERSIONS['kubernetes']}" / "bin" / "linux" / ARCH


def etcd_dir(version=None):
    return ROOT / "etcd" / f"v{version or VERSIONS['etcd']}"


def helm_dir(version=None):
    return ROOT / "helm" / f"v{version or VERSIONS['helm']}"


def vcluster_chart_path(version=None):
    version = version or VERSIONS["vcluster"]
    return ROOT / "vcluster" / f"v{version}" / f"vcluster-{version}.tgz"


def binary_path(name):
    if name in K8S_BINARIES:
        return release_dir() / name
    if name in ("etcd", "etcdctl"):
        return etcd_dir() / name
    if name == "helm":
        return helm_dir() / "helm"
    if name == "helm3":
        return helm_dir(VERSIONS["helm3"]) / "helm"
    if name == "vcluster-chart":
        return vcluster_chart_path()
    raise SystemExit(f"k8s_build: unknown binary {name!r}; one of {K8S_BINARIES + ['etcd', 'etcdctl', 'helm']}")


# Go 1.26 as these machines have it (/usr/local/go); GOTOOLCHAIN=local keeps go from fetching another one.
GO_DIRS = [d for d in (os.environ.get("SOVEREIGN_GO_ROOT", "/usr/local/go") + "/bin",) if os.path.isdir(d)]


def go_env():
    env = dict(os.environ, GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS="-mod=mod -buildvcs=false")
    env["PATH"] = os.pathsep.join(GO_DIRS + [env.get("PATH", "")])
    return env


def go(args, cwd, env=None):
    env = env or go_env()
    log("go " + " ".join(a if len(a) < 80 else a[:77] + "..." for a in args[:6]) + (" ..." if len(args) > 6 else ""))
    subprocess.run([shutil.which("go", path=env["PATH"]), *args], cwd=cwd, env=env, check=True)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def publish(tmp_binary, dest):
    """Move a built binary into the cache with its .sha256 (dl.k8s.io format: the bare digest)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = sha256_of(tmp_binary)
    part = dest.with_name(dest.name + ".part")
    shutil.copyfile(tmp_binary, part)
    os.chmod(part, 0o755)
    (dest.parent / (dest.name + ".sha256")).write_text(digest + "\n")
    os.replace(part, dest)
    return digest


def cached(dest):
    sha = dest.parent / (dest.name + ".sha256")
    return dest.is_file() and sha.is_file() and sha.read_text().split()[0] == sha256_of(dest)


def k8s_ldflags(version):
    major, minor = version.split(".")[:2]
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion=v{version}", f"-X {pkg}.gitMajor={major}",
                  f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean",
                  f"-X {pkg}.gitCommit=0000000000000000000000000000000000000000",
                  f"-X {pkg}.buildDate={date}"]
    return " ".join(flags)


def build_kubernetes(names, work):
    version = VERSIONS["kubernetes"]
    staging = "v0." + version.split(".", 1)[1]
    mod = work / "k8s"
    mod.mkdir()
    lines = ["module sovereign.local/k8sbuild", "", "go 1.26", "",
             f"require k8s.io/kubernetes v{version}", ""]
    lines += [f"replace k8s.io/{m} => k8s.io/{m} {staging}" for m in STAGING]
    # tool directives keep the main packages' dependencies in the module graph for go mod tidy
    lines += [""] + [f"tool k8s.io/kubernetes/cmd/{n}" for n in names]
    (mod / "go.mod").write_text("\n".join(lines) + "\n")
    go(["mod", "tidy"], mod)
    out = work / "out"
    out.mkdir(exist_ok=True)
    pkgs = [f"k8s.io/kubernetes/cmd/{n}" for n in names]
    go(["build", "-trimpath", "-tags", BUILD_TAGS, "-ldflags", k8s_ldflags(version), "-o", str(out) + "/",
        *pkgs], mod)
    return {n: publish(out / n, release_dir() / n) for n in names}


def build_etcd(work):
    version = VERSIONS["etcd"]
    mod = work / "etcd"
    mod.mkdir()
    (mod / "go.mod").write_text(
        "module sovereign.local/etcdbuild\n\ngo 1.26\n\n"
        f"require (\n\tgo.etcd.io/etcd/server/v3 v{version}\n\tgo.etcd.io/etcd/etcdctl/v3 v{version}\n)\n\n"
        "tool (\n\tgo.etcd.io/etcd/server/v3\n\tgo.etcd.io/etcd/etcdctl/v3\n)\n")
    go(["mod", "tidy"], mod)
    out = work / "out-etcd"
    out.mkdir()
    ldflags = f"-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v{version}"
    go(["build", "-trimpath", "-ldflags", ldflags, "-o", str(out / "etcd"), "go.etcd.io/etcd/server/v3"], mod)
    go(["build", "-trimpath", "-ldflags", ldflags, "-o", str(out / "etcdctl"), "go.etcd.io/etcd/etcdctl/v3"], mod)
    return {n: publish(out / n, etcd_dir() / n) for n in ("etcd", "etcdctl")}


def build_helm(work, name="helm"):
    version = VERSIONS[name]
    major = version.split(".")[0]
    gobin = work / f"gobin-{name}"
    env = dict(go_env(), GOBIN=str(gobin), GOFLAGS="-buildvcs=false")  # go install pkg@v: no -mod flag
    ldflags = f"-s -w -X helm.sh/helm/v{major}/internal/version.version=v{version}"
    go(["install", "-trimpath", "-ldflags", ldflags, f"helm.sh/helm/v{major}/cmd/helm@v{version}"], work, env=env)
    return {name: publish(gobin / "helm", binary_path(name))}


def build_vcluster_chart(work):
    """`helm package` of chart/ in the github.com/loft-sh/vcluster module at the pinned version."""
    version = VERSIONS["vcluster"]
    res = subprocess.run([shutil.which("go", path=go_env()["PATH"]), "mod", "download", "-json",
                          f"github.com/loft-sh/vcluster@v{version}"], cwd=work, env=go_env(), capture_output=True,
                         text=True, check=False)
    info = json.loads(res.stdout or "{}")
    if res.returncode != 0 or "Dir" not in info:
        raise SystemExit(f"k8s_build: github.com/loft-sh/vcluster@v{version} not downloadable: "
                         f"{info.get('Error') or res.stderr.strip()}")
    chart = work / "vcluster-chart" / "vcluster"
    shutil.copytree(Path(info["Dir"]) / "chart", chart)
    for path in [chart, *chart.rglob("*")]:  # the module cache is read-only
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    out = work / "vcluster-out"
    out.mkdir()
    helm_env = dict(os.environ, HELM_CACHE_HOME=str(work / "helm-cache"), HELM_CONFIG_HOME=str(work / "helm-config"),
                    HELM_DATA_HOME=str(work / "helm-data"))
    subprocess.run([str(binary_path("helm")), "package", str(chart), "--version", version, "--app-version", version,
                    "--destination", str(out)], check=True, env=helm_env)
    return {"vcluster-chart": publish(out / f"vcluster-{version}.tgz", vcluster_chart_path())}


def version_of(name):
    path = binary_path(name)
    if name == "vcluster-chart":
        res = subprocess.run([str(binary_path("helm")), "show", "chart", str(path)], capture_output=True, text=True,
                             timeout=60, check=False)
        return next((line for line in res.stdout.splitlines() if line.startswith("version:")), res.stderr.strip())
    args = {"kubectl": ["version", "--client"], "kubeadm": ["version", "-o", "short"], "etcd": ["--version"],
            "etcdctl": ["version"], "helm": ["version", "--short"],
            "helm3": ["version", "--short"]}.get(name, ["--version"])
    res = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=60, check=False)
    return (res.stdout + res.stderr).strip().splitlines()[0] if (res.stdout + res.stderr).strip() else ""


def expected_version(name):
    if name == "vcluster-chart":
        return f"version: {VERSIONS['vcluster']}"
    if name in K8S_BINARIES:
        return f"v{VERSIONS['kubernetes']}"
    if name in ("etcd", "etcdctl"):
        return VERSIONS["etcd"]
    return f"v{VERSIONS[name]}"


def dir_size(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) if Path(path).exists() else 0


def go_cache_dirs():
    env = go_env()
    res = subprocess.run([shutil.which("go", path=env["PATH"]), "env", "GOMODCACHE", "GOCACHE"], capture_output=True,
                         text=True, check=True, env=env)
    return res.stdout.split()


def cmd_build(args):
    started = time.monotonic()
    only = set(SUITE_BINARIES if args.only == "suite" else args.only.split(",")) if args.only else None
    unknown = (only or set()) - set(ALL_BINARIES)
    if unknown:
        raise SystemExit(f"k8s_build: --only names unknown binaries {sorted(unknown)}; known: {ALL_BINARIES}")
    wanted = [n for n in ALL_BINARIES if (only is None or n in only) and not cached(binary_path(n))]
    wanted_k8s = [n for n in K8S_BINARIES if n in wanted]
    want_etcd = "etcd" in wanted or "etcdctl" in wanted
    want_helm = "helm" in wanted
    want_helm3 = "helm3" in wanted
    want_chart = "vcluster-chart" in wanted
    timings = {}
    if wanted_k8s or want_etcd or want_helm or want_helm3 or want_chart:
        if shutil.which("go", path=go_env()["PATH"]) is None:
            raise SystemExit("k8s_build: no go command on PATH or in $SOVEREIGN_GO_ROOT/bin (default /usr/local/go): "
                             "install Go 1.26 and retry")
        with tempfile.TemporaryDirectory(prefix="sc-k8sbuild-") as tmp:
            work = Path(tmp)
            for label, wanted, fn in (("etcd", want_etcd, lambda: build_etcd(work)),
                                      ("kubernetes", wanted_k8s, lambda: build_kubernetes(wanted_k8s, work)),
                                      ("helm", want_helm, lambda: build_helm(work)),
                                      ("helm3", want_helm3, lambda: build_helm(work, "helm3")),
                                      ("vcluster-chart", want_chart, lambda: build_vcluster_chart(work))):
                if wanted:
                    t = time.monotonic()
                    fn()
                    timings[label] = round(time.monotonic() - t, 1)
    report = {"versions": VERSIONS, "cache_hit": not timings, "seconds": timings,
              "total_seconds": round(time.monotonic() - started, 1),
              "binaries": {n: {"path": str(binary_path(n)),
                               "sha256": (binary_path(n).parent / (binary_path(n).name + ".sha256")).read_text().strip(),
                               "bytes": binary_path(n).stat().st_size}
                           for n in ALL_BINARIES if cached(binary_path(n))},
              "disk_bytes": {"outputs": dir_size(ROOT)}}
    if args.measure_go_caches:
        modcache, gocache = go_cache_dirs()
        report["disk_bytes"].update({"go_mod_cache": dir_size(modcache), "go_build_cache": dir_size(gocache)})
    if timings:  # what each build took, kept per part across partial builds
        record = ROOT / f"build-{VERSIONS['kubernetes']}.json"
        previous = json.loads(record.read_text()) if record.exists() else {}
        report["seconds"] = dict(previous.get("seconds", {}), **timings)
        record.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def cmd_verify(_args):
    bad = []
    for name in ALL_BINARIES:
        path = binary_path(name)
        if not cached(path):
            bad.append(f"{path}: missing or its .sha256 does not match")
            continue
        reported = version_of(name)
        ok = expected_version(name) in reported
        print(f"{name:24} {'ok ' if ok else 'BAD'} {reported}")
        if not ok:
            bad.append(f"{name} reports {reported!r}, expected {expected_version(name)}")
    if bad:
        raise SystemExit("k8s_build: " + "; ".join(bad) + " (run: python3 lab/k8s_build.py build)")


def cmd_path(args):
    path = binary_path(args.name)
    if not cached(path):
        cmd_build(argparse.Namespace(only=args.name, measure_go_caches=False))
    print(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--only", help="comma-separated binaries to build (default: all); 'suite' = what the tests need")
    b.add_argument("--measure-go-caches", action="store_true", help="also report the Go caches' disk use")
    b.set_defaults(fn=cmd_build)
    p = sub.add_parser("path")
    p.add_argument("name")
    p.set_defaults(fn=cmd_path)
    sub.add_parser("verify").set_defaults(fn=cmd_verify)
    sub.add_parser("versions").set_defaults(fn=lambda a: print(json.dumps(VERSIONS)))
    args = parser.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main()
