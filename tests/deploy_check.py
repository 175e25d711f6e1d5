"""Checks deploy/: the Kubernetes manifests, the overlays as kustomize
renders them, the RBAC they add up to, the Containerfiles' packages and
docs/kubernetes.md's copies of the files.  Run by tests/test-deploy.sh:

    deploy_check.py SRCDIR [BUILDDIR]

Prints one "ok"/"FAIL" line per check, exits 1 if any failed.  The
overlays are rendered here (the subset of kustomize they use) and, where
a kubectl with kustomize is installed, by it too: the two must agree.
"""
import copy
import os
import re
import shutil
import subprocess
import sys

import yaml

SRC = sys.argv[1]
BUILD = sys.argv[2] if len(sys.argv) > 2 else SRC
KUBE = os.path.join(SRC, "deploy", "kubernetes")
RENDERED = ["base", "overlays/cluster-wide", "overlays/per-namespace"]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


# ---- the documented minimum of each sidecar --------------------------------
# external-provisioner v3.6.4 deploy/kubernetes/rbac.yaml, ClusterRole
# external-provisioner-runner, less secrets (granted per namespace) and
# volumeattachments (only with PUBLISH_UNPUBLISH_VOLUME, which sealvol
# lacks; v3.6.4 cmd/csi-provisioner watches them only then).
PROVISIONER = [
    ("", "persistentvolumes", "get list watch create delete"),
    ("", "persistentvolumeclaims", "get list watch update"),
    ("storage.k8s.io", "storageclasses", "get list watch"),
    ("", "events", "list watch create update patch"),
    ("snapshot.storage.k8s.io", "volumesnapshots", "get list"),
    ("snapshot.storage.k8s.io", "volumesnapshotcontents", "get list"),
    ("storage.k8s.io", "csinodes", "get list watch"),
    ("", "nodes", "get list watch"),
]
# external-resizer v1.9.4 deploy/kubernetes/rbac.yaml, ClusterRole
# external-resizer-runner, less secrets and pods (pods only with
# --handle-volume-inuse-error, which the Deployment turns off).
RESIZER = [
    ("", "persistentvolumes", "get list watch patch"),
    ("", "persistentvolumeclaims", "get list watch"),
    ("", "persistentvolumeclaims/status", "patch"),
    ("", "events", "list watch create update patch"),
]
# Both sidecars' leader-election Role (external-provisioner-cfg and
# external-resizer-cfg), leases only: no --enable-capacity.
LEADER = [("coordination.k8s.io", "leases", "get watch list delete update create")]
EXPECTED_CLUSTER_ROLES = {"sealvol-external-provisioner": PROVISIONER,
                          "sealvol-external-resizer": RESIZER}
SIDECAR_ARGS = {  # flags the reduced rules above depend on
    "csi-resizer": ["--handle-volume-inuse-error=false", "--leader-election"],
    "csi-provisioner": ["--leader-election", "--feature-gates=Topology=true"],
}


def triples(rules):
    """A rule list as a set of (group, resource, verb, resourceName)."""
    out = set()
    for r in rules:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    for n in r.get("resourceNames") or [None]:
                        out.add((g, res, v, n))
    return out


def expected_triples(spec):
    return triples([{"apiGroups": [g], "resources": [r], "verbs": v.split()}
                    for g, r, v in spec])


# ---- a kustomize subset ----------------------------------------------------
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding",
                  "StorageClass", "CSIDriver", "PersistentVolume"}
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name",
              "volumes": "name", "volumeMounts": "mountPath",
              "ports": "containerPort"}


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def drop_nulls(v):
    if isinstance(v, dict):
        return {k: drop_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [drop_nulls(x) for x in v]
    return v


def merge(base, patch, field=None):
    """Strategic merge: maps merge, null deletes, lists with a merge key
    merge by it, any other value is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = merge(out[k], v, k) if k in out else drop_nulls(v)
        return out
    key = MERGE_KEYS.get(field)
    if key and isinstance(base, list) and isinstance(patch, list):
        # kustomize's order: the patch's items, merged, then the rest.
        named = {b.get(key): b for b in base}
        out = [merge(named[p[key]], p) if p.get(key) in named else drop_nulls(p)
               for p in patch]
        return out + [b for b in base if b.get(key) not in {p.get(key) for p in patch}]
    return drop_nulls(patch)


def ident(o):
    m = o.get("metadata", {})
    return (o.get("kind"), m.get("namespace"), m.get("name"))


def apply_patch(objs, d, entry):
    for p in load_docs(os.path.join(d, entry["path"])):
        t = entry.get("target")
        if t:
            hits = [i for i, o in enumerate(objs) if o["kind"] == t["kind"]
                    and ("name" not in t or o["metadata"]["name"] == t["name"])]
            p = {k: v for k, v in p.items() if k != "metadata"}
        else:
            hits = [i for i, o in enumerate(objs) if ident(o) == ident(p)]
        if not hits:
            raise ValueError("%s: patch %s matches nothing" % (d, ident(p)))
        for i in hits:
            objs[i] = merge(objs[i], p)


def set_namespace(objs, ns):
    sas = {(o["metadata"]["name"], o["metadata"].get("namespace"))
           for o in objs if o["kind"] == "ServiceAccount"}
    for o in objs:
        if o["kind"] not in CLUSTER_SCOPED:
            o["metadata"]["namespace"] = ns
        for s in o.get("subjects", []) if o["kind"].endswith("Binding") else []:
            if s.get("kind") == "ServiceAccount" and (s["name"], s.get("namespace")) in sas:
                s["namespace"] = ns


def render(d):
    with open(os.path.join(d, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    objs = []
    for r in k.get("resources", []):
        p = os.path.normpath(os.path.join(d, r))
        objs += render(p) if os.path.isdir(p) else load_docs(p)
    objs = copy.deepcopy(objs)
    for entry in k.get("patches", []):
        apply_patch(objs, d, entry)
    for o in objs:
        o["metadata"]["name"] = (k.get("namePrefix", "") + o["metadata"]["name"]
                                 + k.get("nameSuffix", ""))
    if "namespace" in k:
        set_namespace(objs, k["namespace"])
    ids = [ident(o) for o in objs]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ValueError("%s: objects defined twice: %s" % (d, sorted(map(str, dup))))
    return objs


def kubectl_render(d):
    """kubectl's own kustomize, or None where there is none."""
    if shutil.which("kubectl") is None:
        return None
    r = subprocess.run(["kubectl", "kustomize", d], capture_output=True, text=True)
    if r.returncode != 0 and "unknown command" in r.stderr:
        return None
    if r.returncode != 0:
        raise ValueError("kubectl kustomize %s: %s" % (d, r.stderr.strip()))
    return [o for o in yaml.safe_load_all(r.stdout) if o]


# ---- RBAC as the API server evaluates it -----------------------------------
def grants(objs, sa_ns, sa_name):
    """Every (rule, namespace or None for cluster-wide) bound to a
    ServiceAccount by the objects' RoleBindings and ClusterRoleBindings."""
    roles = {(o["metadata"]["namespace"], o["metadata"]["name"]): o.get("rules", [])
             for o in objs if o["kind"] == "Role"}
    croles = {o["metadata"]["name"]: o.get("rules", [])
              for o in objs if o["kind"] == "ClusterRole"}
    out = []
    for b in objs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa_name
                   and s.get("namespace") == sa_ns for s in b.get("subjects", [])):
            continue
        ref, scope = b["roleRef"], b["metadata"].get("namespace")
        if b["kind"] == "ClusterRoleBinding":
            scope = None
        rules = (croles.get(ref["name"], []) if ref["kind"] == "ClusterRole"
                 else roles.get((scope, ref["name"]), []))
        out += [(r, scope) for r in rules]
    return out


def allows(gr, verb, group, resource, ns, name=None):
    """Would `kubectl auth can-i VERB RESOURCE[/NAME] -n NS` say yes?"""
    for r, scope in gr:
        if scope is not None and scope != ns:
            continue
        if not ({group, "*"} & set(r.get("apiGroups", []))
                and {resource, "*"} & set(r.get("resources", []))
                and {verb, "*"} & set(r.get("verbs", []))):
            continue
        names = r.get("resourceNames")
        if names and (name is None or name not in names):
            continue
        return True
    return False


def namespaces_of(objs):
    return ({o["metadata"]["namespace"] for o in objs if "namespace" in o["metadata"]}
            | {o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"}
            | {"default", "kube-system", "tenant-z"})


def check_secret_access(label, objs, sa, readable):
    """sa (ns, name) may get exactly readable = {ns: secret name}."""
    gr = grants(objs, *sa)
    for ns in sorted(namespaces_of(objs)):
        want = readable.get(ns)
        for name in ("sealvol-tenant", "other-secret"):
            got = allows(gr, "get", "", "secrets", ns, name)
            check(got == (name == want),
                  "%s: %s/%s %s get secret %s/%s" % (label, sa[0], sa[1],
                                                     "can" if got else "cannot", ns, name))
        for verb in ("list", "watch"):
            check(not allows(gr, verb, "", "secrets", ns),
                  "%s: %s/%s cannot %s secrets in %s" % (label, sa[0], sa[1], verb, ns))


# ---- the checks on one rendered set ----------------------------------------
def pod_specs(objs):
    for o in objs:
        if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
            yield o, o["spec"]["template"]["spec"]


def check_objects(label, objs):
    sas = {(o["metadata"].get("namespace"), o["metadata"]["name"])
           for o in objs if o["kind"] == "ServiceAccount"}
    for o, spec in pod_specs(objs):
        sa = (o["metadata"]["namespace"], spec.get("serviceAccountName"))
        check(sa in sas, "%s: %s %s's ServiceAccount %s exists" % (label, o["kind"], ident(o)[2], sa))
    for o in objs:
        for s in o.get("subjects", []) if o["kind"].endswith("Binding") else []:
            sa = (s.get("namespace"), s.get("name"))
            check(s.get("kind") == "ServiceAccount" and sa in sas,
                  "%s: %s %s binds ServiceAccount %s, which exists" % (label, o["kind"],
                                                                        ident(o)[2], sa))
    for o in objs:
        if o["kind"] not in ("ClusterRole", "Role"):
            continue
        t = triples(o.get("rules", []))
        name = "%s %s" % (o["kind"], o["metadata"]["name"])
        check(not any("*" in (g, r, v) for g, r, v, _ in t), "%s: %s has no '*'" % (label, name))
        if o["kind"] == "ClusterRole":
            check(not any(r.startswith("secrets") for _, r, _, _ in t),
                  "%s: %s grants no secrets" % (label, name))
            exp = EXPECTED_CLUSTER_ROLES.get(o["metadata"]["name"])
            check(exp is not None and t == expected_triples(exp),
                  "%s: %s is exactly its sidecar's documented minimum" % (label, name))
        elif "leader-election" in o["metadata"]["name"]:
            check(t == expected_triples(LEADER), "%s: %s is leases only" % (label, name))
        else:
            check(t == {("", "secrets", "get", "sealvol-tenant")},
                  "%s: %s grants get on secret sealvol-tenant only" % (label, name))
    check_containers(label, objs)
    check_storage_classes(label, objs)


def check_containers(label, objs):
    for o, spec in pod_specs(objs):
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            where = "%s: %s/%s" % (label, ident(o)[2], c["name"])
            req = c.get("resources", {}).get("requests", {})
            check("cpu" in req and "memory" in req, where + " requests cpu and memory")
            sc = c.get("securityContext", {})
            check(sc.get("readOnlyRootFilesystem") is True, where + " has a read-only root")
            if sc.get("privileged"):
                check(c["name"].startswith("sealvol-csi-node"),
                      where + " is privileged and is a node plugin")
            else:
                check(sc.get("allowPrivilegeEscalation") is False,
                      where + " cannot escalate privileges")
            img = c.get("image", "")
            check(re.search(r":v?\d+\.\d+\.\d+$", img) is not None,
                  where + " image %s has a release tag" % img)
            for flag in SIDECAR_ARGS.get(c["name"], []):
                check(flag in c.get("args", []), where + " runs with " + flag)


SECRET_KINDS = ("provisioner", "controller-expand", "node-stage")


def check_storage_classes(label, objs):
    drivers = {o["metadata"]["name"] for o in objs if o["kind"] == "CSIDriver"}
    for o in objs:
        if o["kind"] != "StorageClass":
            continue
        where = "%s: StorageClass %s" % (label, o["metadata"]["name"])
        p = o.get("parameters", {})
        for k in SECRET_KINDS:
            pre = "csi.storage.k8s.io/%s-secret-" % k
            check(p.get(pre + "namespace") == "${pvc.namespace}",
                  where + " %s secret namespace is ${pvc.namespace}" % k)
            check(p.get(pre + "name") == "sealvol-tenant", where + " %s secret is sealvol-tenant" % k)
        check("cipher" in p and "serviceType" in p, where + " names cipher and serviceType")
        check(o.get("allowVolumeExpansion") is True
              and o.get("volumeBindingMode") == "WaitForFirstConsumer",
              where + " expands and waits for its first consumer")
        check(o.get("provisioner") in drivers, where + " has a CSIDriver")


# ---- the Containerfiles cover the binaries' libraries ----------------------
def owning_package(lib):
    """The Debian package holding a shared library, by any of its names."""
    real = os.path.realpath(lib)
    for p in (lib, real):
        for cand in (p, "/usr" + p, p[4:] if p.startswith("/usr/") else None):
            if cand is None:
                continue
            r = subprocess.run(["dpkg-query", "-S", cand], capture_output=True, text=True)
            if r.returncode == 0:
                return r.stdout.split(":")[0]
    return None


def runtime_packages(path):
    """The packages a Containerfile's last stage installs."""
    with open(path) as f:
        text = f.read().replace("\\\n", " ")
    last = re.split(r"^FROM ", text, flags=re.M)[-1]
    pkgs = set()
    for m in re.finditer(r"apt-get install ([^&\n]*)", last):
        pkgs |= {w for w in m.group(1).split() if not w.startswith("-")}
    return pkgs


def check_images():
    images = {"controller": ["sealvol-csi-controller"],
              "node": ["sealvol-csi-node", "sealvol-attach"]}
    for image, binaries in images.items():
        cf = os.path.join(SRC, "deploy", "images", image + ".Containerfile")
        pkgs = runtime_packages(cf)
        check(bool(pkgs), "%s.Containerfile installs runtime packages" % image)
        for b in binaries:
            path = os.path.join(BUILD, b)
            if not os.path.exists(path):
                print("skip %s: not built" % b)
                continue
            out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
            libs = re.findall(r"=> (/\S+)", out)
            check(bool(libs), "%s links shared libraries (ldd)" % b)
            # A sanitizer build (the suite's second run) links the
            # sanitizer runtimes, which an image never ships.
            if any(re.search(r"/lib(asan|ubsan|tsan)\.so", lib) for lib in libs):
                libs = [lib for lib in libs
                        if not re.search(r"/lib(asan|ubsan|tsan|atomic)\.so", lib)]
                print("note %s: sanitizer build; its runtimes are left out" % b)
            for lib in libs:
                pkg = owning_package(lib)
                ok = pkg is not None and pkg.split(":")[0] in pkgs
                check(ok, "%s.Containerfile provides %s (%s, for %s)" % (image, lib, pkg, b))


# ---- docs/kubernetes.md shows the files as they are ------------------------
INCLUDE = re.compile(r"<!-- include: (\S+) -->\n```yaml\n(.*?)```\n", re.S)


def check_doc():
    with open(os.path.join(SRC, "docs", "kubernetes.md")) as f:
        doc = f.read()
    blocks = INCLUDE.findall(doc)
    check(len(blocks) >= 3, "docs/kubernetes.md includes deploy files (%d)" % len(blocks))
    for path, text in blocks:
        with open(os.path.join(SRC, path)) as f:
            check(f.read() == text, "docs/kubernetes.md's copy of %s is the file" % path)


def main():
    for d, _, files in os.walk(os.path.join(SRC, "deploy")):
        for f in sorted(files):
            if f.endswith(".yaml"):
                try:
                    load_docs(os.path.join(d, f))
                    check(True, "parses: " + os.path.relpath(os.path.join(d, f), SRC))
                except yaml.YAMLError as e:
                    check(False, "parses: %s: %s" % (f, e))
    sets = {}
    for rel in RENDERED:
        d = os.path.join(KUBE, rel)
        sets[rel] = render(d)
        theirs = kubectl_render(d)
        if theirs is None:
            print("skip kubectl kustomize %s: no kubectl with kustomize" % rel)
        else:
            mine = {ident(o): o for o in sets[rel]}
            check(mine == {ident(o): o for o in theirs},
                  "%s: rendered here as kubectl kustomize renders it" % rel)
        check_objects(rel, sets[rel])
    wide, per = sets["overlays/cluster-wide"], sets["overlays/per-namespace"]
    check_secret_access("cluster-wide", wide, ("sealvol-system", "sealvol-controller"),
                        {"tenant-a": "sealvol-tenant", "tenant-b": "sealvol-tenant"})
    check_secret_access("per-namespace", per, ("tenant-c", "sealvol-controller"),
                        {"tenant-c": "sealvol-tenant"})
    check_secret_access("per-namespace", per, ("sealvol-system", "sealvol-controller"), {})
    # Both overlays applied to one cluster: they may share only identical
    # objects, and each controller keeps to its own tenants.
    both = {ident(o): o for o in wide}
    clash = [i for i, o in ((ident(o), o) for o in per) if i in both and both[i] != o]
    check(not clash, "both overlays: no object defined differently by each %s" % clash)
    both.update({ident(o): o for o in per})
    both = list(both.values())
    check_secret_access("both", both, ("sealvol-system", "sealvol-controller"),
                        {"tenant-a": "sealvol-tenant", "tenant-b": "sealvol-tenant"})
    check_secret_access("both", both, ("tenant-c", "sealvol-controller"),
                        {"tenant-c": "sealvol-tenant"})
    for label, objs in (("cluster-wide", wide), ("per-namespace", per)):
        check(grants(objs, "sealvol-system", "sealvol-node") == [],
              label + ": the node plugin's ServiceAccount has no role")
    check_images()
    check_doc()
    print("%d check(s) failed" % len(failures) if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
