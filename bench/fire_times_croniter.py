#!/usr/bin/env python3
"""Peer of examples/fire_times_bench.rs: the same fire-time cases with
Python's croniter, timed the same way, printing the same checksums.

Usage: fire_times_croniter.py [K] [--min-seconds S] [--dump DIR]

Each case starts at 2026-01-01T00:00:00Z, localised to the case's zone with
zoneinfo, and calls croniter(expr, start).get_next(datetime) K times
(default 20,000 per case) on one croniter object, the way croniter is meant
to be iterated. A fire time at or after 2090-01-01T00:00:00Z wraps back to
a new croniter at the start, as the Rust side does. All cases are repeated
until at least --min-seconds (default 1) have passed; the figure is the mean
cost per fire time. --dump DIR writes each case's fire times (Unix seconds,
one a line) to DIR/case-N.txt, for bench/compare_fire_times.py.

Needs croniter (pip install croniter); Python 3.9+ for zoneinfo.
"""
import argparse
import os
import sys
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from croniter import croniter
import croniter as croniter_module

CASES = [
    ("0 9 * * 1", "America/Los_Angeles", "the product's Monday 09:00 Los Angeles"),
    ("*/15 * * * *", "Europe/London", "every 15 minutes"),
    ("30 2 * * *", "America/Los_Angeles", "02:30 daily: inside the spring-forward gap once a year"),
    ("0 1 * * *", "America/Los_Angeles", "01:00 daily: the repeated fall-back hour once a year"),
    ("0 0 1 * *", "UTC", "monthly, no daylight saving"),
    ("0 12 * * 1-5", "Asia/Kolkata", "weekdays, no daylight saving"),
    ("*/30 * * * *", "America/Los_Angeles", "every 30 minutes through both transitions"),
]

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
END = datetime(2090, 1, 1, tzinfo=timezone.utc)
FIRST_SHOWN = 5


def fire_times(expr, tz, k):
    start = START.astimezone(ZoneInfo(tz))
    out = []
    it = croniter(expr, start)
    while len(out) < k:
        t = it.get_next(datetime)
        if t >= END:
            it = croniter(expr, start)
            t = it.get_next(datetime)
        out.append(t)
    return out


def fnv(secs):
    h = 0xCBF29CE484222325
    for s in secs:
        for b in s.to_bytes(8, "little", signed=True):
            h ^= b
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("k", nargs="?", type=int, default=20000, metavar="K",
                    help="fire times per case (default 20000)")
    ap.add_argument("--min-seconds", type=float, default=1.0,
                    help="repeat the cases until this long has passed")
    ap.add_argument("--dump", help="folder to write every fire time to")
    opts = ap.parse_args()
    if opts.k < 1:
        ap.error("K must be at least 1")
    return opts


def main():
    opts = parse_args()
    k, min_seconds, dump = opts.k, opts.min_seconds, opts.dump

    version = getattr(croniter_module, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as v
            version = v("croniter")
        except Exception:  # noqa: BLE001 - only for the banner
            version = "?"
    print("fire-times bench, croniter %s (get_next(datetime), zoneinfo): %d cases x K=%d fire times "
          "from %s, wrapping at %s" % (version, len(CASES), k,
                                       START.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                       END.strftime("%Y-%m-%dT%H:%M:%SZ")))

    kept = []
    rounds = 0
    t0 = time.perf_counter()
    while True:
        for expr, tz, _ in CASES:
            out = fire_times(expr, tz, k)
            if rounds == 0:
                kept.append(out)
        rounds += 1
        if time.perf_counter() - t0 >= min_seconds:
            break
    elapsed = time.perf_counter() - t0

    all_count, all_sum = 0, 0
    for n, ((expr, tz, why), times) in enumerate(zip(CASES, kept), 1):
        secs = [int(t.timestamp()) for t in times]
        all_count += len(secs)
        all_sum += sum(secs)
        print("CASE %d `%s` %s: count=%d sum=%d fnv=%016x  (%s)"
              % (n, expr, tz, len(secs), sum(secs), fnv(secs), why))
        first = " ".join(t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                         for t in times[:FIRST_SHOWN])
        print("  first: " + first)
        if dump:
            os.makedirs(dump, exist_ok=True)
            with open(os.path.join(dump, "case-%d.txt" % n), "w") as f:
                f.write("".join("%d\n" % s for s in secs))
    fires = all_count * rounds
    ns = elapsed * 1e9 / fires
    print("CHECKSUM count=%d sum=%d" % (all_count, all_sum))
    print("timed: %d fire times (%d round(s) of %d) in %.3f s = %.0f ns/fire, %.0f fire times/s"
          % (fires, rounds, all_count, elapsed, ns, fires / elapsed))
    print("RESULT ns_per_fire=%.1f" % ns)


if __name__ == "__main__":
    main()
