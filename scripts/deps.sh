#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install and fetch what kup's build and guest tests need, only what is
# missing, and describe it for the Makefile:
#   - Debian packages (apt-get): compilers' friends, qemu, busybox,
#     linux-source-6.1, liburing, and the headers of each guest kernel;
#   - each guest kernel's vmlinux, extracted from Debian's linux-image .deb
#     (downloaded, not installed: installing it drags in systemd) into a
#     cache outside the clone, so a fresh clone does not download it again;
#   - from linux-source-6.1, extracted at build time and never committed:
#     kselftest_harness.h, kselftest.h and checkpatch.pl.
#
# usage: deps.sh KERNEL...   (KERNEL: 6.1, 6.12, 6.12-rt, debug or kcsan)
# writes build/env.mk (common) and build/env-KERNEL.mk (GUEST_KVER,
# GUEST_KDIR, GUEST_IMAGE). Kernel versions are looked up at run time:
# the newest 6.1 that linux-headers-amd64 depends on, the newest 6.12.
# debug and kcsan are kernels built from linux-source-6.12 with the
# kernel's checkers on (scripts/debug-kernel.sh, cached in KUP_CACHE).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
cache=${KUP_CACHE:-/var/cache/kup}
mkdir -p "$build" "$cache"

pkgs="gcc g++ make libc6-dev qemu-system-x86 busybox-static cpio kmod
xz-utils zstd sparse dkms liburing-dev linux-source-6.1 gnuplot-nox
libasan8 libubsan1 libtsan2 pkg-config"

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

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

# The kernel release (uname -r) of flavor $1, from apt's lists.
lookup_kver() {
	local pat
	case "$1" in
	6.1)
		apt-cache depends linux-headers-amd64 2>/dev/null |
			grep -oE 'linux-headers-6\.1\.0-[0-9]+-amd64' | head -n1 |
			sed 's/^linux-headers-//'
		return ;;
	6.12) pat='6\.12\.[0-9]+\+deb12-amd64' ;;
	6.12-rt) pat='6\.12\.[0-9]+\+deb12-rt-amd64' ;;
	*) echo "deps: unknown kernel '$1' (6.1, 6.12, 6.12-rt)" >&2; exit 1 ;;
	esac
	apt-cache search --names-only "^linux-headers-$pat\$" 2>/dev/null |
		awk '{ print $1 }' | sed 's/^linux-headers-//' | sort -V | tail -n1
}

kernels=""
built=""
for k in ${*:-6.1}; do
	case "$k" in
	debug | kcsan) built="$built $k" ;;
	*) kernels="$kernels $k" ;;
	esac
done
missing=""
for p in $pkgs; do
	installed "$p" || missing="$missing $p"
done

# The release of each flavor: remembered in the cache between runs, looked
# up again when something is missing (a fresh machine, a new kernel).
declare -A kver
for k in $kernels; do
	v=""
	[ -f "$cache/kver-$k" ] && v=$(cat "$cache/kver-$k")
	if [ -z "$v" ] || [ -n "$missing" ] || ! installed "linux-headers-$v"; then
		v=$(lookup_kver "$k")
		if [ -z "$v" ]; then
			need_root "the $k kernel"
			apt_update
			v=$(lookup_kver "$k")
		fi
		[ -n "$v" ] || { echo "deps: no $k kernel in apt" >&2; exit 1; }
	fi
	kver[$k]=$v
	installed "linux-headers-$v" || missing="$missing linux-headers-$v"
done

if [ -n "$missing" ]; then
	need_root "$missing"
	apt_update
	echo "deps: apt-get install$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $missing >"$build/apt.log" 2>&1 || {
		tail -n 30 "$build/apt.log" >&2
		exit 1
	}
fi

# Extract the uncompressed vmlinux (PVH entry: a fast boot) from the
# bzImage in a kernel .deb: 6.1 wraps an xz stream, 6.12 a zstd one.
extract_vmlinux() {
	local v=$1 out=$2 tmp deb img off
	tmp=$(mktemp -d)
	(cd "$tmp" && for p in "linux-image-$v-unsigned" "linux-image-$v"; do
		apt-get download "$p" >/dev/null 2>&1 && exit 0
	done; exit 1) || {
		apt_update
		(cd "$tmp" && { apt-get download "linux-image-$v-unsigned" ||
			apt-get download "linux-image-$v"; } >/dev/null)
	}
	deb=$(ls "$tmp"/linux-image-*.deb)
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "./boot/vmlinuz-$v"
	img=$tmp/boot/vmlinuz-$v
	# (grep finds no match in the other format: not an error.)
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$img" | head -n1 |
	      cut -d: -f1) || true
	if [ -n "$off" ]; then
		tail -c +$((off + 1)) "$img" | xz -dc --single-stream >"$out.tmp" ||
			true
	else
		off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$img" | head -n1 |
		      cut -d: -f1) || true
		[ -n "$off" ] || { echo "deps: no xz/zstd payload in $img" >&2; exit 1; }
		# The stream is followed by the bzImage's tail: ignore it.
		tail -c +$((off + 1)) "$img" | zstd -dcq 2>/dev/null >"$out.tmp" ||
			true
	fi
	[ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
		{ echo "deps: no vmlinux in $img" >&2; rm -rf "$tmp"; exit 1; }
	mv "$out.tmp" "$out"
	rm -rf "$tmp"
}

for k in $kernels; do
	v=${kver[$k]}
	vmlinux=$cache/vmlinux-$v
	if [ ! -s "$vmlinux" ]; then
		need_root "the $v kernel image"
		echo "deps: extracting vmlinux-$v"
		extract_vmlinux "$v" "$vmlinux"
	fi
	echo "$v" >"$cache/kver-$k"
	cat >"$build/env-$k.mk.tmp" <<EOT
GUEST_KVER := $v
GUEST_KDIR := /usr/src/linux-headers-$v
GUEST_IMAGE := $vmlinux
EOT
	mv "$build/env-$k.mk.tmp" "$build/env-$k.mk"
	echo "deps: guest kernel $k: $v"
done

# The debug kernels: built once per fragment and source version, then
# reused from the cache (scripts/debug-kernel.sh prints where).
for k in $built; do
	out=$(bash "$top/scripts/debug-kernel.sh" "$k")
	kdir=$(sed -n 's/^KUP_DEBUG_KDIR=//p' <<<"$out")
	image=$(sed -n 's/^KUP_DEBUG_BZIMAGE=//p' <<<"$out")
	[ -d "$kdir" ] && [ -s "$image" ] ||
		{ echo "deps: no $k kernel from debug-kernel.sh" >&2; exit 1; }
	cat >"$build/env-$k.mk.tmp" <<EOT
GUEST_KVER := $(cat "$kdir/include/config/kernel.release")
GUEST_KDIR := $kdir
GUEST_IMAGE := $image
EOT
	mv "$build/env-$k.mk.tmp" "$build/env-$k.mk"
	echo "deps: guest kernel $k: $(cat "$kdir/include/config/kernel.release") ($image)"
done

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

cat >"$build/env.mk.tmp" <<EOT
KSFT_DIR := $src/tools/testing/selftests
CHECKPATCH := $src/scripts/checkpatch.pl
EOT
mv "$build/env.mk.tmp" "$build/env.mk"
