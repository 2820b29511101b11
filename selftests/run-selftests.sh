#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run kup's selftests (kselftest harness binaries) from DIR and print one
# closing line: "selftests: N passed, N failed, N skipped".
# Exit 0 if nothing failed, 4 (kselftest SKIP) if kup is not available
# here (not root, or no /dev/kup_echo), 1 otherwise.
dir=${1:-$(dirname "$0")}

if [ "$(id -u)" != 0 ]; then
	echo "# SKIP: kup selftests need root"
	exit 4
fi
if [ ! -e /dev/kup_echo ]; then
	echo "# SKIP: /dev/kup_echo missing: load kup.ko and kup_echo.ko"
	exit 4
fi

pass=0 fail=0 skip=0
for path in "$dir"/kup_*_test; do
	t=$(basename "$path")
	echo "# selftest: $t"
	out=$("$path" 2>&1)
	rc=$?
	echo "$out"
	totals=$(echo "$out" | grep '^# Totals:' | tail -n 1)
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
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "# $t: exit code $rc"
		fail=$((fail + 1))
	fi
done
echo "KUP-SUMMARY: selftests: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
