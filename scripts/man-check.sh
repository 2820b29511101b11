#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Check the man pages in man/:
#  1. every page is clean under `mandoc -Tlint -W$MAN_LINT_LEVEL` (default
#     style, the strictest level: any message, even a style hint, fails),
#     and under `groff -ww` when groff is there, and its .TH names the
#     file (kup_open.3: ".TH KUP_OPEN 3");
#  2. every link is one line ".so manN/page.N" whose page exists, is not a
#     link itself, has the link's section, and names the link's function
#     in its NAME section (links are not linted: mandoc calls every .so
#     "fragile", which is what a link is);
#  3. every public function of lib/kup.h and lib/kernproxy.h
#     (KUPLIB_INLINE or KUPLIB_HOT, not kupi_*) has man/NAME.3, and every function of the kernel API in
#     include/linux/kup.h has man/NAME.9, page or link, whose NAME
#     section names it;
#  4. every kup page a page refers to (".BR kup_send (3)") exists.
# Installs mandoc with apt-get when it is missing (Debian 12).
# Exit 0 when all is clean, 1 otherwise, listing every problem.
#
# usage: scripts/man-check.sh [TREE]    (default: this script's tree)
set -u
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
level=${MAN_LINT_LEVEL:-style}
man=$top/man
lib=$top/lib/kup.h
kernproxy=$top/lib/kernproxy.h
kapi=$top/include/linux/kup.h
fail=0

problem() {
	echo "man-check: $*" >&2
	fail=1
}

if ! command -v mandoc >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		echo "man-check: mandoc is missing; as root: apt-get install mandoc" >&2
		exit 1
	fi
	apt-get install -y -qq --no-install-recommends mandoc >/dev/null ||
		{ apt-get update -qq && apt-get install -y -qq \
			--no-install-recommends mandoc >/dev/null; } ||
		{ echo "man-check: cannot install mandoc" >&2; exit 1; }
fi

# A link: a file whose first line is a .so request.
is_link() {
	head -n 1 "$1" | grep -q '^\.so '
}

# The names in the NAME section of page $1.
names_of() {
	awk '/^\.SH /{ if (in_name) exit; in_name = ($2 == "NAME") ; next }
	     in_name' "$1" | sed 's/\\-.*//' | tr -s ', ' '\n' | grep -v '^$'
}

# The page a name resolves to, following one link: file or empty.
resolve() {
	local f=$man/$1 t
	[ -f "$f" ] || return 0
	if is_link "$f"; then
		t=$(sed -n '1s/^\.so man[0-9]\///p' "$f")
		[ -n "$t" ] && [ -f "$man/$t" ] && echo "$man/$t"
	else
		echo "$f"
	fi
}

pages=0 links=0
shopt -s nullglob
files=("$man"/*.[1-9])
[ ${#files[@]} -gt 0 ] || problem "no pages in $man"
for f in "${files[@]}"; do
	base=${f##*/}
	sec=${base##*.}
	if is_link "$f"; then
		links=$((links + 1))
		if [ "$(wc -l < "$f")" != 1 ]; then
			problem "$base: a link must be one line"
			continue
		fi
		target=$(sed -n 's/^\.so \(man[1-9]\/[^ ]*\)$/\1/p' "$f")
		if [ -z "$target" ]; then
			problem "$base: not \".so manN/page.N\": $(cat "$f")"
			continue
		fi
		tsec=${target%%/*}
		tsec=${tsec#man}
		tfile=${target#*/}
		if [ "$tsec" != "${tfile##*.}" ] || [ "$tsec" != "$sec" ]; then
			problem "$base: $target is not in section $sec"
		elif [ ! -f "$man/$tfile" ]; then
			problem "$base: $target does not exist"
		elif is_link "$man/$tfile"; then
			problem "$base: $target is a link itself"
		elif ! names_of "$man/$tfile" | grep -qx "${base%.*}"; then
			problem "$base: NAME of $target does not name ${base%.*}"
		fi
		continue
	fi
	pages=$((pages + 1))
	out=$(cd "$man" && mandoc -Tlint -W"$level" "$base" 2>&1)
	rc=$?
	if [ $rc != 0 ] || [ -n "$out" ]; then
		problem "$base: mandoc -Tlint -W$level (exit $rc):"
		[ -n "$out" ] && echo "$out" >&2
	fi
	if command -v groff >/dev/null; then
		out=$(groff -t -ww -man -Tutf8 -z "$f" 2>&1)
		[ -z "$out" ] || problem "$base: groff -ww: $out"
	fi
	th=$(sed -n 's/^\.TH \([^ ]*\) \([^ ]*\) .*/\1 \2/p' "$f" | head -n 1)
	want="$(echo "${base%.*}" | tr '[:lower:]' '[:upper:]') $sec"
	[ "$th" = "$want" ] || problem "$base: .TH \"$th\", want \"$want\""
done

# Every public function must have a page or a link naming it.
need() {	# name section header
	local p
	p=$(resolve "$1.$2")
	if [ -z "$p" ]; then
		problem "$1() of $3 has no man/$1.$2"
	elif ! names_of "$p" | grep -qx "$1"; then
		problem "$1() of $3: NAME of ${p##*/} does not name it"
	fi
}

# The first name followed by '(' on each line: the function's.
first_call() {
	awk 'match($0, /[A-Za-z_][A-Za-z0-9_]*\(/) {
		print substr($0, RSTART, RLENGTH - 1) }'
}

nlib=0
for fn in $(grep -hE '^KUPLIB_(INLINE|HOT)[[:space:]]' "$lib" "$kernproxy" |
	    first_call | grep -v '^kupi_' | sort -u); do
	nlib=$((nlib + 1))
	need "$fn" 3 lib/
done
[ $nlib -gt 0 ] || problem "no public function found in lib/kup.h"

nkapi=0
for fn in $(grep -E '^[a-z]' "$kapi" | grep -v '^typedef' | first_call |
	    grep -E '^(kup|kupdev)_' | sort -u); do
	nkapi=$((nkapi + 1))
	need "$fn" 9 include/linux/kup.h
done
[ $nkapi -gt 0 ] || problem "no function found in include/linux/kup.h"

# References to kup pages must resolve.
for f in "${files[@]}"; do
	is_link "$f" && continue
	while read -r ref; do
		[ -f "$man/$ref" ] || problem "${f##*/}: refers to missing $ref"
	done < <(grep -hoE '^\.(B|BR|IR|RB) +(kup|kupdev|kernproxy)[a-z0-9_]* \([1-9]\)' "$f" |
		 sed -E 's/^\.[A-Z]+ +//; s/ \(([1-9])\)/.\1/' | sort -u)
done

echo "man-check: $pages pages, $links links, $nlib library and $nkapi kernel functions"
[ $fail = 0 ] && echo "man-check: OK" || echo "man-check: FAILED" >&2
exit $fail
