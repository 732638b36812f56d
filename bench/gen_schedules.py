#!/usr/bin/env python3
"""Generate a synthetic schedules folder for bench/validate_bench.sh.

Usage: gen_schedules.py DIR N [SPLIT_DIR]

Writes DIR/products.yaml (several Product documents separated by ---) and
DIR/s-00001.yaml .. DIR/s-NNNNN.yaml (one Schedule document each), all valid
per SPEC.md section 1. If SPLIT_DIR is given, the Product documents are also
written there one per file (product-1.yaml ...), for tools such as
check-jsonschema that accept only single-document YAML files.

Deterministic: the same N gives the same files. Standard library only.
"""
import os
import sys

PRODUCTS = [
    ("collagen-peptides", "Collagen Peptides", "acme", "Acme Wellness",
     ["Glow from the inside out", "Your daily dose of radiance"],
     ("#0F766E", "#F59E0B", "#FFFFFF")),
    ("vitamin-d3", "Vitamin D3 Drops", "acme", "Acme Wellness",
     ["Sunshine in a bottle", "Winter-proof your mood"],
     ("#CA8A04", "#1D4ED8", "#111827")),
    ("cold-brew", "Cold Brew Concentrate", "north-bean", "North Bean Coffee",
     ["Smooth, bold, ready in seconds", "Skip the line"],
     ("#3F2A1D", "#F97316", "#FFFFFF")),
    ("trail-shoe-x2", "Trail Shoe X2", "ridgeline", "Ridgeline Outdoor",
     ["Grip that goes further", "Built for the long way round"],
     ("#14532D", "#FACC15", "#F9FAFB")),
    ("7d4f0c52-8a3b-4c1e-9f2d-6b5a4e3c2d1f", "Sleep Gummies", "dreamco", "DreamCo",
     ["Fall asleep faster", "Wake up ready"],
     ("#4C1D95", "#A78BFA", "#FFFFFF")),
]

TIMEZONES = [
    "America/Los_Angeles",
    "America/New_York",
    "Europe/Berlin",
    "Europe/London",
    "Asia/Tokyo",
    "Australia/Sydney",
    "UTC",
]

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
TIMES = ["09:00", "07:30", "12:15", "18:45", "06:00", "21:10"]
CRONS = ["0 9 * * 1", "30 8 * * 1-5", "0 */6 * * *", "15 10 1,15 * *",
         "0 12 * * SAT", "45 7 * 1-3 MON"]
CONTENT = ["hooks", "recreate_template"]
COLOR = ["original", "brand"]
CATCHUP = ["1h", "30m", "2h30m", "0", "1d"]


def q(s):
    """YAML double-quoted scalar (inputs here hold no quotes or backslashes)."""
    return '"' + s + '"'


def product_doc(p):
    pid, name, bid, bname, hooks, (primary, accent, text) = p
    lines = [
        "apiVersion: adsched/v1",
        "kind: Product",
        "id: " + pid,
        "name: " + name,
        "brand: { id: %s, name: %s }" % (bid, bname),
        "hooks:",
    ]
    lines += ["  - " + q(h) for h in hooks]
    lines.append("colors: { primary: %s, accent: %s, text: %s }"
                 % (q(primary), q(accent), q(text)))
    return "\n".join(lines) + "\n"


def schedule_form(i):
    k = i % 5
    at = q(TIMES[i % len(TIMES)])
    if k == 0:
        return "  daily: { at: %s }" % at
    if k == 1:
        return "  weekly: { day: %s, at: %s }" % (DAYS[(i // 5) % 7], at)
    if k == 2:
        if (i // 5) % 2:
            return "  monthly: { day: %d, at: %s }" % (1 + (i // 10) % 28, at)
        return "  monthly: { at: %s }" % at
    if k == 3:
        return "  cron: " + q(CRONS[(i // 5) % len(CRONS)])
    # once: always in the future (2030..2031), seconds optional
    day = 1 + (i // 5) % 28
    month = 1 + (i // 140) % 12
    sec = ":30" if (i // 5) % 3 == 0 else ""
    return "  once: { at: %s }" % q("2030-%02d-%02dT09:00%s" % (month, day, sec))


def schedule_doc(i):
    sid = "bench-s-%05d" % i
    prod = PRODUCTS[i % len(PRODUCTS)][0]
    lines = [
        "apiVersion: adsched/v1",
        "kind: Schedule",
        "id: " + sid,
        "name: Bench schedule %d" % i,
        "product: " + prod,
    ]
    if i % 4 == 0:
        lines.append("tenant_id: 3f6c1b9e-%04x-4a2b-8c3d-%012x" % (i % 0x10000, i))
    if i % 7 == 0:
        lines.append("paused: true")
    lines.append("schedule:")
    lines.append(schedule_form(i))
    if i % 3 != 0:
        lines.append("  timezone: " + TIMEZONES[i % len(TIMEZONES)])
    if i % 6 == 1:
        lines.append("  max_runs: %d" % (1 + i % 20))
    if i % 5 == 2:
        lines.append("  catchup_window: " + CATCHUP[i % len(CATCHUP)])
    if i % 2 == 0:
        lines.append("  retries: %d" % (i % 6))
    lines += [
        "templates:",
        "  mode: unused",
        # <= 6 so a pool of the 6 reference templates raises no pool-too-small warning
        "  count: %d" % (1 + i % 6),
        "parameters:",
        "  num_variations: %d" % (1 + i % 15),
        "  content_source: " + CONTENT[i % 2],
        "  color_mode: " + COLOR[(i // 2) % 2],
        "  image_selection_mode: auto",
        "export:",
    ]
    if i % 2 == 0:
        lines.append("  destination: none")
    else:
        lines.append("  destination: slack")
        lines.append("  slack: { channel: C0123ABCD9 }")
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    out, n = sys.argv[1], int(sys.argv[2])
    split = sys.argv[3] if len(sys.argv) == 4 else None
    os.makedirs(out, exist_ok=True)
    docs = [product_doc(p) for p in PRODUCTS]
    with open(os.path.join(out, "products.yaml"), "w") as f:
        f.write("---\n".join(docs))
    if split:
        os.makedirs(split, exist_ok=True)
        for k, d in enumerate(docs, 1):
            with open(os.path.join(split, "product-%d.yaml" % k), "w") as f:
                f.write(d)
    for i in range(1, n + 1):
        with open(os.path.join(out, "s-%05d.yaml" % i), "w") as f:
            f.write(schedule_doc(i))


if __name__ == "__main__":
    main()
