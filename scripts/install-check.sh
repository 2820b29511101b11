#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make install-check, on the host (no guest, no root needed once
# pkg-config is there):
#  1. one version: VERSION, and every copy of it agrees: dkms.conf's
#     PACKAGE_VERSION, the Makefile's and compat.mk's KUP_VERSION (which
#     MODULE_VERSION takes), lib/kup.h's KUP_VERSION_MAJOR/MINOR/PATCH;
#     and dkms.conf's BUILD_EXCLUSIVE_KERNEL is driver/compat.h's 6.1;
#  2. make install into a scratch DESTDIR, for the default PREFIX and for
#     another: exactly the expected files, kup.pc's version;
#  3. an application outside the tree, built with
#     cc $(pkg-config --cflags --libs kup) against the installed files
#     only (the compiler's dependency list proves where kup.h and
#     linux/kup.h came from): examples/kup_demo.c, and a C++ and a C11
#     program that check the version macros and the ABI constants;
#  4. make uninstall leaves no file behind;
#  and sysusers.d/kup.conf makes group kup (systemd-sysusers --dry-run),
#  which the udev rule names.
# Installs pkg-config with apt-get when it is missing (Debian 12).
# Exit 0 when all is well, 1 otherwise.
#
# usage: scripts/install-check.sh
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
# Outside the tree: nothing of it is on the apps' include path.
work=$(mktemp -d /tmp/kup-install-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
CC=${CC:-gcc}
CXX=${CXX:-g++}

problem() {
	echo "install-check: $*" >&2
	fail=1
}

if ! command -v pkg-config >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-check: pkg-config is missing; as root: apt-get install pkg-config" >&2
		exit 1
	fi
	apt-get install -y -qq --no-install-recommends pkg-config >/dev/null ||
		{ apt-get update -qq && apt-get install -y -qq \
			--no-install-recommends pkg-config >/dev/null; } ||
		{ echo "install-check: cannot install pkg-config" >&2; exit 1; }
fi

# 1. One version.
version=$(cat "$top/VERSION")
if ! [[ $version =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]; then
	echo "install-check: VERSION '$version' is not MAJOR.MINOR.PATCH" >&2
	exit 1
fi
major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} patch=${BASH_REMATCH[3]}

copy=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
[ "$copy" = "$version" ] ||
	problem "dkms.conf: PACKAGE_VERSION '$copy', VERSION says $version"
copy=$(make -s --no-print-directory -C "$top" -f Makefile \
	--eval 'print-kup-version: ; @echo $(KUP_VERSION)' print-kup-version)
[ "$copy" = "$version" ] ||
	problem "Makefile: KUP_VERSION '$copy', VERSION says $version"
# compat.mk as Kbuild reads it (it sets MODULE_VERSION's KUP_VERSION).
copy=$(printf 'include %s/compat.mk\nv: ; @echo $(KUP_VERSION)\n' "$top" |
	make -s --no-print-directory -f - v 2>/dev/null)
[ "$copy" = "$version" ] ||
	problem "compat.mk: KUP_VERSION '$copy', VERSION says $version"
grep -q '^MODULE_VERSION(KUP_VERSION);' "$top/driver/main.c" ||
	problem "driver/main.c: MODULE_VERSION is not KUP_VERSION"
for part in MAJOR:$major MINOR:$minor PATCH:$patch; do
	copy=$(sed -n "s/^#define KUP_VERSION_${part%%:*}[[:space:]]*\([0-9]*\)$/\1/p" \
		"$top/lib/kup.h")
	[ "$copy" = "${part#*:}" ] ||
		problem "lib/kup.h: KUP_VERSION_${part%%:*} '$copy', VERSION says $version"
done

# dkms.conf's BUILD_EXCLUSIVE_KERNEL: 6.1 and later (driver/compat.h).
re=$(sed -n 's/^BUILD_EXCLUSIVE_KERNEL="\(.*\)"$/\1/p' "$top/dkms.conf")
for k in 6.1.0-28-amd64 6.1.119 6.9.1 6.12.9+deb12-rt-amd64 6.19.0 7.0.0 \
	10.1.0; do
	[[ $k =~ $re ]] || problem "dkms.conf: BUILD_EXCLUSIVE_KERNEL refuses $k"
done
for k in 5.10.0-30-amd64 5.19.17 6.0.12 4.19.0 3.16.0; do
	[[ $k =~ $re ]] && problem "dkms.conf: BUILD_EXCLUSIVE_KERNEL takes $k"
done
grep -q 'KERNEL_VERSION(6, 1, 0)' "$top/driver/compat.h" ||
	problem "driver/compat.h's minimum is not 6.1: update dkms.conf"

# 2-4, for one PREFIX.
check_prefix() {
	local prefix=$1 dest=$work/dest app=$work/app
	local pcdir=$dest$prefix/share/pkgconfig want got flags f

	rm -rf "$dest" "$app"
	mkdir -p "$dest" "$app"
	make -s --no-print-directory -C "$top" -f Makefile install \
		DESTDIR="$dest" PREFIX="$prefix" >/dev/null ||
		{ problem "make install PREFIX=$prefix failed"; return; }

	want=$( {
		echo "$prefix/include/kup.h"
		echo "$prefix/include/kernproxy.h"
		echo "$prefix/include/kup/linux/kup.h"
		echo "$prefix/share/pkgconfig/kup.pc"
		for f in "$top"/man/*.[3479]; do
			echo "$prefix/share/man/man${f##*.}/${f##*/}"
		done
		echo /etc/udev/rules.d/60-kup.rules
		echo /etc/sysusers.d/kup.conf
		echo /etc/modules-load.d/kup.conf
		echo /etc/modprobe.d/kup.conf
	} | sort)
	got=$(cd "$dest" && find . -type f | sed 's/^\.//' | sort)
	[ "$want" = "$got" ] || problem "PREFIX=$prefix: installed files differ:
$(diff <(echo "$want") <(echo "$got") | grep '^[<>]')"
	[ -e "$dest/usr/include/linux/kup.h" ] &&
		problem "PREFIX=$prefix: installed into /usr/include/linux"
	# The group the udev rule names, made by systemd-sysusers.
	if command -v systemd-sysusers >/dev/null; then
		mkdir -p "$work/root/etc"
		systemd-sysusers --dry-run --root="$work/root" \
			"$dest/etc/sysusers.d/kup.conf" 2>&1 | grep -q "group 'kup'" ||
			problem "sysusers.d/kup.conf does not create group kup"
	fi
	grep -q '^SUBSYSTEM=="misc", ATTR{kup_abi}=="?\*", GROUP="kup", MODE="0660"$' \
		"$dest/etc/udev/rules.d/60-kup.rules" ||
		problem "60-kup.rules: not the rule for ATTR{kup_abi}"
	cmp -s "$top/lib/kup.h" "$dest$prefix/include/kup.h" ||
		problem "PREFIX=$prefix: kup.h differs from lib/kup.h"
	cmp -s "$top/lib/kernproxy.h" "$dest$prefix/include/kernproxy.h" ||
		problem "PREFIX=$prefix: kernproxy.h differs from lib/kernproxy.h"

	# pkg-config on the installed kup.pc; the sysroot maps its paths
	# into DESTDIR, as for a cross build.
	export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_LIBDIR=$pcdir
	export PKG_CONFIG_SYSROOT_DIR=$dest
	got=$(pkg-config --modversion kup) ||
		{ problem "PREFIX=$prefix: pkg-config does not find kup"; return; }
	[ "$got" = "$version" ] ||
		problem "PREFIX=$prefix: kup.pc says $got, VERSION $version"
	flags=$(pkg-config --cflags --libs kup)
	case " $flags " in
	*" -pthread "*) ;;
	*) problem "PREFIX=$prefix: kup.pc's Libs lack -pthread: $flags" ;;
	esac

	# The apps, from a directory outside the tree.
	cp "$top/examples/kup_demo.c" "$app/"
	cat >"$app/version.c" <<-EOF
	#include <kup.h>
	#include <stdio.h>

	_Static_assert(KUP_VERSION_MAJOR == $major && KUP_VERSION_MINOR == $minor &&
		       KUP_VERSION_PATCH == $patch, "kup.h's version is VERSION's");
	#if KUP_CHECK_VERSION($major, $minor)
	#error "KUP_CHECK_VERSION: the header is older than itself"
	#endif
	#if !KUP_CHECK_VERSION($major, $((minor + 1))) || !KUP_CHECK_VERSION($((major + 1)), 0)
	#error "KUP_CHECK_VERSION: a later release is not later"
	#endif
	_Static_assert(KUP_ABI_VERSION >= 1 && sizeof(struct kup_info) == 64,
		       "the ABI header");

	int main(void)
	{
		struct kup_info info = { 0 };

		info.features = KUP_FEATURES;
		printf("%d.%d.%d %llx\n", KUP_VERSION_MAJOR, KUP_VERSION_MINOR,
		       KUP_VERSION_PATCH, (unsigned long long)info.features);
		return 0;
	}
	EOF
	# The FreeBSD KUP names, from their own header, in C++.
	printf '#include <kernproxy.h>\nint main() { void *(*op)(const char *) = kernproxy_open; return KUP_CHECK_VERSION(%s, %s) + !op; }\n' \
		"$major" "$minor" >"$app/hello.cc"
	(
		cd "$app" &&
		$CC -std=gnu11 -Wall -Wextra -Werror -o kup_demo kup_demo.c \
			$flags -MD -MF kup_demo.d &&
		$CC -std=c11 -pedantic -Wall -Wextra -Werror -o version \
			version.c $flags -MD -MF version.d &&
		$CXX -std=c++17 -Wall -Wextra -Werror -o hello hello.cc \
			$flags -MD -MF hello.d
	) || { problem "PREFIX=$prefix: an app does not build"; return; }
	# Where the headers came from: the installed copies, nothing else.
	for f in "$app"/*.d; do
		got=$(tr ' \\' '\n\n' <"$f" | grep -E '(^|/)kup\.h$' | sort -u)
		want=$(printf '%s\n' "$dest$prefix/include/kup.h" \
			"$dest$prefix/include/kup/linux/kup.h" | sort)
		[ "$(realpath -m $got | sort)" = "$want" ] ||
			problem "PREFIX=$prefix: ${f##*/}: kup headers from: $got"
	done
	got=$(tr ' \\' '\n\n' <"$app/hello.d" | grep -E '(^|/)kernproxy\.h$')
	[ "$(realpath -m $got)" = "$dest$prefix/include/kernproxy.h" ] ||
		problem "PREFIX=$prefix: kernproxy.h from: $got"
	got=$("$app/version") ||
		problem "PREFIX=$prefix: the version app failed"
	[ "${got% *}" = "$version" ] ||
		problem "PREFIX=$prefix: the app says ${got% *}, VERSION $version"
	unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR

	make -s --no-print-directory -C "$top" -f Makefile uninstall \
		DESTDIR="$dest" PREFIX="$prefix" >/dev/null ||
		problem "make uninstall PREFIX=$prefix failed"
	got=$(cd "$dest" && find . -type f -o -type l)
	[ -z "$got" ] || problem "PREFIX=$prefix: left after uninstall: $got"
	[ -e "$dest$prefix/include/kup" ] &&
		problem "PREFIX=$prefix: include/kup left after uninstall"
	[ "$fail" = 0 ] && echo "install-check: PREFIX=$prefix: layout," \
		"kup.pc, 3 apps built with pkg-config, uninstall: OK"
}

check_prefix /usr/local
check_prefix /opt/kup

if [ "$fail" = 0 ]; then
	echo "install-check: OK (version $version everywhere)"
fi
exit $fail
