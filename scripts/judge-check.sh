#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prove the guest judge: each planted fault must turn a run red, for the
# right reason. usage: judge-check.sh IMAGE MODDIRS BINDIR OUTDIR KERNEL
#   plant-redzone  one byte written past a kmalloc(64) object: slub's (or
#                  KASAN's) report on the console, and the taint;
#   plant-pin      a page pinned and never unpinned: the pin counters;
#   plant-skip     a selftest that skips: the runner's verdict;
#   plant-timeout  a selftest program that hangs: the kselftest runner's
#                  timeout (settings) and the verdict.
set -u
image=$1 moddirs=$2 bindir=$3 outdir=$4 kernel=$5
top=$(cd "$(dirname "$0")/.." && pwd)
rc=0
for plant in redzone:'Redzone|KASAN:' pin:'leaked [0-9]+ pinned' \
	     skip:'skipped: every prerequisite' \
	     timeout:'kup_hang_test # TIMEOUT 5 seconds'; do
	mode=plant-${plant%%:*} want=${plant#*:}
	log=$outdir/console-$mode-$kernel.log
	if bash "$top/scripts/qemu-run.sh" "$mode" "$image" "$moddirs" \
		"$bindir" "$outdir" 300 "$kernel" >/dev/null 2>&1; then
		echo "judge-check: $mode passed: the judge missed it"
		rc=1
	elif ! tr -d '\r' <"$log" | grep -qE "$want"; then
		echo "judge-check: $mode failed, but not for '$want' (see $log)"
		rc=1
	else
		echo "judge-check: $mode turned the run red ($want)"
	fi
done
exit $rc
