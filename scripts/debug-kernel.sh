#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (or reuse) a debug kernel for the guest test bed, from Debian's
# linux-source-6.12, and print where it is:
#     KUP_DEBUG_KDIR=<kernel tree, for make -C ... M=...>
#     KUP_DEBUG_BZIMAGE=<bzImage to boot>
# on stdout; everything else goes to stderr. Exit status non-zero on any
# failure.
#
# usage: debug-kernel.sh [debug|kcsan]
#   debug  tinyconfig + kernel/debug.config (KASAN, lockdep, kmemleak,
#          UBSAN, fault injection, ...)
#   kcsan  tinyconfig + kernel/debug.config + kernel/kcsan.config (KCSAN
#          instead of KASAN)
#
# The build lives outside any git clone, in
#     ${KUP_CACHE:-/var/cache/kup}/kernel-<flavor>-<key>/
#         linux/      the built tree (vmlinux with debug info, Module.symvers)
#         bzImage     a copy of linux/arch/x86/boot/bzImage
#         build.log   configure + build log
#         config      a copy of linux/.config
#         key         what the key was computed from
#         complete    written last, before the rename
# <key> is a short hash of the fragment(s), this script, the installed
# linux-source-6.12 version and the compiler version. A complete build with
# the same key is reused; builds with other keys of the same flavor are
# removed once the new one is in place (or reused). One flock per flavor serialises
# concurrent runs; the build happens in a temporary directory next to the
# final one and is renamed into place only when complete, so an interrupted
# run leaves nothing that looks usable (the next run deletes its remains).
#
# Needs root only to install missing packages (apt-get) and to write the
# default cache directory.
set -euo pipefail

# The whole script is one function, parsed before anything runs: editing
# this file while a build is under way must not change what that run
# executes (bash reads a plain script as it goes).
main() {

	# Everything to stderr; the two result lines go to the saved stdout (fd 3).
	exec 3>&1 1>&2

	flavor=${1:-debug}
	self=$(readlink -f "$0")
	top=$(cd "$(dirname "$self")/.." && pwd)
	cache=${KUP_CACHE:-/var/cache/kup}
	src_pkg=linux-source-6.12
	src_tar=/usr/src/$src_pkg.tar.xz

	say() { echo "debug-kernel: $*"; }
	die() { echo "debug-kernel: ERROR: $*"; exit 1; }

	case "$flavor" in
	debug) frags=("$top/kernel/debug.config") ;;
	kcsan) frags=("$top/kernel/debug.config" "$top/kernel/kcsan.config") ;;
	*) die "unknown flavor '$flavor' (debug or kcsan)" ;;
	esac
	for f in "${frags[@]}"; do
		[ -f "$f" ] || die "missing fragment $f"
	done

	# ------------------------------------------------------------ packages
	pkgs="$src_pkg bc bison flex libelf-dev libssl-dev zstd lz4 xz-utils perl
	python3 make gcc libc6-dev kmod cpio"
	missing=""
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		[ "$(id -u)" = 0 ] || die "missing packages:$missing (run as root)"
		say "apt-get install$missing"
		export DEBIAN_FRONTEND=noninteractive
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $missing ||
			{ apt-get update -qq &&
			  apt-get install -y -qq --no-install-recommends $missing; } ||
			die "apt-get install$missing failed"
	fi
	[ -f "$src_tar" ] || die "$src_tar missing although $src_pkg is installed"

	# ----------------------------------------------------------------- key
	src_ver=$(dpkg-query -W -f='${Version}' "$src_pkg")
	cc_ver=$(gcc --version | head -n 1)
	keyinfo=$(
		echo "flavor $flavor"
		echo "$src_pkg $src_ver"
		echo "cc $cc_ver"
		sha256sum "$self" | sed "s|$top/||"
		for f in "${frags[@]}"; do sha256sum "$f" | sed "s|$top/||"; done
	)
	key=$(echo "$keyinfo" | sha256sum | cut -c1-12)
	final=$cache/kernel-$flavor-$key

	mkdir -p "$cache"
	exec 9>"$cache/kernel-$flavor.lock"
	if ! flock -n 9; then
		say "another build of the $flavor kernel is running; waiting for it"
		flock 9
	fi

	# Remove what earlier runs of this flavor left: with "tmp", the
	# temporary directories of interrupted runs; with "all", also the
	# builds of other keys. We hold the lock: no other run of this flavor
	# uses them (a guest booted from an old bzImage keeps its copy).
	prune() {
		local d
		for d in "$cache"/.tmp-kernel-"$flavor"-* "$cache"/kernel-"$flavor"-*; do
			[ -e "$d" ] || continue
			[ "$d" = "$final" ] && continue
			case "$d" in
			*.lock | *.log) continue ;;
			"$cache"/kernel-*) [ "$1" = all ] || continue ;;
			esac
			say "removing stale $d"
			rm -rf -- "$d"
		done
	}

	result() {
		echo "KUP_DEBUG_KDIR=$final/linux" >&3
		echo "KUP_DEBUG_BZIMAGE=$final/bzImage" >&3
	}

	if [ -f "$final/complete" ] && [ -s "$final/bzImage" ] &&
	   [ -s "$final/linux/Module.symvers" ]; then
		say "reusing $final"
		prune all
		result
		exit 0
	fi
	[ ! -e "$final" ] || { say "removing incomplete $final"; rm -rf -- "$final"; }
	prune tmp

	tmp=$(mktemp -d "$cache/.tmp-kernel-$flavor-$key.XXXXXX")
	case "$tmp" in "$cache"/.tmp-kernel-*) ;; *) die "bad temporary directory '$tmp'" ;; esac
	trap 'rm -rf -- "$tmp"' EXIT
	trap 'exit 130' INT TERM HUP
	log=$tmp/build.log
	echo "$keyinfo" >"$tmp/key"

	fail() {
		cp -f "$log" "$cache/kernel-$flavor-failed.log" 2>/dev/null || true
		tail -n 40 "$log" 2>/dev/null | sed 's/^/  | /'
		die "$* (log: $cache/kernel-$flavor-failed.log)"
	}

	say "building the $flavor kernel ($src_pkg $src_ver, key $key) in $tmp"
	say "extracting $src_tar"
	nice -n 10 tar -xJf "$src_tar" -C "$tmp" || die "cannot extract $src_tar"
	mv "$tmp/$src_pkg" "$tmp/linux"
	tree=$tmp/linux

	# --------------------------------------------------------- configure
	say "configuring: tinyconfig + ${frags[*]##*/}"
	(
		cd "$tree"
		make -s tinyconfig
		scripts/kconfig/merge_config.sh -m .config "${frags[@]}"
		make -s olddefconfig
	) >>"$log" 2>&1 || fail "configuration failed"

	# Every line of the fragments (later ones win) must hold in .config:
	# merge_config.sh silently drops what a dependency refuses. A "not set"
	# line also holds when the symbol is absent (its menu is off).
	# Any other non-comment line in a fragment is an error.
	awk -v cfg="$tree/.config" '
		function sym(line) {
			if (line ~ /^# CONFIG_[A-Za-z0-9_]+ is not set$/) {
				sub(/^# /, "", line); sub(/ is not set$/, "", line)
				return line
			}
			sub(/=.*/, "", line)
			return line
		}
		FILENAME == cfg {
			if ($0 ~ /^CONFIG_[A-Za-z0-9_]+=/ ||
			    $0 ~ /^# CONFIG_[A-Za-z0-9_]+ is not set$/)
				have[sym($0)] = $0
			next
		}
		/^[ \t]*$/ { next }
		/^# CONFIG_[A-Za-z0-9_]+ is not set$/ || /^CONFIG_[A-Za-z0-9_]+=[^ \t]/ {
			s = sym($0)
			if (!(s in want)) order[n++] = s
			want[s] = $0
			next
		}
		/^#/ { next }
		{ printf "debug-kernel: %s:%d: not a Kconfig line: %s\n", FILENAME, FNR, $0
		  bad++ }
		END {
			for (i = 0; i < n; i++) {
				s = order[i]
				w = want[s]
				got = (s in have) ? have[s] : ""
				if (got == w || (got == "" && w ~ / is not set$/))
					continue
				printf "debug-kernel: DROPPED: %s (final .config: %s)\n", w,
					got != "" ? got : "absent"
				bad++
			}
			exit bad ? 1 : 0
		}' "${frags[@]}" "$tree/.config" ||
		die "the final .config does not hold the fragment (lines above); fix the fragment's dependencies"
	say "configuration verified: every fragment line holds"

	# ------------------------------------------------------------- build
	jobs=$(nproc)
	say "make -j$jobs bzImage modules_prepare (nice 10; log: $log)"
	start=$(date +%s)
	(cd "$tree" && nice -n 10 make -j"$jobs" bzImage modules_prepare) \
		>>"$log" 2>&1 || fail "kernel build failed"
	say "make modules (Module.symvers)"
	(cd "$tree" && nice -n 10 make -j"$jobs" modules) >>"$log" 2>&1 ||
		fail "make modules failed"
	say "built in $(( $(date +%s) - start )) s"

	for f in arch/x86/boot/bzImage vmlinux Module.symvers scripts/mod/modpost \
		 include/generated/autoconf.h; do
		[ -s "$tree/$f" ] || fail "build produced no $f"
	done
	cp "$tree/arch/x86/boot/bzImage" "$tmp/bzImage"

	# Keep what out-of-tree modules (make -C linux M=...) and reading reports
	# need: the configured sources and headers, the host tools (scripts/,
	# tools/objtool), Module.symvers, and vmlinux + System.map (symbols and
	# line numbers for scripts/decode_stacktrace.sh). The objects and archives
	# of the kernel proper and the link's intermediate images are only build
	# products: drop them.
	say "pruning build products ($(du -sh "$tree" | cut -f1) before)"
	find "$tree" \( -path "$tree/scripts" -o -path "$tree/tools" \) -prune -o \
		-type f \( -name '*.o' -o -name '*.a' -o -name '.tmp_vmlinux*' \
		-o -name '*.ko' \) -print0 | xargs -0 rm -f
	rm -f "$tree/arch/x86/boot/compressed/vmlinux" \
		"$tree/arch/x86/boot/compressed/vmlinux.bin"* \
		"$tree/arch/x86/boot/vmlinux.bin" "$tree/vmlinux.unstripped"
	say "pruned: $(du -sh "$tree" | cut -f1) left"
	cp "$tree/.config" "$tmp/config"
	chmod 755 "$tmp"
	date -u +%FT%TZ >"$tmp/complete"

	# Atomic: the final name appears only with a complete build behind it.
	mv -T "$tmp" "$final"
	trap - EXIT
	rm -f "$cache/kernel-$flavor-failed.log"
	prune all
	say "ready: $final"
	result
}

main "$@"
exit $?
