#!/usr/bin/env python3
"""Compares the fire times dumped by examples/fire_times_bench.rs and
bench/fire_times_croniter.py (--dump DIR: case-N.txt, Unix seconds).

Usage: compare_fire_times.py ADSCHED_DIR CRONITER_DIR

For each case: equal, or the first index where the sequences part, and the
times only one side has (shown in UTC and in the case's zone). Prints
`COMPARE agree=A differ=D` last. Exit status 0 either way: a disagreement
is a finding to report, not a failure of the benchmark.
"""
import os
import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

# Must match CASES in fire_times_bench.rs / fire_times_croniter.py (order too).
CASES = [
    ("0 9 * * 1", "America/Los_Angeles"),
    ("*/15 * * * *", "Europe/London"),
    ("30 2 * * *", "America/Los_Angeles"),
    ("0 1 * * *", "America/Los_Angeles"),
    ("0 0 1 * *", "UTC"),
    ("0 12 * * 1-5", "Asia/Kolkata"),
    ("*/30 * * * *", "America/Los_Angeles"),
]
SHOWN = 4


def read(path):
    with open(path) as f:
        return [int(line) for line in f if line.strip()]


def fmt(s, tz):
    t = datetime.fromtimestamp(s, timezone.utc)
    return "%s (%s)" % (t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        t.astimezone(ZoneInfo(tz)).isoformat())


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a_dir, c_dir = sys.argv[1], sys.argv[2]
    agree = differ = 0
    for n, (expr, tz) in enumerate(CASES, 1):
        a = read(os.path.join(a_dir, "case-%d.txt" % n))
        c = read(os.path.join(c_dir, "case-%d.txt" % n))
        label = "case %d `%s` %s" % (n, expr, tz)
        if a == c:
            agree += 1
            print("  %s: the same %d fire times" % (label, len(a)))
            continue
        differ += 1
        i = next((k for k, (x, y) in enumerate(zip(a, c)) if x != y), min(len(a), len(c)))
        print("  %s: DIFFER from fire time #%d on" % (label, i + 1))
        print("      adsched:  %s" % (fmt(a[i], tz) if i < len(a) else "(none)"))
        print("      croniter: %s" % (fmt(c[i], tz) if i < len(c) else "(none)"))
        # Compare over the span both cover, so the different lengths of the
        # tails (one side ran further ahead) do not count as differences.
        hi = min(a[-1], c[-1])
        sa = {x for x in a if x <= hi}
        sc = {x for x in c if x <= hi}
        only_a, only_c = sorted(sa - sc), sorted(sc - sa)
        print("      up to %s: %d time(s) only adsched fires, %d only croniter fires"
              % (fmt(hi, tz), len(only_a), len(only_c)))
        for name, only in (("adsched", only_a), ("croniter", only_c)):
            if only:
                print("      only %s, first %d: %s" % (
                    name, min(SHOWN, len(only)), "; ".join(fmt(x, tz) for x in only[:SHOWN])))
    print("COMPARE agree=%d differ=%d" % (agree, differ))


if __name__ == "__main__":
    main()
