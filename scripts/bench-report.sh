#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Take the JSON that kup_bench printed on the guest console, keep it as
# OUTDIR/results.json, and plot it with gnuplot: latency percentiles of the
# round-trip methods (latency.svg) and pipelined throughput against depth
# (depth.svg).
#
# usage: bench-report.sh CONSOLE_LOG OUTDIR
set -euo pipefail
log=$1 out=$2
mkdir -p "$out"
tr -d '\r' <"$log" | sed -n '/^KUP-BENCH-JSON-BEGIN$/,/^KUP-BENCH-JSON-END$/p' |
	sed '1d;$d' >"$out/results.json"
[ -s "$out/results.json" ] || { echo "bench: no results in $log" >&2; exit 1; }
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out/results.json"

# Latency: 8-byte (or size-less) round trips, one bar group per method.
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
res = json.load(open(out + "/results.json"))["results"]
with open(out + "/latency.dat", "w") as f:
    f.write("method p50 p90 p99 p999\n")
    for r in res:
        if r["depth"] == 1 and r["channels"] == 1 and r["size"] in (0, 4, 8) \
           and r["method"] not in ("kup-pipe", "kup-pipe-serve", "memcpy",
                                   "pause"):
            f.write("%s %.0f %.0f %.0f %.0f\n" % (r["method"], r["p50_ns"],
                    r["p90_ns"], r["p99_ns"], r["p999_ns"]))
with open(out + "/depth.dat", "w") as f:
    f.write("depth 64B_1ch 64B_2ch 64KiB_1ch_MBs\n")
    for d in (1, 4, 16, 64):
        def get(size, ch, key):
            for r in res:
                if r["method"] == "kup-pipe" and r["size"] == size \
                   and r["depth"] == d and r["channels"] == ch:
                    return r[key]
            return float("nan")
        f.write("%d %.0f %.0f %.1f\n" % (d, get(64, 1, "msgs_per_s"),
                get(64, 2, "msgs_per_s"), get(65536, 1, "mb_per_s")))
PY

gnuplot <<EOT
set terminal svg size 900,500 dynamic font "sans,11"
set output "$out/latency.svg"
set title "Round-trip latency in the guest (ns, log scale; lower is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "ns"
set key top left
set xtics rotate by -30
plot "$out/latency.dat" using 2:xtic(1) title "p50", '' using 3 title "p90", \
     '' using 4 title "p99", '' using 5 title "p99.9"
set output "$out/depth.svg"
unset logscale y
set logscale x 2
set style data linespoints
set title "Pipelined kup channels: throughput against depth"
set xlabel "messages in flight per channel"
set ylabel "messages/s"
set y2label "MB/s (64 KiB messages)"
set y2tics
set ytics nomirror
set key top left
plot "$out/depth.dat" using 1:2 title "64 B, 1 channel" lw 2, \
     '' using 1:3 title "64 B, 2 channels" lw 2, \
     '' using 1:4 axes x1y2 title "64 KiB, 1 channel (MB/s)" lw 2
EOT
echo "bench: $out/results.json, $out/latency.svg, $out/depth.svg"
