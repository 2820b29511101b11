#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the kup test guest (busybox). Loads the modules, runs what
# /kup/mode names, unloads the modules, checks that no pinned page leaked
# and that the kernel is not tainted, prints one KUP-RESULT line and
# leaves QEMU through isa-debug-exit.

/bin/busybox --install -s /bin
# /usr/bin: coreutils' timeout and perl, for the kselftest runner
# (qemu-run.sh).
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# devtmpfs has no /dev/stdout: the kselftest runner writes to it.
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmp /tmp
ulimit -l 65536

result=PASS
fail() {
	echo "KUP-GUEST: FAIL: $*"
	result=FAIL
}

vmstat() {
	awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat
}

mode=$(cat /kup/mode)
kernel=$(cat /kup/kernel 2>/dev/null)
echo "KUP-GUEST: booted $(uname -r), $(nproc) CPUs, mode $mode"

# kmemleak (the debug kernels): scan twice (an object is reported only
# once it has stayed unreferenced through a whole scan), then fail on any
# report, printing it. kmemleak prints its own count on the console too.
kmemleak=/sys/kernel/debug/kmemleak
kmemleak_check() {
	echo scan >$kmemleak
	sleep 6		# kmemleak reports objects older than 5 s only
	echo scan >$kmemleak
	if grep -q 'unreferenced object' $kmemleak; then
		sed "s/^/KUP-GUEST: kmemleak ($1): /" $kmemleak
		fail "kmemleak reports $1"
	else
		echo "KUP-GUEST: kmemleak ($1): nothing"
	fi
}
case "$kernel" in
debug | kcsan)
	# Every access checked: the volume tests move a tenth (kup_test.h).
	export KUP_TEST_DIVISOR=10
	# Their checkers must be there: a lane without them proves nothing.
	for f in $kmemleak /sys/kernel/debug/failslab \
		/sys/kernel/debug/fail_page_alloc /proc/self/fail-nth; do
		[ -e "$f" ] || fail "the $kernel kernel has no $f"
	done
	;;
esac
if [ -e $kmemleak ]; then
	# What boot left is not ours: scanned and forgotten.
	echo scan >$kmemleak
	echo clear >$kmemleak
fi
# Huge pages for the MAP_HUGETLB tests.
echo 8 >/proc/sys/vm/nr_hugepages
insmod /kup/kup.ko || fail "insmod kup"
# The echo client obeys the selftests' commands only when asked to.
insmod /kup/kup_echo.ko test_commands=1 || fail "insmod kup_echo"
for m in kup_rot13 kup_bench; do
	insmod /kup/$m.ko || fail "insmod $m"
done
# The test-only client of the kernel API (selftests/kmod): /dev/kup_ktest.
insmod /kup/kup_ktest.ko || fail "insmod kup_ktest"
lsmod | sed 's/^/KUP-GUEST: lsmod: /'
dmesg | grep -E 'kup' | sed 's/^/KUP-GUEST: dmesg: /'

export KUP_ECHO_KO=/kup/kup_echo.ko KUP_ROT13_KO=/kup/kup_rot13.ko
# Settings of the adversarial tests from the host (make FUZZ_SEED=N ...):
# known names with a value only, nothing evaluated.
if [ -f /kup/bin/test-env ]; then
	while IFS='=' read -r k v; do
		case "$k" in
		KUP_FUZZ_SEED | KUP_FUZZ_SECONDS | KUP_SOAK_SECONDS)
			[ -n "$v" ] || continue
			export "$k=$v"
			echo "KUP-GUEST: $k=$v"
			;;
		esac
	done </kup/bin/test-env
fi
# The selftests: the kselftest install (scripts/ksft-build.sh), run by the
# kernel's runner, the programs of selftests.list in its order.
ksft=/kup/bin/ksft
# The runner bounds each program by settings' timeout: a longer fuzz or
# soak run than the default raises it.
raise_timeout() {
	t=$(($1 * 2 + 900))
	cur=$(sed -n 's/^timeout=//p' $ksft/kup/settings)
	[ "$t" -le "$cur" ] || sed -i "s/^timeout=.*/timeout=$t/" $ksft/kup/settings
}
case "$mode" in
tests | fuzz | soak)
	[ -z "$KUP_FUZZ_SECONDS" ] || raise_timeout "$KUP_FUZZ_SECONDS"
	[ -z "$KUP_SOAK_SECONDS" ] || raise_timeout "$KUP_SOAK_SECONDS"
	# Every prerequisite exists here: a skipped test fails the run.
	# shellcheck disable=SC2046
	KUP_FAIL_ON_SKIP=1 $ksft/run-selftests.sh $(cat /kup/bin/selftests.list) ||
		fail "selftests"
	;;
demo)
	# shellcheck disable=SC2046
	/kup/bin/kup_demo $(cat /kup/bin/demo-args 2>/dev/null) || fail "demo"
	;;
bench)
	# What the numbers came from: the CPU model and the mitigations on.
	grep -m1 'model name' /proc/cpuinfo | sed 's/^/KUP-GUEST: /'
	grep . /sys/devices/system/cpu/vulnerabilities/* |
		sed 's|^.*/|KUP-GUEST: vulnerability |'
	# shellcheck disable=SC2046
	/kup/bin/kup_bench $(cat /kup/bin/bench-args 2>/dev/null) || fail "bench"
	;;
plant-redzone|plant-pin)
	# The judge's self-test (make judge-check): this run must fail.
	insmod /kup/kup_plant.ko plant=${mode#plant-}
	;;
plant-skip)
	KUP_PLANT=skip KUP_FAIL_ON_SKIP=1 $ksft/run-selftests.sh kup_judge_test ||
		fail "selftests"
	;;
plant-timeout)
	# A program that hangs past settings' timeout: the runner kills it.
	printf '#!/bin/sh\nexec sleep 600\n' >$ksft/kup/kup_hang_test
	chmod 755 $ksft/kup/kup_hang_test
	sed -i 's/^timeout=.*/timeout=5/' $ksft/kup/settings
	KUP_FAIL_ON_SKIP=1 $ksft/run-selftests.sh kup_judge_test kup_hang_test ||
		fail "selftests"
	;;
profile)
	# perf samples the whole guest (cpu-clock: no PMU under emulation)
	# while one benchmark method runs; the report goes to the console.
	echo 0 >/proc/sys/kernel/kptr_restrict
	echo -1 >/proc/sys/kernel/perf_event_paranoid
	# shellcheck disable=SC2046
	/kup/perf/perf record -q -a -g -e cpu-clock -F 2000 -o /tmp/perf.data \
		-- /kup/bin/kup_bench $(cat /kup/bin/bench-args) || fail "perf record"
	for sort in sym dso; do
		/kup/perf/perf report -i /tmp/perf.data --stdio --no-children \
			-g none --percent-limit 0.5 --sort "$sort" 2>/dev/null |
			grep -v '^$' | sed 's/^/KUP-PROFILE: /'
	done
	/kup/perf/perf report -i /tmp/perf.data --stdio --no-children \
		-g caller,0.5,callee --percent-limit 3 --sort sym 2>/dev/null |
		grep -v '^$' | head -n 400 | sed 's/^/KUP-PROFILE: /'
	# The hottest instructions (symbol+offset), for objdump on the host.
	/kup/perf/perf script -i /tmp/perf.data -F ip,sym,symoff -G 2>/dev/null |
		awk 'NF { n[$2]++; t++ } END { for (k in n) printf "%6.2f%% %s\n", 100 * n[k] / t, k }' |
		sort -rn | head -n 60 | sed 's/^/KUP-PROFILE: ip /'
	;;
*)
	fail "unknown mode $mode"
	;;
esac

# With the modules loaded, the frames of a report resolve to their code.
if [ -e $kmemleak ]; then
	kmemleak_check "after the tests"
	# To resolve the frames of a report made after the unload.
	for m in kup_ktest kup_bench kup_rot13 kup_echo kup; do
		echo "KUP-GUEST: $m .text $(cat /sys/module/$m/sections/.text)"
	done
fi
for m in kup_ktest kup_bench kup_rot13 kup_echo kup; do
	rmmod $m || fail "rmmod $m"
done
# What the modules left behind them at unload.
[ -e $kmemleak ] && kmemleak_check "after rmmod"

# Every page kup pinned must have been unpinned (freeing is deferred to
# an RCU grace period and a workqueue: allow it a bounded moment). The
# counters are batched per CPU: fold them before every read.
pins_balanced() {
	echo 1 >/proc/sys/vm/stat_refresh
	[ "$(vmstat nr_foll_pin_acquired)" = "$(vmstat nr_foll_pin_released)" ]
}
i=0
while ! pins_balanced && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
echo 1 >/proc/sys/vm/stat_refresh
acq=$(vmstat nr_foll_pin_acquired)
rel=$(vmstat nr_foll_pin_released)
echo "KUP-GUEST: pins acquired $acq released $rel"
[ "$acq" = "$rel" ] || fail "leaked $((acq - rel)) pinned pages"

# Any taint but out-of-tree (O, 4096) and unsigned (E, 8192) modules
# means the kernel reported something (W: a warning, B: a bad page, ...).
taint=$(cat /proc/sys/kernel/tainted)
echo "KUP-GUEST: tainted $taint"
[ $((taint & ~(4096 | 8192))) = 0 ] ||
	fail "kernel tainted: $taint (beyond out-of-tree/unsigned modules)"

echo "KUP-RESULT: $result"
# isa-debug-exit: QEMU exits with (value << 1) | 1.
if [ "$result" = PASS ]; then
	printf '\000' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
else
	printf '\001' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
fi
poweroff -f
