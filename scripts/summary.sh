#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Print the selftest totals of a guest console log as a clean closing line.
line=$(tr -d '\r' <"$1" | grep -a '^KUP-SUMMARY: ' | tail -n 1)
[ -n "$line" ] || { echo "no selftest summary in $1" >&2; exit 1; }
echo
echo "${line#KUP-SUMMARY: }"
