#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check's dkms part (_dkms-check), for one guest kernel, as root on
# the host (nothing is loaded, nothing installed in /lib/modules):
#  1. kup registered with dkms twice in a row (as two make dkms-install),
#     then built for KVER: exactly kup.ko and kup_echo.ko, with VERSION
#     as their version, and Module.symvers kept with them (POST_BUILD);
#  2. the client-module template (examples/client-module), as a third
#     party ships it: its own dkms package, built for KVER against the
#     dkms-built kup (headers in /usr/src/kup-VERSION, the kept
#     Module.symvers); modpost resolves every kup symbol it uses;
#  3. everything removed again.
# Skipped when this host has kup installed with dkms.
#
# usage: scripts/dkms-check.sh VERSION KVER
set -eu
version=$1
kver=$2
top=$(cd "$(dirname "$0")/.." && pwd)
arch=$(uname -m)
tree=/var/lib/dkms
client=kup_hello
client_ver=1.0
client_src=/usr/src/$client-$client_ver

if dkms status kup 2>/dev/null | grep -q kup; then
	echo "dkms-check: kup is installed with dkms here; skipped"
	exit 0
fi

cleanup() {
	dkms remove $client/$client_ver --all >/dev/null 2>&1 || true
	rm -rf "$client_src"
	dkms remove "kup/$version" --all >/dev/null 2>&1 || true
	rm -rf "/usr/src/kup-$version"
}
trap cleanup EXIT
fail() {
	echo "dkms-check ($kver): $*" >&2
	exit 1
}

# 1. kup, registered twice: the second replaces the first.
for i in 1 2; do
	make -s --no-print-directory -C "$top" -f Makefile _dkms-add \
		>/dev/null || fail "registration $i failed"
done
dkms build "kup/$version" -k "$kver" >/dev/null ||
	fail "dkms build kup failed: $(ls $tree/kup/$version/build/make.log 2>/dev/null)"
base=$tree/kup/$version/$kver/$arch
mods=$(cd "$base/module" && ls | sed 's/\.ko.*$//' | sort | tr '\n' ' ')
[ "$mods" = "kup kup_echo " ] ||
	fail "dkms built '$mods', want kup and kup_echo only"
for m in kup kup_echo; do
	v=$(modinfo -F version "$base"/module/$m.ko*)
	[ "$v" = "$version" ] || fail "$m.ko: version '$v', VERSION $version"
done
[ -f "$base/Module.symvers" ] || fail "no Module.symvers in $base"
grep -qP '\tkup_send\t' "$base/Module.symvers" ||
	fail "$base/Module.symvers lacks kup_send"
[ -f "/usr/src/kup-$version/include/linux/kup.h" ] ||
	fail "no kernel API header in /usr/src/kup-$version/include"

# 2. The client template, with its dkms.conf aimed at this kup.
rm -rf "$client_src"
mkdir -p "$client_src"
cp "$top"/examples/client-module/{Kbuild,Makefile,dkms.conf,$client.c} \
	"$client_src/"
sed -i "s/^KUP_VERSION=.*/KUP_VERSION=\"$version\"/" "$client_src/dkms.conf"
dkms add $client/$client_ver >/dev/null || fail "dkms add $client failed"
if ! dkms build $client/$client_ver -k "$kver" >/dev/null; then
	cat $tree/$client/$client_ver/build/make.log >&2 || true
	fail "dkms build $client failed"
fi
ko=$(ls $tree/$client/$client_ver/$kver/$arch/module/$client.ko*)
deps=$(modinfo -F depends "$ko")
[ "$deps" = kup ] || fail "$client.ko depends on '$deps', want kup"
ns=$(modinfo -F import_ns "$ko")
[ "$ns" = KUP ] || fail "$client.ko imports namespace '$ns', want KUP"
echo "dkms-check: kup $version (kup.ko, kup_echo.ko, Module.symvers) and" \
	"the client template $client build with dkms for $kver"
