#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install and fetch what kup's build and guest tests need, only what is
# missing, and describe it in build/env.mk for the Makefile:
#   - Debian packages (apt-get): compilers' friends, qemu, busybox, the
#     kernel headers of the guest kernel, linux-source-6.1, liburing;
#   - the guest kernel: vmlinux extracted from Debian's linux-image .deb
#     (downloaded, not installed: installing it drags in systemd);
#   - from linux-source-6.1, extracted at build time and never committed:
#     kselftest_harness.h, kselftest.h and checkpatch.pl.
# The kernel ABI number (6.1.0-N) is looked up at run time.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
cache=$build/cache
mkdir -p "$cache"

pkgs="gcc g++ make libc6-dev qemu-system-x86 busybox-static cpio kmod
xz-utils sparse dkms liburing-dev linux-source-6.1 gnuplot-nox"

updated=0
apt_update() {
	if [ "$updated" = 0 ]; then
		echo "deps: apt-get update"
		apt-get update -qq
		updated=1
	fi
}

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing $*; run as root (or install them)" >&2
		exit 1
	fi
}

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done

kver=${KUP_KVER:-}
if [ -z "$kver" ] && [ -f "$cache/kver" ] && [ -z "$missing" ]; then
	kver=$(cat "$cache/kver")
fi
if [ -z "$kver" ]; then
	need_root "the guest kernel"
	apt_update
	kver=$(apt-cache depends linux-headers-amd64 |
	       grep -oE 'linux-headers-6\.1\.0-[0-9]+-amd64' | head -n1 |
	       sed 's/^linux-headers-//')
	[ -n "$kver" ] || { echo "deps: no 6.1 kernel in apt" >&2; exit 1; }
fi
dpkg-query -W -f='${Status}' "linux-headers-$kver" 2>/dev/null |
	grep -q "ok installed" || missing="$missing linux-headers-$kver"

if [ -n "$missing" ]; then
	need_root "$missing"
	apt_update
	echo "deps: apt-get install$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $missing >"$cache/apt.log" 2>&1 || {
		tail -n 30 "$cache/apt.log" >&2
		exit 1
	}
fi
echo "$kver" >"$cache/kver"

# The guest kernel: uncompressed vmlinux for a fast PVH boot.
vmlinux=$cache/vmlinux-$kver
if [ ! -s "$vmlinux" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && { apt-get download "linux-image-$kver" >/dev/null 2>&1 ||
		{ apt_update && apt-get download "linux-image-$kver"; }; })
	deb=$(ls "$tmp"/linux-image-*.deb)
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "./boot/vmlinuz-$kver"
	# The xz stream inside the bzImage starts at its magic, FD 37 7A 58 5A 00.
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$tmp/boot/vmlinuz-$kver" | head -n1 |
	      cut -d: -f1)
	tail -c +$((off + 1)) "$tmp/boot/vmlinuz-$kver" >"$tmp/payload.xz"
	xz -dc --single-stream <"$tmp/payload.xz" >"$vmlinux.tmp"
	[ "$(head -c 4 "$vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
		{ echo "deps: no vmlinux in the kernel image" >&2; exit 1; }
	mv "$vmlinux.tmp" "$vmlinux"
	rm -rf "$tmp"
	trap - EXIT
fi

# GPL kernel files, extracted into the ignored build folder.
src=$build/linux-src
if [ ! -f "$src/scripts/checkpatch.pl" ] ||
   [ ! -f "$src/tools/testing/selftests/kselftest_harness.h" ]; then
	rm -rf "$src"
	mkdir -p "$src"
	tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$src" --strip-components=1 \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/tools/testing/selftests/kselftest.h \
		linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch
fi

cat >"$build/env.mk" <<EOT
KUP_KVER := $kver
GUEST_KDIR := /usr/src/linux-headers-$kver
GUEST_VMLINUX := $vmlinux
KSFT_DIR := $src/tools/testing/selftests
CHECKPATCH := $src/scripts/checkpatch.pl
EOT
echo "deps: guest kernel $kver ready"
