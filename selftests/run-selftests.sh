#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run kup's selftests with the kernel's kselftest runner and judge them.
# Installed next to run_kselftest.sh (scripts/ksft-build.sh): DIR is this
# script's directory, the tests are in DIR/kup.
#
#   run-selftests.sh TEST...   the guest: these programs, in this order,
#                              through kselftest/runner.sh (run_many, as
#                              run_kselftest.sh does; a program missing is
#                              a failure). KUP_FAIL_ON_SKIP=1: a skip fails.
#   run-selftests.sh --host    a host (make kselftest): loads the installed
#                              modules with modprobe (and unloads what it
#                              loaded), runs run_kselftest.sh -c kup.
#
# The runner prints TAP: one "ok N selftests: kup: TEST" line per program
# ("# SKIP" for exit 4, "# TIMEOUT" past settings' timeout), each
# program's own TAP nested under "# ". Their output streams through as it
# comes, so a hang shows where it hung. The last line is the total of the
# tests inside the programs: "KUP-SUMMARY: selftests: N passed, N failed,
# N skipped". Exit 0 if nothing failed, 4 (kselftest SKIP) if everything
# skipped, 1 otherwise.
dir=$(cd "$(dirname "$0")" && pwd)
out=${TMPDIR:-/tmp}/kup-selftests.$$
host=0
if [ "$1" = --host ]; then
	host=1
	shift
fi

loaded=""
# modprobe NAME [ARGS]: the installed module, unless it is loaded already.
load() {
	m=$1
	shift
	[ -d "/sys/module/$m" ] && return 0
	if modprobe "$m" "$@" 2>/dev/null; then
		loaded="$m $loaded"
	else
		echo "# $m: not installed (modprobe $m failed): its tests skip" >&2
	fi
}

if [ $host = 1 ]; then
	tests=$(sed -n 's/^kup://p' "$dir/kselftest-list.txt")
	if [ "$(id -u)" = 0 ]; then
		# kup_ktest (kup_kapi_test) is built with make KUP_TESTS=m only,
		# and never installed by dkms: that test skips without it.
		load kup
		load kup_echo test_commands=1
		load kup_rot13
		load kup_ktest
		grep -qs ' debugfs ' /proc/mounts ||
			mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null ||
			echo "# no debugfs: the tests that need it skip" >&2
		# The reload tests insmod the installed files.
		KUP_ECHO_KO=$(modinfo -n kup_echo 2>/dev/null)
		KUP_ROT13_KO=$(modinfo -n kup_rot13 2>/dev/null)
		export KUP_ECHO_KO KUP_ROT13_KO
	fi
else
	tests=$*
fi

why=""
if [ $host = 1 ] && [ "$(id -u)" != 0 ]; then
	why="not root"
elif [ $host = 1 ] && [ ! -e /dev/kup_echo ]; then
	why="no /dev/kup_echo: kup and kup_echo not installed (make dkms-install)"
elif [ $host = 1 ] &&
     [ "$(cat /sys/module/kup_echo/parameters/test_commands)" != Y ]; then
	# The tests command the echo client: it must obey them.
	why="kup_echo is loaded without test_commands=1 (modprobe -r kup_echo)"
fi
if [ -n "$why" ]; then
	# Valid TAP, as the runner prints it for programs that exit 4.
	{
		echo "TAP version 13"
		echo "1..$(echo "$tests" | wc -w)"
		echo "# $why"
		n=0
		for t in $tests; do
			n=$((n + 1))
			echo "ok $n selftests: kup: $t # SKIP"
		done
	} >"$out"
	cat "$out"
elif [ $host = 1 ]; then
	"$dir/run_kselftest.sh" -c kup 2>&1 | tee "$out"
else
	(
		cd "$dir/kup" || exit 1
		# shellcheck disable=SC2034 # read by runner.sh
		BASE_DIR=$dir
		# shellcheck source=/dev/null
		. "$dir/kselftest/runner.sh"
		# shellcheck disable=SC2086
		run_many $tests
	) 2>&1 | tee "$out"
fi
for m in $loaded; do
	modprobe -r "$m" || echo "# modprobe -r $m failed"
done

# Judge each program from its runner line and its harness's totals
# ("# Totals: pass:N fail:N xfail:N xpass:N skip:N error:N", nested).
# A program with no result line, no totals, or a failing exit while its
# totals show no failure counts as one failure; a program that skipped
# whole (exit 4, before its harness ran) as one skip.
awk -v tests="$tests" -v noskip="${KUP_FAIL_ON_SKIP:-0}" '
function val(s, k,    r) {
	r = s
	if (!sub(".* " k ":", "", r))
		return 0
	sub(/ .*/, "", r)
	return r + 0
}
BEGIN {
	n = split(tests, want, " ")
}
/^# selftests: kup: / {
	t = $4; totals = ""; skipped = ""
	next
}
/^# # Totals: / {
	totals = $0
	next
}
/^# (not )?ok .*# SKIP/ {
	skipped = skipped "\n" $0
	next
}
/^(not )?ok [0-9]+ selftests: kup: / {
	t = $0
	sub(/^.* selftests: kup: /, "", t)
	sub(/ .*/, "", t)
	seen[t] = 1
	status = $0
	sub(/^[^#]*/, "", status)
	p = val(totals, "pass"); f = val(totals, "fail")
	s = val(totals, "skip"); e = val(totals, "error")
	if (totals == "" && status == "# SKIP") {
		s = 1
	} else if (totals == "") {
		print "# " t ": no totals: " $0
		f = 1
	} else if ($1 == "not" && f + e == 0) {
		print "# " t ": failed: " $0
		f = 1
	}
	pass += p; fail += f + e; skip += s
	if (noskip == 1 && s != 0) {
		print "# " t ": " s " skipped: every prerequisite exists here" \
			skipped
	}
	totals = ""; skipped = ""
}
END {
	for (i = 1; i <= n; i++) {
		if (!(want[i] in seen)) {
			print "# " want[i] ": no result from the runner"
			fail++
		}
	}
	printf "KUP-SUMMARY: selftests: %d passed, %d failed, %d skipped\n", \
		pass, fail, skip
	exit fail ? 1 : (noskip == 1 && skip) ? 1 : (skip && !pass) ? 4 : 0
}' "$out"
rc=$?
rm -f "$out"
exit $rc
