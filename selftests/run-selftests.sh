#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run kup's selftests (kselftest harness binaries) from DIR: the ones
# named in DIR/selftests.list, in that order (a missing binary fails),
# else every DIR/kup_*_test. Their output streams through as it comes, so
# a hang shows where it hung. The last line is the total:
# "selftests: N passed, N failed, N skipped".
#
# Exit 0 if nothing failed, 4 (kselftest SKIP) if kup is not available
# here (not root, or no /dev/kup_echo), 1 otherwise. With
# KUP_FAIL_ON_SKIP=1 (the guest, where every prerequisite exists), a
# skipped test is a failure: a claim that was not tested.
dir=${1:-$(dirname "$0")}
tmp=${TMPDIR:-/tmp}/kup-selftests.$$

if [ "$(id -u)" != 0 ]; then
	echo "# SKIP: kup selftests need root"
	exit 4
fi
if [ ! -e /dev/kup_echo ]; then
	echo "# SKIP: /dev/kup_echo missing: load kup.ko and kup_echo.ko"
	exit 4
fi

if [ -f "$dir/selftests.list" ]; then
	tests=$(cat "$dir/selftests.list")
else
	tests=$(cd "$dir" && ls kup_*_test)
fi

mkdir -p "$tmp"
pass=0 fail=0 skip=0
for t in $tests; do
	path=$dir/$t
	echo "# selftest: $t"
	if [ ! -x "$path" ]; then
		echo "# $t: missing"
		fail=$((fail + 1))
		continue
	fi
	# The harness bounds each test; this bounds the whole binary.
	{ timeout 3600 "$path" 2>&1; echo $? >"$tmp/rc"; } | tee "$tmp/out"
	rc=$(cat "$tmp/rc")
	totals=$(grep '^# Totals:' "$tmp/out" | tail -n 1)
	if [ -z "$totals" ]; then
		echo "# $t: no totals (exit $rc)"
		fail=$((fail + 1))
		continue
	fi
	# "# Totals: pass:N fail:N xfail:N xpass:N skip:N error:N"
	p=$(echo "$totals" | sed -n 's/.* pass:\([0-9]*\).*/\1/p')
	f=$(echo "$totals" | sed -n 's/.* fail:\([0-9]*\).*/\1/p')
	s=$(echo "$totals" | sed -n 's/.* skip:\([0-9]*\).*/\1/p')
	e=$(echo "$totals" | sed -n 's/.* error:\([0-9]*\).*/\1/p')
	pass=$((pass + p))
	fail=$((fail + f + ${e:-0}))
	skip=$((skip + s))
	if [ "$rc" != 0 ] && [ "$rc" != 4 ] && [ "$f" = 0 ]; then
		echo "# $t: exit code $rc"
		fail=$((fail + 1))
	fi
	if [ "${KUP_FAIL_ON_SKIP:-0}" = 1 ] && [ "$s" != 0 ]; then
		echo "# $t: $s skipped: every prerequisite exists here"
		grep -E '^(ok|not ok) .*# SKIP' "$tmp/out"
	fi
done
rm -rf "$tmp"
echo "KUP-SUMMARY: selftests: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ] || exit 1
if [ "${KUP_FAIL_ON_SKIP:-0}" = 1 ] && [ "$skip" != 0 ]; then
	exit 1
fi
exit 0
