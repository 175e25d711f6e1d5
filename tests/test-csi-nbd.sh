#!/bin/bash
# The CSI node plugin on the kernel nbd-client path
# (SEALVOL_CSI_ATTACH=nbd): the mount lifecycle (stage, publish, write,
# unpublish, unstage, stage again, files intact) and block access, by
# tests/test-csi.sh in its nbd mode.  Skipped (77) where the kernel has
# no NBD module (/dev/nbd0 absent) or nbd-client is not installed.
if [ ! -b /dev/nbd0 ]; then
    echo "$0: SKIP: missing requirement: /dev/nbd0 (no nbd kernel module)"
    exit 77
fi
if ! command -v nbd-client >/dev/null 2>&1; then
    echo "$0: SKIP: missing requirement: nbd-client"
    exit 77
fi
CSI_TEST_ATTACH=nbd exec bash "${top_srcdir:-$(dirname "$0")/..}/tests/test-csi.sh"
