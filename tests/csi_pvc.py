#!/usr/bin/python3
# The checks of tests/test-csi-pvc.sh: the cluster's part played without a
# cluster.  For a PVC of a StorageClass with volumeBindingMode
# WaitForFirstConsumer, the calls csi-provisioner, kubelet and
# csi-resizer send, with the fields they fill and the secrets they read,
# go to sealvol-csi-controller and to the sealvol-csi-node of the node the
# scheduler picked (one per storage host, SEALVOL_TOPOLOGY_HOST), for two
# tenants on two storage hosts; then tenant globex's secrets try every
# call on tenant acme's volume.
#
# What each sidecar sends (kubernetes-csi external-provisioner
# pkg/controller, external-resizer pkg/resizer, kubelet pkg/volume/csi):
#   provisioner start  Probe, GetPluginInfo, GetPluginCapabilities,
#                      ControllerGetCapabilities
#   registrar          node GetPluginInfo, NodeGetInfo (-> CSINode's
#                      topology keys, the Node's labels)
#   CreateVolume       name pv = "pvc-" + the PVC's uid; required_bytes =
#                      the request; one capability per PVC access mode
#                      (mount, the StorageClass's fstype and mountOptions);
#                      parameters = the StorageClass's without the
#                      csi.storage.k8s.io/ keys it knows, plus pvc/name,
#                      pvc/namespace, pv/name with --extra-create-metadata;
#                      secrets = provisioner-secret-name/-namespace with
#                      ${pvc.namespace} etc. resolved; topology: requisite
#                      = every node's topology sorted, preferred = the same
#                      rotated to start at the selected node's (with
#                      --strict-topology both are just the selected node's)
#   kubelet            NodeGetCapabilities; NodeStageVolume at
#                      plugins/kubernetes.io/csi/DRIVER/sha256(handle)/
#                      globalmount (made by kubelet), node-stage secrets,
#                      the PV's volumeAttributes, empty publish_context
#                      (attachRequired: false); NodeGetCapabilities;
#                      NodePublishVolume at pods/UID/volumes/
#                      kubernetes.io~csi/PV/mount (its parent made by
#                      kubelet), NodeGetVolumeStats (volume_path = that,
#                      staging_target_path)
#   resizer            ControllerGetCapabilities, ControllerExpandVolume
#                      (controller-expand secrets, the PV's capability)
#   kubelet            NodeExpandVolume (volume_path = the pod's path,
#                      staging_target_path, required_bytes, capability)
#   teardown           NodeUnpublishVolume, NodeUnstageVolume,
#                      DeleteVolume with the provisioner secrets
#
# Environment (set by the shell), besides csi_e2e.py's:
#   E2E_NODES          "ID=unix://SOCK ..." the node plugins
#   E2E_SECRETS        directory of Secret YAML files, TENANT/HOST.yaml
#   E2E_DEPLOY         deploy/kubernetes/base, if any: its StorageClasses and
#                      its csi-provisioner's --strict-topology and
#                      --extra-create-metadata
#   E2E_PVC_ROUNDS     "all" (default), or "none": only the isolation part
import base64
import glob
import hashlib
import os
import subprocess
import uuid

import yaml

import csi_e2e as e2e
from csi_e2e import C, E, MiB, TMP, TOPO_KEY, call_ok, check, csi, csi_grpc, expect, ok, rpc

DRIVER = "csi.sealvol.org"
AM = csi.VolumeCapability.AccessMode
PREFIX = "csi.storage.k8s.io/"

# The StorageClasses of issue 17 (docs/kubernetes.md), until
# deploy/kubernetes/base/ holds them: read from there when it does.
SECRET_NAME = "sealvol-tenant"
SECRET_PARAMS = {PREFIX + "%s-secret-%s" % (kind, part):
                 SECRET_NAME if part == "name" else "${pvc.namespace}"
                 for kind in ("provisioner", "controller-expand", "node-stage")
                 for part in ("name", "namespace")}
FALLBACK_CLASSES = {
    "sealvol-gp": {"cipher": "aes-256-gcm", "serviceType": "gp"},
    "sealvol-piops": {"cipher": "xchacha20-poly1305", "serviceType": "piops"},
}


def deploy_docs():
    for f in sorted(glob.glob(os.path.join(E.get("E2E_DEPLOY", "/nonexistent"), "**", "*.yaml"),
                              recursive=True)):
        with open(f) as fh:
            for doc in yaml.safe_load_all(fh):
                if doc:
                    yield doc


def provisioner_flags():
    """--strict-topology and --extra-create-metadata of the csi-provisioner
    in deploy/kubernetes/base, or None without one."""
    for doc in deploy_docs():
        spec = (doc.get("spec") or {}).get("template", {}).get("spec", {})
        for c in spec.get("containers") or []:
            if "csi-provisioner" in c.get("image", ""):
                args = c.get("args") or []
                return "--strict-topology" in args, "--extra-create-metadata" in args
    return None


def storage_classes():
    found = {doc["metadata"]["name"]: doc for doc in deploy_docs()
             if doc.get("kind") == "StorageClass" and doc.get("provisioner") == DRIVER}
    if found:
        ok("StorageClasses from %s: %s" % (E["E2E_DEPLOY"], " ".join(sorted(found))))
        return found
    classes = {}
    for name, p in FALLBACK_CLASSES.items():
        params = dict(p, **SECRET_PARAMS)
        params[PREFIX + "fstype"] = "ext4"
        classes[name] = {"kind": "StorageClass", "metadata": {"name": name},
                         "provisioner": DRIVER, "parameters": params,
                         "allowVolumeExpansion": True,
                         "volumeBindingMode": "WaitForFirstConsumer"}
    ok("StorageClasses defined in the test (no deploy/kubernetes/base yet)")
    return classes


# ---------------------------------------------------------------- secrets

def secret_data(doc):
    """A Secret's data as the sidecars and kubelet hand it to a driver:
    data base64-decoded, stringData over it (the API server merges it)."""
    check(doc.get("kind") == "Secret" and doc.get("apiVersion") == "v1",
          "not a v1 Secret: %r" % {k: doc.get(k) for k in ("apiVersion", "kind")})
    out = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}
    out.update(doc.get("stringData") or {})
    return out


def load_secrets():
    """The cluster's Secrets: one sealvol-tenant per tenant namespace,
    merged from each storage host's Secret YAML (TENANT/HOST.yaml): the
    tenant's token on host H becomes access-token.H, as
    docs/csi-controller.md asks of a tenant on several hosts."""
    cluster = {}
    for path in sorted(glob.glob(os.path.join(E["E2E_SECRETS"], "*", "*.yaml"))):
        tenant = os.path.basename(os.path.dirname(path))
        host = os.path.basename(path)[:-5]
        with open(path) as f:
            doc = yaml.safe_load(f)
        meta = doc.get("metadata") or {}
        check(meta.get("name") == SECRET_NAME and meta.get("namespace") == tenant,
              "%s: Secret %s/%s, wanted %s/%s" % (path, meta.get("namespace"),
                                                   meta.get("name"), tenant, SECRET_NAME))
        merged = cluster.setdefault((tenant, SECRET_NAME), {})
        for k, v in secret_data(doc).items():
            if k == "access-token":
                k = "access-token." + host
            check(merged.get(k, v) == v, "%s: %s differs between hosts" % (path, k))
            merged[k] = v
    return cluster


def resolve(template, pvc, pv_name):
    return (template.replace("${pvc.namespace}", pvc["namespace"])
            .replace("${pvc.name}", pvc["name"]).replace("${pv.name}", pv_name))


def secret_ref(params, kind, pvc, pv_name):
    """getSecretReference: the Secret a StorageClass names for KIND."""
    name = params.get(PREFIX + kind + "-secret-name")
    ns = params.get(PREFIX + kind + "-secret-namespace")
    if name is None and ns is None:
        return None
    return (resolve(ns, pvc, pv_name), resolve(name, pvc, pv_name))


def credentials(ref):
    if ref is None:
        return {}
    check(ref in CLUSTER, "Secret %s/%s does not exist" % ref)
    return dict(CLUSTER[ref])


def strip_prefixed(params):
    """removePrefixedParameters: known csi.storage.k8s.io/ keys go, an
    unknown one is an error."""
    known = {PREFIX + k for k in ("fstype", "secret-name", "secret-namespace")}
    known |= {PREFIX + "%s-secret-%s" % (kind, part)
              for kind in ("provisioner", "controller-publish", "node-stage", "node-publish",
                           "controller-expand", "node-expand", "controller-modify")
              for part in ("name", "namespace")}
    out = {}
    for k, v in params.items():
        if k.startswith(PREFIX):
            check(k in known, "StorageClass parameter %s: unknown to the provisioner" % k)
        else:
            out[k] = v
    return out


# ------------------------------------------------------------ the plugins

def capabilities(resp):
    return {c.rpc.type for c in resp.capabilities}


def sidecar_start(who):
    """What csi-provisioner and csi-resizer ask at start-up."""
    ident = csi_grpc.IdentityStub(e2e.channel(E["E2E_CTL"]))
    r = call_ok(who + " Probe", "Probe", csi.ProbeRequest(), stub=ident)
    check(not r.HasField("ready") or r.ready.value, "%s: Probe: not ready" % who)
    r = call_ok(who + " GetPluginInfo", "GetPluginInfo", csi.GetPluginInfoRequest(), stub=ident)
    check(r.name == DRIVER, "%s: GetPluginInfo name %r" % (who, r.name))
    r = call_ok(who + " GetPluginCapabilities", "GetPluginCapabilities",
                csi.GetPluginCapabilitiesRequest(), stub=ident)
    svc = {c.service.type for c in r.capabilities if c.HasField("service")}
    PS = csi.PluginCapability.Service
    check({PS.CONTROLLER_SERVICE, PS.VOLUME_ACCESSIBILITY_CONSTRAINTS} <= svc,
          "%s: plugin capabilities %s" % (who, svc))
    # What Kubernetes' docs ask of a driver that grows volumes in use.
    check(any(c.HasField("volume_expansion") and
              c.volume_expansion.type == csi.PluginCapability.VolumeExpansion.ONLINE
              for c in r.capabilities),
          "%s: no VolumeExpansion ONLINE plugin capability" % who)
    r = call_ok(who + " ControllerGetCapabilities", "ControllerGetCapabilities",
                csi.ControllerGetCapabilitiesRequest())
    caps = capabilities(r)
    CR = csi.ControllerServiceCapability.RPC
    check({CR.CREATE_DELETE_VOLUME, CR.EXPAND_VOLUME} <= caps,
          "%s: controller capabilities %s" % (who, caps))
    ok("%s start-up: %s, CONTROLLER_SERVICE + VOLUME_ACCESSIBILITY_CONSTRAINTS, "
       "CREATE_DELETE_VOLUME + EXPAND_VOLUME" % (who, DRIVER))
    return CR.SINGLE_NODE_MULTI_WRITER in caps


def register_nodes():
    """node-driver-registrar and kubelet: GetPluginInfo, NodeGetInfo."""
    nodes = {}
    for item in E["E2E_NODES"].split():
        nid, endpoint = item.split("=", 1)
        ch = e2e.channel(endpoint)
        n = {"id": nid, "node": csi_grpc.NodeStub(ch), "ident": csi_grpc.IdentityStub(ch),
             "kubelet": os.path.join(TMP, "kubelet-" + nid)}
        r = call_ok("registrar " + nid, "GetPluginInfo", csi.GetPluginInfoRequest(),
                    stub=n["ident"])
        check(r.name == DRIVER, "node %s: GetPluginInfo name %r" % (nid, r.name))
        r = call_ok("registrar " + nid, "NodeGetInfo", csi.NodeGetInfoRequest(), stub=n["node"])
        check(r.node_id == nid, "NodeGetInfo node_id %r, wanted %r" % (r.node_id, nid))
        n["labels"] = dict(r.accessible_topology.segments)
        check(list(n["labels"]) == [TOPO_KEY], "node %s: topology %s" % (nid, n["labels"]))
        nodes[nid] = n
        ok("node %s registered: topology %s" % (nid, n["labels"]))
    return nodes


def access_mode(k8s_mode, multi_writer):
    """accessmodes.ToCSIAccessMode for the single-node modes."""
    if k8s_mode == "ReadWriteOnce":
        return AM.SINGLE_NODE_MULTI_WRITER if multi_writer else AM.SINGLE_NODE_WRITER
    check(k8s_mode == "ReadWriteOncePod", "access mode " + k8s_mode)
    return AM.SINGLE_NODE_SINGLE_WRITER if multi_writer else AM.SINGLE_NODE_WRITER


def capability(fs, mode, mount_options=()):
    return csi.VolumeCapability(
        mount=csi.VolumeCapability.MountVolume(fs_type=fs, mount_flags=list(mount_options)),
        access_mode=AM(mode=mode))


def topology_requirement(selected, strict):
    """GenerateAccessibilityRequirements for a selected node (delayed
    binding, no allowedTopologies)."""
    if strict:
        terms = [selected["labels"]]
        preferred = terms
    else:
        terms = sorted({tuple(sorted(n["labels"].items())) for n in NODES.values()})
        terms = [dict(t) for t in terms]
        i = terms.index(selected["labels"])
        preferred = terms[i:] + terms[:i]
    return csi.TopologyRequirement(requisite=[csi.Topology(segments=t) for t in terms],
                                   preferred=[csi.Topology(segments=t) for t in preferred])


# ---------------------------------------------------------------- one PVC

def provision(pvc, node, strict, extra_metadata):
    """csi-provisioner, once the scheduler put the PVC's pod on NODE."""
    sc = CLASSES[pvc["class"]]
    params = dict(sc.get("parameters") or {})
    check(sc.get("volumeBindingMode") == "WaitForFirstConsumer" and sc.get("allowVolumeExpansion"),
          "StorageClass %s: binding %s, expansion %s" % (pvc["class"], sc.get("volumeBindingMode"),
                                                         sc.get("allowVolumeExpansion")))
    fs = params.get(PREFIX + "fstype", "")
    if fs == "ext4" and e2e.FS != "ext4":
        fs = e2e.FS     # no CAP_SYS_RESOURCE here: ext4 cannot grow online
    pv_name = "pvc-" + pvc["uid"]
    mode = access_mode(pvc["accessMode"], CTL_MULTI_WRITER)
    cap = capability(fs, mode, sc.get("mountOptions") or ())
    parameters = strip_prefixed(params)
    if extra_metadata:
        parameters.update({PREFIX + "pvc/name": pvc["name"],
                           PREFIX + "pvc/namespace": pvc["namespace"], PREFIX + "pv/name": pv_name})
    refs = {kind: secret_ref(params, kind, pvc, pv_name)
            for kind in ("provisioner", "controller-expand", "node-stage", "node-publish",
                         "node-expand")}
    req = csi.CreateVolumeRequest(
        name=pv_name, capacity_range=csi.CapacityRange(required_bytes=pvc["size"]),
        volume_capabilities=[cap], parameters=parameters,
        secrets=credentials(refs["provisioner"]),
        accessibility_requirements=topology_requirement(node, strict))
    label = "%s/%s" % (pvc["namespace"], pvc["name"])
    vol = call_ok("CreateVolume " + label, "CreateVolume", req).volume
    host = node["labels"][TOPO_KEY]
    # The PV: its nodeAffinity is the volume's accessible_topology, which
    # the scheduler's choice must satisfy or the pod never starts.
    affinity = [dict(t.segments) for t in vol.accessible_topology]
    check(affinity == [node["labels"]], "%s: accessible_topology %s, the pod's node %s has %s"
          % (label, affinity, node["id"], node["labels"]))
    check(vol.volume_id == "%s/%s/%s" % (host, pvc["namespace"], vol.volume_context["volume"]),
          "%s: volume id %s" % (label, vol.volume_id))
    check(vol.capacity_bytes >= pvc["size"], "%s: capacity %d" % (label, vol.capacity_bytes))
    ctx = dict(vol.volume_context)
    check(set(ctx) == {"server", "tenant", "volume"} and ctx["tenant"] == pvc["namespace"],
          "%s: volume_context %s" % (label, ctx))
    root = e2e.HOSTS[host]["root"]
    info = e2e.sv(root, "volume", "info", "%s/%s" % (pvc["namespace"], ctx["volume"]))
    fields = dict(line.split(None, 1) for line in info.stdout.splitlines() if " " in line)
    check(info.returncode == 0 and fields.get("cipher", "").strip() == params["cipher"]
          and fields.get("service_type", "").strip() == params["serviceType"],
          "%s: on host %s: %s %s" % (label, host, info.stdout, info.stderr))
    ok("CreateVolume %s (%s, %s topology%s): %s on host %s, %s/%s"
       % (label, pvc["class"], "strict" if strict else "aggregated",
          ", extra metadata" if extra_metadata else "", vol.volume_id, host,
          params["cipher"], params["serviceType"]))
    return {"name": pv_name, "handle": vol.volume_id, "attrs": ctx, "cap": cap, "fs": fs,
            "size": vol.capacity_bytes, "refs": refs, "host": host, "root": root,
            "tenant": pvc["namespace"], "label": label, "mode_name": pvc["accessMode"]}


def node_caps(node):
    r = call_ok("kubelet NodeGetCapabilities", "NodeGetCapabilities",
                csi.NodeGetCapabilitiesRequest(), stub=node["node"])
    NR = csi.NodeServiceCapability.RPC
    caps = capabilities(r)
    check({NR.STAGE_UNSTAGE_VOLUME, NR.GET_VOLUME_STATS, NR.EXPAND_VOLUME} <= caps,
          "node %s capabilities %s" % (node["id"], caps))
    return caps


def kubelet_capability(pv, node):
    """The capability kubelet builds from the PV for its node calls."""
    multi = csi.NodeServiceCapability.RPC.SINGLE_NODE_MULTI_WRITER in node_caps(node)
    return capability(pv["fs"], access_mode(pv["mode_name"], multi),
                      list(pv["cap"].mount.mount_flags))


def mounted(path):
    return e2e.is_mounted(path)


def df_size(path):
    out = subprocess.run(["df", "-B1", "--output=size", path], stdout=subprocess.PIPE,
                         text=True, check=True).stdout.split()
    return int(out[-1])


def staging_path(node, handle):
    """kubelet's: plugins/kubernetes.io/csi/DRIVER/sha256(handle)/globalmount."""
    return os.path.join(node["kubelet"], "plugins", "kubernetes.io", "csi", DRIVER,
                        hashlib.sha256(handle.encode()).hexdigest(), "globalmount")


def stage_publish(pv, node, pod_uid):
    label = pv["label"]
    staging = staging_path(node, pv["handle"])
    os.makedirs(staging, mode=0o750)
    with open(os.path.join(os.path.dirname(staging), "vol_data.json"), "w") as f:
        f.write('{"driverName":"%s","volumeHandle":"%s"}' % (DRIVER, pv["handle"]))
    call_ok("NodeStageVolume " + label, "NodeStageVolume", csi.NodeStageVolumeRequest(
        volume_id=pv["handle"], staging_target_path=staging,
        volume_capability=kubelet_capability(pv, node),
        secrets=credentials(pv["refs"]["node-stage"]), volume_context=pv["attrs"]),
        stub=node["node"])
    check(mounted(staging), "%s: %s is not mounted" % (label, staging))
    target = os.path.join(node["kubelet"], "pods", pod_uid, "volumes", "kubernetes.io~csi",
                          pv["name"], "mount")
    os.makedirs(os.path.dirname(target), mode=0o750)
    call_ok("NodePublishVolume " + label, "NodePublishVolume", csi.NodePublishVolumeRequest(
        volume_id=pv["handle"], staging_target_path=staging, target_path=target,
        volume_capability=kubelet_capability(pv, node), readonly=False,
        secrets=credentials(pv["refs"]["node-publish"]), volume_context=pv["attrs"]),
        stub=node["node"])
    check(mounted(target), "%s: %s is not mounted" % (label, target))
    ok("%s on node %s: staged at .../%s/globalmount, published at .../pods/%s/volumes/"
       "kubernetes.io~csi/%s/mount" % (label, node["id"], os.path.basename(
           os.path.dirname(staging))[:12] + "…", pod_uid[:8] + "…", pv["name"]))
    pv.update(staging=staging, target=target, node=node)


def write_files(pv):
    data = {}
    for i in range(3):
        payload = os.urandom(512 * 1024 + i)
        path = os.path.join(pv["target"], "file%d" % i)
        with open(path, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        data[path] = hashlib.sha256(payload).hexdigest()
    pv["files"] = data


def files_intact(pv):
    for path, digest in pv["files"].items():
        with open(path, "rb") as f:
            check(hashlib.sha256(f.read()).hexdigest() == digest,
                  "%s: %s changed" % (pv["label"], path))


def volume_stats(pv):
    r = call_ok("NodeGetVolumeStats " + pv["label"], "NodeGetVolumeStats",
                csi.NodeGetVolumeStatsRequest(volume_id=pv["handle"], volume_path=pv["target"],
                                              staging_target_path=pv["staging"]),
                stub=pv["node"]["node"])
    U = csi.VolumeUsage
    usage = {u.unit: u for u in r.usage}
    b = usage.get(U.BYTES)
    check(b is not None and U.INODES in usage, "%s: usage %s" % (pv["label"], r))
    st = os.statvfs(pv["target"])
    check(b.total == st.f_blocks * st.f_frsize and b.used >= 3 * 512 * 1024,
          "%s: NodeGetVolumeStats bytes total %d used %d; statvfs total %d"
          % (pv["label"], b.total, b.used, st.f_blocks * st.f_frsize))
    ok("NodeGetVolumeStats %s: %d of %d bytes used, %d inodes used"
       % (pv["label"], b.used, b.total, usage[U.INODES].used))


def expand(pv, new_size):
    """csi-resizer, then kubelet's online NodeExpandVolume."""
    label = pv["label"]
    sidecar_start("resizer")
    old_df = df_size(pv["target"])
    r = call_ok("ControllerExpandVolume " + label, "ControllerExpandVolume",
                csi.ControllerExpandVolumeRequest(
                    volume_id=pv["handle"], capacity_range=csi.CapacityRange(required_bytes=new_size),
                    secrets=credentials(pv["refs"]["controller-expand"]),
                    volume_capability=pv["cap"]))
    check(r.capacity_bytes >= new_size and r.node_expansion_required,
          "%s: ControllerExpandVolume answered %s" % (label, r))
    node = pv["node"]
    r = call_ok("NodeExpandVolume " + label, "NodeExpandVolume", csi.NodeExpandVolumeRequest(
        volume_id=pv["handle"], volume_path=pv["target"], staging_target_path=pv["staging"],
        capacity_range=csi.CapacityRange(required_bytes=new_size),
        volume_capability=kubelet_capability(pv, node),
        secrets=credentials(pv["refs"]["node-expand"])), stub=node["node"])
    new_df = df_size(pv["target"])
    check(r.capacity_bytes >= new_size, "%s: NodeExpandVolume answered %s" % (label, r))
    check(new_df >= old_df + (new_size - pv["size"]) * 3 // 4,
          "%s: df says %d bytes after NodeExpandVolume (was %d)" % (label, new_df, old_df))
    files_intact(pv)
    ok("%s grown to %d bytes: df %d -> %d, files intact" % (label, new_size, old_df, new_df))
    pv["size"] = new_size


def teardown(pv):
    label, node = pv["label"], pv["node"]
    call_ok("NodeUnpublishVolume " + label, "NodeUnpublishVolume", csi.NodeUnpublishVolumeRequest(
        volume_id=pv["handle"], target_path=pv["target"]), stub=node["node"])
    check(not os.path.exists(pv["target"]), "%s: %s is still there" % (label, pv["target"]))
    call_ok("NodeUnstageVolume " + label, "NodeUnstageVolume", csi.NodeUnstageVolumeRequest(
        volume_id=pv["handle"], staging_target_path=pv["staging"]), stub=node["node"])
    check(not mounted(pv["staging"]), "%s: %s is still mounted" % (label, pv["staging"]))
    ok("%s unpublished and unstaged on node %s" % (label, node["id"]))


def volume_dir(pv):
    return os.path.join(pv["root"], pv["tenant"], "volumes", pv["attrs"]["volume"])


def delete(pv):
    """csi-provisioner's Delete: the secrets of the PV's
    provisioner-deletion-secret annotations (the provisioner secret)."""
    for attempt in ("", " again"):
        call_ok("DeleteVolume " + pv["label"] + attempt, "DeleteVolume", csi.DeleteVolumeRequest(
            volume_id=pv["handle"], secrets=credentials(pv["refs"]["provisioner"])))
        check(not os.path.exists(volume_dir(pv)), "%s: %s is still there"
              % (pv["label"], volume_dir(pv)))
    ok("DeleteVolume %s: gone from host %s (twice: OK both times)" % (pv["label"], pv["host"]))


def new_pvc(tenant, cls, mode, size):
    return {"namespace": tenant, "name": "data-%s" % cls, "uid": str(uuid.uuid4()),
            "class": cls, "accessMode": mode, "size": size}


def lifecycle(tenant, node, cls, mode, strict, extra_metadata):
    sidecar_start("provisioner")
    pv = provision(new_pvc(tenant, cls, mode, e2e.SIZE), node, strict, extra_metadata)
    check(pv["host"] == node["labels"][TOPO_KEY], "%s: on host %s" % (pv["label"], pv["host"]))
    stage_publish(pv, node, str(uuid.uuid4()))
    write_files(pv)
    volume_stats(pv)
    expand(pv, e2e.GROWN)
    volume_stats(pv)
    teardown(pv)
    delete(pv)


# -------------------------------------------------------------- isolation

def attachments():
    """What the node plugins have attached: loop devices on FUSE files
    under the test's directory, and sealvol-attach processes."""
    loops = subprocess.run(["losetup", "-nl", "-O", "NAME,BACK-FILE"], stdout=subprocess.PIPE,
                           text=True).stdout
    procs = 0
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(p, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        procs += "sealvol-attach" in cmd and TMP in cmd
    return sorted(line for line in loops.splitlines() if TMP in line), procs


def unchanged(a, label):
    """Tenant acme's volume A is as it was: on its host, its size, and
    (once written) its files readable through its pod's mount."""
    info = e2e.sv(a["root"], "volume", "info", "%s/%s" % (a["tenant"], a["attrs"]["volume"]))
    fields = dict(line.split(None, 1) for line in info.stdout.splitlines() if " " in line)
    check(info.returncode == 0, "after %s: acme's volume is gone: %s" % (label, info.stderr))
    check(fields.get("size", "").strip() == str(a["size"]),
          "after %s: acme's volume has size %r, wanted %d" % (label, fields.get("size"), a["size"]))
    if "files" in a:
        files_intact(a)


def controller_attempts(a, full, when):
    """Every Controller call on acme's volume A with globex's secrets, in
    three forms: its whole Secret (both its tokens), only its host-b
    token (A is on a), no token at all.  With its token globex sees no
    such volume: DeleteVolume is OK (CSI's answer for a volume that does
    not exist) and deletes nothing, the others NOT_FOUND.  Secrets without
    a token for a are INVALID_ARGUMENT: neither the host's own token nor
    the delete credential stands in for a tenant's secrets."""
    host_b_only = {k: v for k, v in full.items() if not k.startswith("access-token")}
    host_b_only["access-token.b"] = full["access-token.b"]
    node_only = {k: v for k, v in full.items() if not k.startswith("access-token")}
    for what, sec, want_delete, want_other in [
            ("globex's Secret", full, C.OK, C.NOT_FOUND),
            ("globex's Secret with only its host-b token", host_b_only,
             C.INVALID_ARGUMENT, C.INVALID_ARGUMENT),
            ("globex's Secret without a token", node_only,
             C.INVALID_ARGUMENT, C.INVALID_ARGUMENT)]:
        label = "acme's volume (%s) with %s" % (when, what)
        expect("DeleteVolume of " + label, want_delete, "DeleteVolume",
               csi.DeleteVolumeRequest(volume_id=a["handle"], secrets=sec))
        unchanged(a, "DeleteVolume of " + label)
        expect("ControllerExpandVolume of " + label, want_other,
               "ControllerExpandVolume", csi.ControllerExpandVolumeRequest(
                   volume_id=a["handle"], capacity_range=csi.CapacityRange(
                       required_bytes=a["size"] * 2), secrets=sec, volume_capability=a["cap"]))
        unchanged(a, "ControllerExpandVolume of " + label)
        expect("ValidateVolumeCapabilities of " + label, want_other,
               "ValidateVolumeCapabilities", csi.ValidateVolumeCapabilitiesRequest(
                   volume_id=a["handle"], volume_capabilities=[a["cap"]],
                   volume_context=a["attrs"], secrets=sec))
        ok("%s: untouched" % label)


def group_isolation(strict, extra):
    sidecar_start("provisioner")
    node_a = NODES["node-a"]
    a = provision(new_pvc("acme", "sealvol-gp", "ReadWriteOnce", e2e.SIZE), node_a, strict, extra)
    full = credentials(("globex", SECRET_NAME))
    # Not attached anywhere: a delete that got through would erase it.
    controller_attempts(a, full, "detached")
    stage_publish(a, node_a, str(uuid.uuid4()))
    write_files(a)
    ok("acme's volume %s staged and published on node-a, files written" % a["handle"])
    controller_attempts(a, full, "in use")

    # NodeStageVolume with globex's secrets and acme's volume id and
    # context, where kubelet would stage it, on each node.  On node-b,
    # where it is not staged, the TLS probe with globex's client
    # certificate is refused by acme's nbdkit: UNAUTHENTICATED.  On
    # node-a, where acme's pod has it staged, at another path it is
    # FAILED_PRECONDITION before any connection; at its very staging path
    # the call is a repeat of kubelet's (idempotent, and kubelet is
    # trusted with the node's socket): whatever it answers, nothing more
    # may be attached.
    before = attachments()
    for node, path, want in ((NODES["node-b"], None, C.UNAUTHENTICATED),
                             (node_a, staging_path(node_a, "0" * 64), C.FAILED_PRECONDITION),
                             (node_a, a["staging"], None)):
        path = path or staging_path(node, a["handle"])
        os.makedirs(path, mode=0o750, exist_ok=True)
        code, _, err = rpc("NodeStageVolume", csi.NodeStageVolumeRequest(
            volume_id=a["handle"], staging_target_path=path,
            volume_capability=kubelet_capability(a, node), secrets=full,
            volume_context=a["attrs"]), stub=node["node"])
        label = "NodeStageVolume of acme's volume with globex's secrets on %s at %s" % (
            node["id"], "its staging path" if path == a["staging"] else "a new path")
        check(want is None or code == want, "%s: %s (%s), wanted %s"
              % (label, code.name, err.details() if err else "", want and want.name))
        check(attachments() == before, "%s attached something: %s, was %s"
              % (label, attachments(), before))
        check(path == a["staging"] or not mounted(path), "%s: mounted" % label)
        print("%s: %s: %s, nothing attached" % ("ok" if want else "NOTE", label, code.name),
              flush=True)
    state = os.path.join(TMP, "state-node-b")
    left = os.listdir(state) if os.path.isdir(state) else []
    check(not left, "node-b's state directory holds %s" % left)
    files_intact(a)
    ok("NodeStageVolume with globex's secrets: nothing attached on either node")

    # CreateVolume by globex with the name of acme's PV, on acme's host,
    # twice the size: globex gets a volume of its own, never acme's (nor
    # ALREADY_EXISTS, which would tell that acme has one of that name).
    sidecar_start("provisioner")
    req = csi.CreateVolumeRequest(
        name=a["name"], capacity_range=csi.CapacityRange(required_bytes=a["size"] * 2),
        volume_capabilities=[a["cap"]], parameters=strip_prefixed(
            CLASSES["sealvol-gp"]["parameters"]),
        secrets=full, accessibility_requirements=topology_requirement(node_a, True))
    vol = call_ok("CreateVolume by globex named like acme's", "CreateVolume", req).volume
    check(vol.volume_id == "a/globex/" + a["attrs"]["volume"] and
          vol.volume_context["tenant"] == "globex" and vol.capacity_bytes == a["size"] * 2,
          "globex's CreateVolume with acme's name answered %s" % vol)
    unchanged(a, "globex's CreateVolume with acme's name")
    ok("CreateVolume by globex with acme's PV name: %s, globex's own, twice the size"
       % vol.volume_id)

    # ListVolumes carries no secrets: it lists with the hosts' own tokens
    # (here acme's), so globex's volume cannot appear through it.
    r = call_ok("ListVolumes", "ListVolumes", csi.ListVolumesRequest())
    ids = [e.volume.volume_id for e in r.entries]
    check(a["handle"] in ids and not any("/globex/" in i for i in ids),
          "ListVolumes listed %s" % ids)
    ok("ListVolumes (the hosts' tokens, acme's): %d volumes, acme's among them, "
       "none of globex's" % len(ids))

    call_ok("DeleteVolume globex's", "DeleteVolume", csi.DeleteVolumeRequest(
        volume_id=vol.volume_id, secrets=full))
    unchanged(a, "globex's DeleteVolume of its own volume of the same name")
    ok("globex deleted its own volume of that name; acme's stays")
    teardown(a)
    delete(a)


def main():
    global CLASSES, CLUSTER, NODES, CTL_MULTI_WRITER
    CLASSES = storage_classes()
    CLUSTER = load_secrets()
    check({("acme", SECRET_NAME), ("globex", SECRET_NAME)} <= set(CLUSTER),
          "Secrets: %s" % sorted(CLUSTER))
    NODES = register_nodes()
    CTL_MULTI_WRITER = sidecar_start("provisioner")
    # Round 1: the provisioner flags of deploy/ (without it: the
    # provisioner's defaults, aggregated topology, plus
    # --extra-create-metadata); round 2 swaps the nodes, with the
    # opposite flags and the other class and access mode.
    flags = provisioner_flags()
    if flags:
        ok("csi-provisioner in %s: --strict-topology %s, --extra-create-metadata %s"
           % (E["E2E_DEPLOY"], *["on" if f else "off" for f in flags]))
    strict, extra = flags or (False, True)
    if E.get("E2E_PVC_ROUNDS", "all") == "all":
        for tenant, nid in (("acme", "node-a"), ("globex", "node-b")):
            lifecycle(tenant, NODES[nid], "sealvol-gp", "ReadWriteOnce", strict, extra)
        for tenant, nid in (("acme", "node-b"), ("globex", "node-a")):
            lifecycle(tenant, NODES[nid], "sealvol-piops", "ReadWriteOncePod", not strict,
                      not extra)
    group_isolation(strict, extra)


if __name__ == "__main__":
    CLASSES = CLUSTER = NODES = None
    CTL_MULTI_WRITER = False
    main()
    print("all checks passed", flush=True)
