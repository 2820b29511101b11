#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot Debian's kernel under QEMU (software emulation, PVH vmlinux) with an
# initramfs holding busybox, kup's modules and the programs in BINDIR, run
# MODE (tests, demo, bench or profile) and judge the run:
#   - the guest must print "KUP-RESULT: PASS" and leave through
#     isa-debug-exit with 0 (QEMU exit code 1);
#   - the console must hold no WARNING:, BUG:, Oops, general protection,
#     lockdep, KASAN, UBSAN, soft lockup, hung task or panic report
#     (the guest boots with panic_on_warn=1 oops=panic).
# The console log is kept in OUTDIR/console-MODE.log.
#
# usage: qemu-run.sh MODE VMLINUX MODDIR BINDIR OUTDIR [TIMEOUT_S]
set -euo pipefail

mode=$1 vmlinux=$2 moddir=$3 bindir=$4 outdir=$5 limit=${6:-900}
top=$(cd "$(dirname "$0")/.." && pwd)
log=$outdir/console-$mode.log

root=$(mktemp -d /tmp/kup-initramfs.XXXXXX)
case "$root" in /tmp/kup-initramfs.*) ;; *) exit 1 ;; esac
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,kup/bin}
cp /bin/busybox "$root/bin/busybox"
cp "$top/scripts/guest-init.sh" "$root/init"
chmod 755 "$root/init"
cp "$moddir"/kup.ko "$moddir"/kup_echo.ko "$moddir"/kup_rot13.ko \
	"$moddir"/kup_bench.ko "$root/kup/"
cp -r "$bindir"/. "$root/kup/bin/"
echo "$mode" >"$root/kup/mode"
if [ "$mode" = profile ]; then
	# The host's perf and its libraries (same ABI: Debian 12 both sides).
	perf=$(command -v perf)
	mkdir -p "$root/kup/perf" "$root/lib64"
	cp "$(readlink -f "$perf")" "$root/kup/perf/perf"
	ldd "$perf" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
		while read -r lib; do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
fi
mkdir -p "$outdir"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) \
	>"$outdir/initramfs-$mode.cpio.gz"

echo "qemu: booting $(basename "$vmlinux") for '$mode' (log: $log)"
set +e
timeout --foreground -k 10 "$limit" qemu-system-x86_64 \
	-accel tcg,thread=multi -cpu max -smp 2 -m 1G \
	-nodefaults -no-reboot -display none -serial stdio \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-kernel "$vmlinux" -initrd "$outdir/initramfs-$mode.cpio.gz" \
	-append "console=ttyS0 quiet loglevel=4 panic=-1 oops=panic panic_on_warn=1 softlockup_panic=1 slub_debug=FZPU init_on_free=1" \
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
bad='WARNING:|BUG:|Oops|general protection|lockdep|KASAN|UBSAN|soft lockup|hung_task|blocked for more than|Kernel panic|Call Trace'
# Lines the guest's own scripts print (KUP-...) are not kernel reports.
if grep -aE "$bad" "$log" | grep -qv '^KUP-'; then
	echo "qemu: kernel splat on the console:"
	grep -aE "$bad" "$log" | grep -v '^KUP-' | head -n 20
	verdict=1
fi
[ "$verdict" = 0 ] && echo "qemu: '$mode' passed" || echo "qemu: '$mode' FAILED"
exit "$verdict"
