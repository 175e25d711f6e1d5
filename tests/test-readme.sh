#!/bin/bash
# The client command lines of README.md and docs/tls.md work as written:
# each one is run over real TLS against a real nbdkit serving a temporary
# storage root, so a misspelt option or URI fails the suite.
#
# Which lines: in a fenced shell block of those two files (``` alone, or
# ```sh/bash/shell), every line whose command is qemu-img, nbdinfo or
# nbdcopy (with its "\" continuation lines), run in a shell that has first
# run the plain variable assignments (NAME=value) written above it in the
# same block.  Nothing needs marking: a new client line in either file is
# tested from the day it is written.
#
# What is replaced, and nothing else: the host names storage.example and
# storage.example.com become 127.0.0.1, the port 10809 becomes the test
# server's, and the example paths become the test's certificate
# directories (the MAP below).  Each file's lines go to a server set up as
# that file says: README.md's with one CA signing the server's and the
# client's certificates, docs/tls.md's with a server CA and acme's client
# CA (both asking for client certificates, --tls-verify-peer), and for a
# line with tls-psk-file a PSK server.  They listen on 127.0.0.1 only, and
# a line that would contact anything else fails without running.
# The lines run in a scratch directory holding disk.raw and disk.qcow2
# (16 MiB, like volume acme/db).
source "${top_srcdir:-.}/tests/functions.sh"
requires nbdkit --version
requires qemu-img --version
requires nbdinfo --version
requires nbdcopy --version
requires certtool --version

DOCS="README.md docs/tls.md"
CLIENTS="qemu-img nbdinfo nbdcopy"

# README.md's certificates, made as its "Using it" block makes them.
R=$TMP/readme-pki
certs ca "$R/ca"
certs server "$R/ca" "$R/tls" 127.0.0.1
certs client "$R/ca" "$R/client" node-1 --server-ca "$R/ca/ca-cert.pem"
# docs/tls.md's: a server CA, acme's client CA, the client's directory
# (libnbd's layout), the two-CA directory for qemu and a PSK for acme-vm1,
# whose client file holds just its own line.
make_pki acme-vm1
mkdir "$P/acme-qemu"
cp "$P/acme/client-cert.pem" "$P/acme/client-key.pem" "$P/acme-qemu/"
cat "$P/server-ca/ca-cert.pem" "$P/acme-ca/ca-cert.pem" >"$P/acme-qemu/ca-cert.pem"
install -m 0600 "$P/server.psk" "$P/acme-vm1.psk"

MAP=(
    storage.example.com     127.0.0.1
    storage.example         127.0.0.1
    /etc/sealvol/client     "$R/client"
    /root/acme-vm1-tls      "$P/acme"
    /root/acme-vm1-qemu     "$P/acme-qemu"
    /root/acme-vm1.psk      "$P/acme-vm1.psk"
)

# localize TEXT PORT: TEXT with the MAP's replacements and the port.
localize () {
    local s=$1 i
    for (( i = 0; i < ${#MAP[@]}; i += 2 )); do
        s=${s//"${MAP[i]}"/"${MAP[i + 1]}"}
    done
    printf '%s' "${s//10809/$2}"
}

# extract DOC: "LINE<TAB>KIND<TAB>TEXT" for each fence that opens a block
# (KIND "block"), each assignment ("set") and each client command ("run").
extract () {
    awk -v OFS='\t' '
        function emit () {
            sub(/^[ \t]+/, "", text)
            if (text ~ /^(qemu-img|nbdinfo|nbdcopy)([ \t]|$)/) print start, "run", text
            else if (text ~ assignment) print start, "set", text
            text = ""
        }
        BEGIN { assignment = "^[A-Za-z_][A-Za-z0-9_]*=(\"[^\"]*\"|\047[^\047]*\047|[^ \t\"\047]*)[ \t]*(#.*)?$" }
        /^[ \t]*```/ {
            fence = !fence
            shell = fence && $0 ~ /^[ \t]*```[ \t]*(sh|bash|shell)?[ \t]*$/
            if (shell) print NR, "block", ""
            next
        }
        !shell { next }
        {
            line = $0
            if (text == "") start = NR
            else sub(/^[ \t]+/, "", line)
            if (sub(/\\$/, "", line)) { text = text line " "; next }
            text = text line
            emit()
        }' "$1"
}

# The HOST[:PORT] each client command of a script would contact, read
# from its arguments after the shell expanded them (the commands are
# stubs that print them): nbd:// and nbds:// URIs, qemu's host=,port=.
endpoints_of () {
    local arg host port
    while IFS= read -r arg; do
        case $arg in
            nbd://*|nbds://*)
                host=${arg#*://} host=${host%%[/?]*}
                echo "${host#*@}" ;;
            *host=*)
                host=${arg#*host=} host=${host%%,*} port=
                case $arg in *port=*) port=${arg#*port=} port=${port%%,*} ;; esac
                echo "$host${port:+:$port}" ;;
        esac
    done < <(bash -euc "qemu-img () { printf '%s\n' \"\$@\"; }
                        nbdinfo () { printf '%s\n' \"\$@\"; }
                        nbdcopy () { printf '%s\n' \"\$@\"; }
                        $1" </dev/null)
}

# One server at a time (they all serve tenant acme from $ROOT): README,
# tls or psk.
current=
use_server () {
    [ "$current" = "$1" ] && return 0
    [ -n "$current" ] && stop_tcp "$current"
    case $1 in
        README) start_tcp "$1" --tls=require --tls-certificates="$R/tls" \
                       --tls-verify-peer -- tenant=acme io="$IO" ;;
        tls) start_tcp "$1" --tls=require --tls-certificates="$P/server" \
                         --tls-verify-peer -- tenant=acme io="$IO" ;;
        psk) start_tcp "$1" --tls=require --tls-psk="$P/server.psk" \
                 -- tenant=acme io="$IO" ;;
    esac
    current=$1
}

# run_line DOC LINE SETS COMMAND: run one documented command.
run_line () {
    local doc=$1 nr=$2 sets=$3 cmd=$4 server script host c status=0
    server=${doc##*/} server=${server%.md}
    case $cmd in *tls-psk-file*) server=psk ;; esac
    use_server "$server"
    script=$(localize "$sets$cmd" "${PORT[$server]}")
    # Only the test's server, on loopback: an unmapped host, or a port
    # left to its default, is a failure and never contacted.
    for host in $(endpoints_of "$script"); do
        [ "$host" = "127.0.0.1:${PORT[$server]}" ] ||
            fail "$doc:$nr: would contact '$host', not the test's server (write the host and port 10809 out; MAP): $cmd"
    done
    (cd "$TMP/work" && timeout 120 bash -euc "$script") </dev/null >"$TMP/line.out" 2>&1 || status=$?
    [ "$status" = 0 ] ||
        fail "$doc:$nr: exit status $status: $cmd: $(tail -5 "$TMP/line.out")"
    echo "ok: $doc:$nr: $cmd"
    for c in $CLIENTS; do
        case $cmd in "$c "*) RAN[$c]=$(( ${RAN[$c]:-0} + 1 )) ;; esac
    done
}

sv tenant create acme >/dev/null
sv volume create acme/db --size 16M >/dev/null
mkdir "$TMP/work"
head -c 16M /dev/urandom >"$TMP/work/disk.raw"
head -c 16M /dev/urandom >"$TMP/q.raw"
qemu-img convert -f raw -O qcow2 "$TMP/q.raw" "$TMP/work/disk.qcow2"

declare -A RAN
for doc in $DOCS; do
    n=0 sets=
    mapfile -t lines < <(extract "$top_srcdir/$doc")
    for l in "${lines[@]}"; do
        IFS=$'\t' read -r nr kind text <<<"$l"
        case $kind in
            block) sets= ;;
            set) sets+="$text"$'\n' ;;
            run) run_line "$doc" "$nr" "$sets" "$text"; n=$((n + 1)) ;;
        esac
    done
    [ "$n" -gt 0 ] || fail "$doc: no $CLIENTS line found in a code block"
    echo "ok: $doc: $n client lines"
done
for c in $CLIENTS; do
    [ "${RAN[$c]:-0}" -gt 0 ] || fail "no $c line in $DOCS"
done
stop_tcp "$current"
sv volume verify acme/db >/dev/null || fail "acme/db does not verify after the documented commands"
echo "$0: every documented client line works"
