#!/bin/bash
# onboard-tenant.sh: everything a storage host does to take on a tenant,
# as root, ending with the Kubernetes Secret for the tenant's namespace
# on standard output (it holds secrets: pipe it to 'kubectl apply -f -'
# or to the namespace owner, do not keep it).  Progress goes to stderr.
#
#   onboard-tenant.sh TENANT NAMESPACE --attach HOST:PORT [--listen ADDR:PORT]
#       [--psk] [--server-name NAME]... [--host NAME] [--start]
#       [--root DIR] [--etc DIR] [--no-user]
#
#   --attach HOST:PORT  where nodes reach the tenant's server: tenant.conf's
#                       [serve] attach (the control API hands it to the CSI
#                       controller), and the server certificate's name
#   --listen ADDR:PORT  what the server binds (default 0.0.0.0:PORT), into
#                       ETC/default/sealvol-TENANT for sealvol@TENANT
#   --psk               nodes authenticate with a PSK instead of a client
#                       certificate
#   --server-name NAME  more names or addresses for the server certificate
#   --host NAME         this host's [host NAME] in the controller's config:
#                       the token's key is access-token.NAME
#   --start             systemctl enable --now sealvol@TENANT
#   --root DIR          the storage root (default /var/lib/sealvol)
#   --etc DIR           instead of /etc (ETC/sealvol/pki keeps the CAs)
#   --no-user           do not make the serving user sealvol-TENANT (it
#                       exists, or this is a test)
#
# Each step is skipped when its result is there already (tenant, user,
# [serve] section, CAs, certificates, PSK line, defaults file), so running
# it again only makes a new API token, in a new Secret.  The steps, by
# hand: sealvol tenant create; adduser sealvol-TENANT; [serve] attach in
# tenant.conf; sealvol-certs ca / server --client-ca / client --server-ca
# (or psk); ETC/default/sealvol-TENANT; sealvol tenant kube-secret
# --with-secrets.
set -euo pipefail

prog=onboard-tenant.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die () { echo "$prog: $*" >&2; exit 1; }
usage () { echo "$prog: $* (usage: onboard-tenant.sh TENANT NAMESPACE --attach HOST:PORT [options])" >&2; exit 2; }
say () { echo "$prog: $*" >&2; }

root=/var/lib/sealvol etc=/etc attach= listen= psk=false host= start=false make_user=true
names=() args=()
while [ $# -gt 0 ]; do
    case $1 in
        --attach|--listen|--server-name|--host|--root|--etc)
            [ $# -ge 2 ] && [ -n "$2" ] || usage "$1 needs a value"
            case $1 in
                --attach) attach=$2 ;; --listen) listen=$2 ;; --host) host=$2 ;;
                --server-name) names+=("$2") ;; --root) root=$2 ;; --etc) etc=$2 ;;
            esac
            shift 2 ;;
        --psk) psk=true; shift ;;
        --start) start=true; shift ;;
        --no-user) make_user=false; shift ;;
        -*) usage "unknown option '$1'" ;;
        *) args+=("$1"); shift ;;
    esac
done
[ ${#args[@]} = 2 ] || usage "give TENANT and NAMESPACE"
tenant=${args[0]} namespace=${args[1]}
[[ $attach =~ ^(.+):([0-9]+)$ ]] || usage "--attach HOST:PORT is required"
attach_host=${BASH_REMATCH[1]} port=${BASH_REMATCH[2]}
attach_host=${attach_host#[}; attach_host=${attach_host%]}
: "${listen:=0.0.0.0:$port}"
[ "$(id -u)" = 0 ] || die "run it as root, as every sealvol command"

SEALVOL=${SEALVOL:-sealvol}
sv () { "$SEALVOL" --root "$root" "$@"; }
# sealvol-certs: beside this script once installed, else the source tree's.
certs_prog=$here/sealvol-certs
[ -x "$certs_prog" ] || certs_prog=$here/../../scripts/sealvol-certs
certs () { bash "$certs_prog" "$@" >/dev/null || die "sealvol-certs $1 failed"; }
# Bad names first, before anything is made: kube-secret checks them (exit
# 2) before it looks for the tenant.
status=0
err=$(sv tenant kube-secret "$tenant" --namespace "$namespace" ${host:+--host "$host"} 2>&1 >/dev/null) ||
    status=$?
[ $status != 2 ] || { echo "$err" >&2; exit 2; }
user=sealvol-$tenant pki=$etc/sealvol/pki tls=$root/$tenant/tls

if [ ! -e "$root/$tenant/tenant.conf" ]; then
    sv tenant create "$tenant" >&2
fi
if $make_user && ! getent passwd "$user" >/dev/null; then
    getent group sealvol >/dev/null || die "no group sealvol: run install.sh first"
    adduser --quiet --system --ingroup sealvol --no-create-home --home "$root/$tenant" \
        --shell /usr/sbin/nologin --disabled-login "$user" || die "cannot create the user $user"
    say "made the serving user $user"
fi

if ! grep -q '^\[serve\]' "$root/$tenant/tenant.conf"; then
    printf '[serve]\nattach = %s\n' "$attach" >>"$root/$tenant/tenant.conf"
    say "tenant.conf: [serve] attach = $attach"
fi

install -d -m 0700 "$pki"
[ -e "$pki/server-ca/ca-cert.pem" ] || certs ca "$pki/server-ca" --cn "sealvol server CA $(hostname)"
if $psk; then
    if ! grep -qs "^$tenant-nodes:" "$tls/psk"; then
        install -d -m 0711 "$tls"       # the serving user reaches psk by name
        certs psk "$tls/psk" "$tenant-nodes"
        say "made the PSK of $tenant-nodes in $tls/psk"
    fi
    # GnuTLS reads the PSK file at every handshake, as the serving user.
    if $make_user; then chown "$user:" "$tls/psk"; fi
    node_args=(--psk-user "$tenant-nodes")
else
    [ -e "$pki/$tenant-client-ca/ca-cert.pem" ] ||
        certs ca "$pki/$tenant-client-ca" --cn "$tenant client CA"
    if [ ! -e "$tls/server-cert.pem" ]; then
        certs server "$pki/server-ca" "$tls" "$attach_host" ${names[@]+"${names[@]}"} \
            --client-ca "$pki/$tenant-client-ca/ca-cert.pem"
        say "made the server certificate for $attach_host${names[*]:+ ${names[*]}} in $tls"
    fi
    [ -e "$pki/$tenant-nodes/client-cert.pem" ] ||
        certs client "$pki/$tenant-client-ca" "$pki/$tenant-nodes" "$tenant-nodes" \
            --server-ca "$pki/server-ca/ca-cert.pem"
    node_args=(--client-dir "$pki/$tenant-nodes")
fi

if [ ! -e "$etc/default/sealvol-$tenant" ]; then
    install -d -m 0755 "$etc/default"
    printf 'LISTEN=%s\nSEALVOL_ROOT=%s\n' "$listen" "$root" >"$etc/default/sealvol-$tenant"
    say "$etc/default/sealvol-$tenant: LISTEN=$listen"
fi
if $start; then
    systemctl enable --now "sealvol@$tenant" >&2 || die "sealvol@$tenant did not start"
fi

sv tenant kube-secret "$tenant" --namespace "$namespace" ${host:+--host "$host"} \
    --with-secrets "${node_args[@]}"
