#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a guest kernel under QEMU (software emulation) with an initramfs
# holding busybox, kup's modules and the programs in BINDIR, run MODE
# (tests, demo, bench, profile, or a judge self-test: plant-*) and judge
# the run. It passes only if
#   - the guest printed "KUP-RESULT: PASS" and left through isa-debug-exit
#     with 0 (QEMU exit code 1), within TIMEOUT_S seconds;
#   - the console holds no kernel report: WARNING, BUG (including slub's
#     "BUG kmalloc-64 (...): Right Redzone overwritten"), Oops, KASAN,
#     UBSAN, KCSAN, kmemleak, lockdep, RCU stall, soft lockup, hung task,
#     list corruption, refcount, panic; the guest boots with
#     panic_on_warn=1 oops=panic and without "quiet", so that every report
#     and its stack reach the console;
#   - the guest's taint flags, checked at the end of the run, are clean but
#     for the out-of-tree and unsigned-module bits (guest-init.sh).
# The console log is kept in OUTDIR/console-MODE-KERNEL.log.
#
# usage: qemu-run.sh MODE IMAGE MODDIR BINDIR OUTDIR [TIMEOUT_S [KERNEL]]
#   IMAGE: a vmlinux (PVH boot) or a bzImage
#   MODDIR: the directory of the modules, or several separated by ':'
set -euo pipefail

mode=$1 image=$2 moddir=$3 bindir=$4 outdir=$5 limit=${6:-900}
kernel=${7:-guest}
top=$(cd "$(dirname "$0")/.." && pwd)
log=$outdir/console-$mode-$kernel.log

root=$(mktemp -d /tmp/kup-initramfs.XXXXXX)
case "$root" in /tmp/kup-initramfs.*) ;; *) exit 1 ;; esac
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,kup/bin}
cp /bin/busybox "$root/bin/busybox"
cp "$top/scripts/guest-init.sh" "$root/init"
chmod 755 "$root/init"
IFS=: read -ra moddirs <<<"$moddir"
for d in "${moddirs[@]}"; do
	cp "$d"/*.ko "$root/kup/"
done
cp -r "$bindir"/. "$root/kup/bin/"
echo "$mode" >"$root/kup/mode"
# The lane: the debug kernels' guest must find their checkers (kmemleak,
# fault injection) and fails without them (guest-init.sh).
echo "$kernel" >"$root/kup/kernel"
# host_prog PROG DEST: the host's program PROG at DEST in the guest, with
# its libraries (same ABI: Debian 12 both sides).
host_prog() {
	mkdir -p "$root$(dirname "$2")" "$root/lib64"
	cp "$(readlink -f "$1")" "$root$2"
	ldd "$1" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
		while read -r lib; do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
}
# What the kernel's kselftest runner (kselftest/runner.sh) needs beyond
# busybox: /usr/bin/timeout with --foreground and exit code 124
# (coreutils': busybox's has neither), and /usr/bin/perl with the modules
# of kselftest/prefix.pl (#!/usr/bin/env perl), which prefixes the tests'
# output unbuffered (without perl the runner falls back to sed, which
# holds a test's output until it ends).
host_prog /usr/bin/timeout /usr/bin/timeout
host_prog /usr/bin/perl /usr/bin/perl
ln -s /bin/busybox "$root/usr/bin/env"
perl -Mstrict -MIO::Handle -e \
	'print "$_\n" for values %INC, @DynaLoader::dl_shared_objects' |
	while read -r f; do
		mkdir -p "$root$(dirname "$f")"
		cp "$f" "$root$f"
	done
if [ "$mode" = profile ]; then
	host_prog "$(command -v perf)" /kup/perf/perf
fi
mkdir -p "$outdir"
rm -f "$outdir/verdict-$mode-$kernel"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) \
	>"$outdir/initramfs-$mode-$kernel.cpio.gz"

# Debian's kernels: slub's own checks catch what they can. The debug
# kernels (scripts/debug-kernel.sh) boot from their bzImage; KASAN does
# slub's job there, better, and the pointers in its reports stay
# readable. Every kernel stops at its first warning or report.
cmdline="console=ttyS0 printk.time=1 panic=-1 oops=panic panic_on_warn=1"
cmdline="$cmdline softlockup_panic=1"
case "$kernel" in
debug) cmdline="$cmdline no_hash_pointers" ;;
# KCSAN also reports races of the core kernel that have nothing to do with
# kup: it must not stop at them (the judge below sorts them out).
kcsan) cmdline="${cmdline/ panic_on_warn=1/} no_hash_pointers" ;;
*) cmdline="$cmdline slub_debug=FZPU init_on_free=1" ;;
esac

echo "qemu: booting $(basename "$image") for '$mode' (log: $log)"
set +e
timeout --foreground -k 10 "$limit" qemu-system-x86_64 \
	-accel tcg,thread=multi -cpu max -smp 2 -m 1G \
	-nodefaults -no-reboot -display none -serial stdio \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-kernel "$image" -initrd "$outdir/initramfs-$mode-$kernel.cpio.gz" \
	-append "$cmdline ${KUP_GUEST_CMDLINE:-}" \
	</dev/null 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

verdict=0
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "qemu: TIMEOUT after ${limit}s"
	verdict=1
elif [ "$rc" != 1 ]; then
	echo "qemu: guest did not pass (exit code $rc)"
	verdict=1
fi
if ! grep -q '^KUP-RESULT: PASS' "$log"; then
	echo "qemu: no KUP-RESULT: PASS line"
	verdict=1
fi
bad='WARNING:|BUG:|BUG |Oops|general protection|KASAN:|UBSAN:|KCSAN:'
bad="$bad|suspected memory leak|unreferenced object|soft lockup|hung_task"
bad="$bad|blocked for more than|Kernel panic|Call Trace|Redzone|Poison overwritten"
bad="$bad|Object padding|Freepointer|detected stall|list_add corruption"
bad="$bad|list_del corruption|refcount_t|double free|use-after-free in"
bad="$bad|out-of-bounds|invalid opcode|Unable to handle|scheduling while atomic"
bad="$bad|sleeping function called|possible recursive|circular locking"
bad="$bad|inconsistent lock|lock held|bad page|INFO: |stack-protector"
bad="$bad|segfault at|Tainted:"
# Kernel lines carry a timestamp (printk.time=1); only they are judged, so
# what a test prints cannot hide a report. A kernel line may start in the
# middle of a test's line (the kselftest runner prefixes the tests' output
# a character at a time): it is judged from its timestamp on.
klines() {
	tr -d '\r' <"$log" | grep -aoE '\[ *[0-9]+\.[0-9]+\].*' | kcsan_filter
}
# On the KCSAN kernel, a KCSAN report (from one "=====" line to the next)
# none of whose frames is in a kup module is the core kernel's: listed in
# $outdir/kcsan-other-KERNEL.txt, not judged. Any other report stays.
kcsan_filter() {
	if [ "$kernel" != kcsan ]; then
		cat
		return
	fi
	awk -v other="$outdir/kcsan-other-$kernel.txt" '
	function flush() {
		if (n && !(blk ~ /BUG: KCSAN:/ && blk !~ /\[kup[a-z0-9_]*\]/))
			printf "%s", blk
		else if (n)
			print title >>other
		blk = ""; n = 0; title = ""
	}
	/\] =+$/ {
		if (n) { blk = blk $0 "\n"; flush(); inblk = 0; next }
		inblk = 1; blk = $0 "\n"; n = 1; next
	}
	inblk {
		blk = blk $0 "\n"
		if ($0 ~ /BUG: KCSAN:/) title = $0
		next
	}
	{ print }
	END { flush() }'
}
rm -f "$outdir/kcsan-other-$kernel.txt"
if klines | grep -qaE "$bad"; then
	echo "qemu: kernel report on the console:"
	klines | grep -aE -A 3 "$bad" | head -n 40
	verdict=1
fi
if [ -s "$outdir/kcsan-other-$kernel.txt" ]; then
	sort -u -o "$outdir/kcsan-other-$kernel.txt" \
		"$outdir/kcsan-other-$kernel.txt"
	echo "qemu: KCSAN reports outside kup, not judged:"
	sed 's/^/qemu:   /' "$outdir/kcsan-other-$kernel.txt"
fi
if [ "$verdict" = 0 ]; then
	echo "qemu: '$mode' on $kernel passed"
	echo PASS >"$outdir/verdict-$mode-$kernel"
else
	echo "qemu: '$mode' on $kernel FAILED"
	echo FAIL >"$outdir/verdict-$mode-$kernel"
fi
exit "$verdict"
