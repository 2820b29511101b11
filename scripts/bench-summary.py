#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarise several boots of `make bench` (make bench-boots).

Under emulation a boot decides much of a latency figure (KASLR places the
modules, and QEMU's software TLB and jump cache are indexed by address),
so a target is judged on the median of its ratio over the boots, each
ratio taken within one boot. System calls per 10^4 round trips are
averaged over the boots.

usage: bench-summary.py KERNEL BOOT.json...
"""
import json
import statistics
import sys


def find(res, method, size, depth=1, chans=1):
    for r in res:
        if (r["method"], r["size"], r["depth"], r["channels"]) == \
           (method, size, depth, chans):
            return r
    return None


def ratio(res, a, b, key):
    ra, rb = find(res, *a), find(res, *b)
    if not ra or not rb or not rb[key]:
        return None
    return ra[key] / rb[key]


# name, numerator, denominator, value key, target test, target text
TARGETS = [
    ("kup-poll p50 / raw p50", ("kup-poll", 8), ("raw", 4), "p50_ns",
     lambda x: x <= 1.25, "<= 1.25"),
    ("uring-sqpoll p50 / kup-poll p50", ("uring-sqpoll", 0),
     ("kup-poll", 8), "p50_ns", lambda x: x >= 2, ">= 2"),
    ("ioctl p50 / kup-poll p50", ("ioctl", 8), ("kup-poll", 8), "p50_ns",
     lambda x: x > 1, "> 1"),
    ("depth 16 / depth 1 messages/s", ("kup-pipe", 64, 16),
     ("kup-pipe", 64, 1), "msgs_per_s", lambda x: x >= 4, ">= 4"),
    ("64 KiB kup MB/s / memcpy MB/s", ("kup-pipe", 65536, 16),
     ("memcpy", 65536), "mb_per_s", lambda x: x >= 0.5, ">= 0.5"),
    ("kup-indirect p50 / kup-poll p50", ("kup-indirect", 8),
     ("kup-poll", 8), "p50_ns", None, "-"),
    ("proto p50 / raw p50 (protocol)", ("proto", 8), ("raw", 4), "p50_ns",
     None, "-"),
    ("proto-lib p50 / raw p50 (+ lib/kup.h)", ("proto-lib", 8), ("raw", 4),
     "p50_ns", None, "-"),
    ("proto-kapi p50 / raw p50 (+ kernel API)", ("proto-kapi", 8),
     ("raw", 4), "p50_ns", None, "-"),
    ("kupdev-poll p50 / kup-poll p50", ("kupdev-poll", 8), ("kup-poll", 8),
     "p50_ns", None, "-"),
]


def main():
    kernel, files = sys.argv[1], sys.argv[2:]
    boots = [json.load(open(f))["results"] for f in files]
    print(f"kup bench on {kernel}: {len(boots)} boots")
    print(f"{'ratio':42} {'boots':28} {'median':>7} {'target':>8} met")
    for name, a, b, key, test, text in TARGETS:
        vals = [ratio(res, a, b, key) for res in boots]
        vals = [v for v in vals if v is not None]
        if not vals:
            continue
        med = statistics.median(vals)
        met = "-" if test is None else ("yes" if test(med) else "no")
        each = " ".join(f"{v:.2f}" for v in vals)
        print(f"{name:42} {each:28} {med:7.2f} {text:>8} {met}")
    print("\nsystem calls per 10^4 round trips, both sides polling (mean "
          "over boots; target <= 1):")
    keys = []
    for res in boots:
        for r in res:
            k = (r["method"], r["size"], r["depth"], r["channels"])
            if r.get("syscalls_per_1e4", -1) >= 0 and k not in keys:
                keys.append(k)
    worst = 0.0
    for k in keys:
        vals = [find(res, *k)["syscalls_per_1e4"] for res in boots
                if find(res, *k)]
        mean = sum(vals) / len(vals)
        if k[3] == 1:
            worst = max(worst, mean)
        print(f"  {k[0]:14} {k[1]:6} B depth {k[2]:2} x{k[3]}: {mean:6.2f}"
              f"  ({' '.join(f'{v:.2f}' for v in vals)})")
    print(f"  worst with one thread per vCPU (x1): {worst:.2f}")


if __name__ == "__main__":
    main()
