#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The closing lines of make check: one per guest kernel (the selftest
# totals, the kselftest runner's programs that passed, and the guest's
# verdict: console, taint, pins), then the total.
# Exit 1 if any kernel failed or has no result.
#
# usage: summary.sh BUILD KERNEL...
build=$1
shift
rc=0 tp=0 tf=0 ts=0
echo
for k in "$@"; do
	log=$build/console-tests-$k.log
	verdict=$(cat "$build/verdict-tests-$k" 2>/dev/null || echo "NO RUN")
	line=$(tr -d '\r' <"$log" 2>/dev/null | grep -a '^KUP-SUMMARY: ' |
	       tail -n 1)
	line=${line#KUP-SUMMARY: selftests: }
	if [ -z "$line" ]; then
		echo "$k: no selftest summary, guest $verdict"
		rc=1
		continue
	fi
	# The kselftest runner's line per program: "ok N selftests: kup:
	# NAME", "# SKIP" or "not ok" when it did not pass.
	progs=$(tr -d '\r' <"$log" | grep -acE 'ok [0-9]+ selftests: kup: ')
	pok=$(tr -d '\r' <"$log" | grep -aE 'ok [0-9]+ selftests: kup: ' |
	      grep -avcE 'not ok|# SKIP')
	echo "$k: $line ($pok/$progs programs ok), guest $verdict"
	set -- $line
	tp=$((tp + $1)) tf=$((tf + $3)) ts=$((ts + $5))
	[ "$verdict" = PASS ] && [ "$pok" = "$progs" ] || rc=1
done
echo "total: $tp passed, $tf failed, $ts skipped$([ $rc = 0 ] || echo ', FAILED')"
exit $rc
