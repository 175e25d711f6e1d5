#!/bin/bash
# install.sh: lay out a Debian-style sealvol storage host, as root, after
# the programs are installed ('make install', which puts sealvol in
# PREFIX/bin and the nbdkit plugin in nbdkit's plugin directory).
# Running it again changes nothing that is already right and keeps what
# the operator edited.
#
#   bash deploy/host/install.sh [--prefix DIR] [--root DIR] [--unit-dir DIR]
#
#   --prefix DIR    where 'make install' put sealvol (default /usr): the
#                   units run DIR/bin/sealvol
#   --root DIR      the storage root (default /var/lib/sealvol)
#   --unit-dir DIR  where the systemd units go (default /etc/systemd/system)
#   DESTDIR=DIR     (environment) stage everything under DIR, as 'make
#                   install' does; then no account is made and systemd is
#                   not told: that is for the real install
#   SEALVOL_USER    (environment) the service account (default sealvol)
#
# What it makes:
#   the system account sealvol (user and group; no home, no shell): the
#       group of /etc/sealvol and the primary group of every tenant's
#       serving user sealvol-TENANT (onboard-tenant.sh makes those)
#   /etc/sealvol          0750 root:sealvol  configuration
#   /etc/sealvol/pki      0700 root:root     CAs (keep their keys off the
#                                            storage root)
#   /etc/sealvol/api-tls  0700 root:root     the control API's certificate
#   ROOT                  0711 root:root     the storage root: tenants'
#                                            directories are reached by
#                                            name, not listed
#   UNIT_DIR/sealvol-api.service, UNIT_DIR/sealvol@.service  0644, with
#       PREFIX and ROOT written in
#   /etc/default/sealvol-api  0644, only if missing: LISTEN and TLS_DIR
#   PREFIX/lib/sealvol/{onboard-tenant.sh,sealvol-certs}  0755
#
# Exit status: 0, 1 on failure (one line on stderr), 2 on bad usage.
set -euo pipefail

prog=install.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=/usr
root=/var/lib/sealvol
unit_dir=/etc/systemd/system
user=${SEALVOL_USER:-sealvol}
dest=${DESTDIR:-}

die () { echo "$prog: $*" >&2; exit 1; }
usage () { echo "$prog: $* (usage: install.sh [--prefix DIR] [--root DIR] [--unit-dir DIR])" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in
        --prefix|--root|--unit-dir)
            [ $# -ge 2 ] && [ -n "$2" ] || usage "$1 needs a directory"
            case $2 in /*) ;; *) usage "$1 needs an absolute path, not '$2'" ;; esac
            case $1 in
                --prefix) prefix=$2 ;; --root) root=$2 ;; --unit-dir) unit_dir=$2 ;;
            esac
            shift 2 ;;
        *) usage "unknown argument '$1'" ;;
    esac
done
[ "$(id -u)" = 0 ] || die "run it as root: it makes accounts and root-owned directories"
case $dest in ''|/*) ;; *) usage "DESTDIR must be an absolute path, not '$dest'" ;; esac

# The service account.  Only on the real system: a staged install leaves
# accounts to whoever installs it (a package's postinst).
make_account () {
    if [ -n "$dest" ]; then
        return 0
    fi
    getent group "$user" >/dev/null || addgroup --quiet --system "$user" ||
        die "cannot create the group $user"
    getent passwd "$user" >/dev/null ||
        adduser --quiet --system --ingroup "$user" --no-create-home \
            --home "$root" --shell /usr/sbin/nologin --disabled-login "$user" ||
        die "cannot create the user $user"
}

# The group that owns /etc/sealvol: the account's, where it exists (in a
# staged install, only if the host has it), else root's.
config_group () {
    if getent group "$user" >/dev/null; then echo "$user"; else echo root; fi
}

# dir MODE OWNER:GROUP PATH: the directory, with that mode and owner
# (also when it exists already: install -d sets both).
dir () { install -d -m "$1" -o "${2%:*}" -g "${2#*:}" "$dest$3" || die "cannot create $dest$3"; }

# unit NAME: the unit from this directory, with PREFIX and ROOT written in.
unit () {
    local tmp
    tmp=$(mktemp)
    sed -e "s|/usr/bin/sealvol|$prefix/bin/sealvol|g" \
        -e "s|/var/lib/sealvol|$root|g" "$here/$1" >"$tmp"
    install -m 0644 -o root -g root "$tmp" "$dest$unit_dir/$1" || { rm -f "$tmp"; die "cannot install $1"; }
    rm -f "$tmp"
}

# default_file NAME TEXT: /etc/default/NAME, unless the operator has one.
default_file () {
    [ -e "$dest/etc/default/$1" ] && return 0
    dir 0755 root:root /etc/default
    printf '%s\n' "$2" >"$dest/etc/default/$1"
    chmod 0644 "$dest/etc/default/$1"
}

make_account
dir 0750 "root:$(config_group)" /etc/sealvol
dir 0700 root:root /etc/sealvol/pki
dir 0700 root:root /etc/sealvol/api-tls
dir 0711 root:root "$root"
dir 0755 root:root "$unit_dir"
unit sealvol-api.service
unit sealvol@.service
default_file sealvol-api "# sealvol-api.service: the control API (sealvol-api(8)).
# The certificate directory holds server-cert.pem and server-key.pem, e.g.
# from: sealvol-certs server /etc/sealvol/pki/server-ca /etc/sealvol/api-tls HOST
LISTEN=0.0.0.0:8443
TLS_DIR=/etc/sealvol/api-tls"
dir 0755 root:root "$prefix/lib/sealvol"
install -m 0755 -o root -g root "$here/onboard-tenant.sh" "$dest$prefix/lib/sealvol/onboard-tenant.sh"
install -m 0755 -o root -g root "$here/../../scripts/sealvol-certs" "$dest$prefix/lib/sealvol/sealvol-certs"
if [ -z "$dest" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || die "systemctl daemon-reload failed"
fi
[ -x "$dest$prefix/bin/sealvol" ] ||
    echo "$prog: note: no $dest$prefix/bin/sealvol yet: run 'make install' (prefix $prefix)" >&2
echo "sealvol host layout installed${dest:+ under $dest}"
