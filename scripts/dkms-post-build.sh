#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# dkms's POST_BUILD for kup (dkms.conf): dkms runs it in the build
# directory, /var/lib/dkms/kup/<version>/build, before it cleans that
# away. Keep the Module.symvers of the build next to the built modules,
# in /var/lib/dkms/kup/<version>/<kernel>/<arch>/, where client modules
# find it (KBUILD_EXTRA_SYMBOLS; examples/client-module/) and where
# dkms remove deletes it.
#
# usage: dkms-post-build.sh KERNELVER ARCH
set -eu
dest=../$1/$2
test -f Module.symvers || { echo "kup: no Module.symvers in $(pwd)" >&2; exit 1; }
test -d "$dest" || { echo "kup: no $dest from dkms" >&2; exit 1; }
cp Module.symvers "$dest/Module.symvers"
echo "kup: kept Module.symvers in $(cd "$dest" && pwd)"
