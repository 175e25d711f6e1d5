#!/bin/sh
# Install every Debian 12 package that building, testing and benchmarking sealvol needs.
# Run as root.  Safe to run again.
set -e

packages="
  build-essential autoconf automake libtool pkg-config
  libssl-dev libsodium-dev liburing-dev libinih-dev libjson-c-dev libmicrohttpd-dev
  nbdkit nbdkit-plugin-dev libnbd-dev libnbd-bin python3-libnbd
  libfuse3-dev fuse3 libmount-dev
  qemu-utils fio gnutls-bin openssl nbd-client valgrind
  xxd e2fsprogs python3-cryptography python3-nacl xfsprogs
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev
  python3-grpcio python3-grpc-tools util-linux python3-yaml
  libcurl4-openssl-dev
  ceph-mon ceph-osd ceph-mgr ceph-common librbd-dev qemu-block-extra
"

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $packages
