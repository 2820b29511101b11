#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build kup's selftests the kernel's way: selftests/ is copied into a
# kernel-style tree as tools/testing/selftests/kup (next to the kernel's
# lib.mk, runner and harness), built there by lib.mk, and installed as the
# selftests' "make install" lays them out (it needs rsync, which this does
# without):
#   INSTALL/run_kselftest.sh, INSTALL/kselftest/{runner.sh,prefix.pl,...},
#   INSTALL/kselftest-list.txt ("kup:<test>", TEST_GEN_PROGS),
#   INSTALL/kup/ (the programs, TEST_GEN_PROGS_EXTENDED too, config,
#   settings).
# Nothing is installed on the system and nothing is downloaded.
#
# usage: ksft-build.sh SRC TREE INSTALL [MAKEVAR=VALUE...]
#   SRC: a kernel tree's tools/testing/selftests directory, or a
#        linux-source-*.tar.xz (only the selftests framework is extracted)
#   TREE: where the kernel-style tree is made (build/, never committed)
set -euo pipefail

src=$1 tree=$2 inst=$3
shift 3
top=$(cd "$(dirname "$0")/.." && pwd)
ksft=$tree/tools/testing/selftests
# The framework: lib.mk, the runners, the harness.
files="Makefile lib.mk run_kselftest.sh kselftest kselftest.h
kselftest_harness.h"

if [ -z "$src" ] || [ ! -e "$src" ]; then
	cat >&2 <<EOT
ksft: no kernel selftests framework (lib.mk, kselftest_harness.h, the
ksft: runner). Install Debian's linux-source package (apt-get install
ksft: linux-source; its /usr/src/linux-source-*.tar.xz is used), or point
ksft: KSFT_DIR at a kernel tree's tools/testing/selftests:
ksft:   make kselftest KSFT_DIR=~/linux/tools/testing/selftests
EOT
	exit 1
fi
src=$(realpath "$src")
# The framework is taken once per source (the tarball takes seconds).
if [ "$(cat "$tree/.ksft-source" 2>/dev/null)" != "$src" ]; then
	rm -rf "$tree"
	mkdir -p "$ksft"
	if [ -d "$src" ]; then
		for f in $files; do
			cp -a "$src/$f" "$ksft/"
		done
	else
		echo "ksft: the selftests framework from $src"
		pats=""
		for f in $files; do
			pats="$pats */tools/testing/selftests/$f"
		done
		# shellcheck disable=SC2086
		tar -xJf "$src" -C "$tree" --strip-components=1 --wildcards $pats
	fi
	for f in $files; do
		[ -e "$ksft/$f" ] ||
			{ echo "ksft: $src has no tools/testing/selftests/$f" >&2; exit 1; }
	done
	echo "$src" >"$tree/.ksft-source"
fi

# selftests/ as tools/testing/selftests/kup (times kept: make rebuilds
# what changed only). kmod/ is built by kup's Makefile, not here.
rm -rf "$ksft/kup"
mkdir -p "$ksft/kup"
(cd "$top/selftests" && tar -c --exclude=kmod .) | tar -x -C "$ksft/kup"

obj=$tree/out/kup
mkdir -p "$obj"
make -C "$ksft/kup" OUTPUT="$obj" KUP_SRC="$top" "$@" all

rm -rf "$inst"
mkdir -p "$inst/kselftest" "$inst/kup"
install -m 755 "$ksft/run_kselftest.sh" "$inst/"
install -m 755 "$ksft"/kselftest/*.sh "$ksft"/kselftest/*.pl "$inst/kselftest/"
make -s --no-print-directory -C "$ksft/kup" OUTPUT="$obj" \
	KUP_SRC="$top" COLLECTION=kup "$@" emit_tests >"$inst/kselftest-list.txt"
find "$obj" -maxdepth 1 -type f -perm -u+x -exec install -m 755 {} "$inst/kup/" \;
install -m 644 "$ksft/kup/config" "$ksft/kup/settings" "$inst/kup/"
install -m 755 "$ksft/kup/run-selftests.sh" "$inst/"
echo "ksft: installed in $inst ($(wc -l <"$inst/kselftest-list.txt") tests" \
	"listed, $(find "$inst/kup" -type f -perm -u+x | wc -l) programs)"
