#!/usr/bin/env python3
"""Peer of examples/fire_jobs_bench.rs: APScheduler 3 firing N due no-op
jobs from its SQLite job store.

Usage: fire_jobs_apscheduler.py [N] [--lead SECONDS] [--keep]

- A BackgroundScheduler with SQLAlchemyJobStore(url='sqlite:///TMP/jobs.sqlite')
  (SQLite's default journal mode and synchronous setting: every commit is on
  disk) and the default executor (a ThreadPoolExecutor of 10 threads).
- N jobs (default 10,000), each DateTrigger(run_date=T) calling the
  module-level no-op `noop` (stored as a textual reference, pickled into the
  job store), misfire_grace_time one day so none is dropped as late. They
  are added while the scheduler is started paused (one INSERT + commit
  each); that time is reported but not part of the figure. The scheduler is
  resumed before T.
- From T until N EVENT_JOB_EXECUTED and N EVENT_JOB_REMOVED events (a
  DateTrigger job is deleted from the store, one DELETE + commit, once
  submitted): the time from T and runs/s. Then checks that every job ran
  exactly once and the store is empty.
- APScheduler logs at INFO to a file, as the adsched daemon does.

T lies --lead seconds after the jobs start being added (default: measured:
1.3 times what 100 probe jobs take to add, times N/100, plus 10 s); the
jobs must all be in the store before T, or the run is refused.

Needs APScheduler<4 and SQLAlchemy (pip install 'APScheduler<4' SQLAlchemy).
"""
import argparse
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone

import apscheduler
from apscheduler.events import (EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES,
                                EVENT_JOB_MISSED, EVENT_JOB_REMOVED)
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
import sqlalchemy


def noop():
    """The job: does nothing."""


def die(msg):
    sys.exit("fire_jobs_apscheduler: " + msg)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=10000, metavar="N",
                    help="jobs to fire (1..99999, default 10000)")
    ap.add_argument("--lead", type=float, help="seconds from the last job added to the due time")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    opts = ap.parse_args()
    if not 1 <= opts.n <= 99999:
        ap.error(f"N must be 1..99999 (got {opts.n})")
    return opts


def main():
    opts = parse_args()
    n, lead, keep = opts.n, opts.lead, opts.keep

    work = tempfile.mkdtemp(prefix="adsched-apscheduler.")
    log_path = os.path.join(work, "apscheduler.log")
    logging.basicConfig(filename=log_path, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = os.path.join(work, "jobs.sqlite")
    probe_db = os.path.join(work, "probe.sqlite")

    lock = threading.Lock()
    executed, removed, other = {}, set(), []
    done = threading.Event()
    done_at = [None]

    def listener(ev):
        with lock:
            if ev.code == EVENT_JOB_EXECUTED:
                executed[ev.job_id] = executed.get(ev.job_id, 0) + 1
            elif ev.code == EVENT_JOB_REMOVED:
                removed.add(ev.job_id)
            else:
                other.append(ev)
            if done_at[0] is None and len(executed) + len(other) >= n and len(removed) >= n:
                done_at[0] = time.time()
                done.set()

    sched = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url="sqlite:///" + db),
                   "probe": SQLAlchemyJobStore(url="sqlite:///" + probe_db)},
        timezone=timezone.utc,
    )
    sched.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
                       | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_REMOVED)
    sched.start(paused=True)

    if lead is None:
        # How long adding takes here: 100 jobs into a throw-away store.
        far = datetime.now(timezone.utc) + timedelta(days=365)
        k = min(100, n)
        t = time.perf_counter()
        for j in range(k):
            sched.add_job(noop, DateTrigger(run_date=far), id="probe-%d" % j, jobstore="probe")
        per_job = (time.perf_counter() - t) / k
        sched.remove_jobstore("probe", shutdown=True)
        lead = 1.3 * per_job * n + 10
    else:
        sched.remove_jobstore("probe", shutdown=True)
    if os.path.exists(probe_db):
        os.remove(probe_db)

    due = datetime.fromtimestamp(math.ceil(time.time() + lead), timezone.utc)
    print("fire-jobs bench, APScheduler %s BackgroundScheduler + SQLAlchemyJobStore (SQLAlchemy %s, "
          "SQLite %s, default journal mode) + default ThreadPoolExecutor(10): N=%d DateTrigger jobs "
          "due at T=%s" % (apscheduler.__version__, sqlalchemy.__version__,
                           __import__("sqlite3").sqlite_version, n, due.isoformat()))
    print("  each job: the module-level no-op `noop` (textual reference, pickled), "
          "misfire_grace_time 1 day; APScheduler logs at INFO to %s" % log_path)

    t = time.perf_counter()
    for j in range(1, n + 1):
        sched.add_job(noop, DateTrigger(run_date=due), id="fire-%05d" % j,
                      misfire_grace_time=86400)
    add_s = time.perf_counter() - t
    margin = due.timestamp() - time.time()
    print("  setup (not timed): %d jobs added (one INSERT + commit each) in %.2f s = %.0f jobs/s; "
          "T is %.2f s away" % (n, add_s, n / add_s, margin))
    if margin < 0.5:
        sched.shutdown(wait=False)
        die("the jobs were added only %.2f s before T; pass a larger --lead (was %.1f s)"
            % (margin, lead))
    sched.resume()

    if not done.wait(timeout=max(0.0, due.timestamp() - time.time()) + 7200):
        die("only %d executed, %d removed after 2 h" % (len(executed), len(removed)))
    total = done_at[0] - due.timestamp()
    left = len(sched.get_jobs())
    sched.shutdown(wait=True)

    problems = []
    twice = [j for j, c in executed.items() if c != 1]
    if len(executed) != n:
        problems.append("%d jobs executed, expected %d" % (len(executed), n))
    if twice:
        problems.append("%d jobs executed more than once, e.g. %s" % (len(twice), twice[0]))
    if other:
        problems.append("%d error/missed/max-instances events, first: %r" % (len(other), other[0]))
    if left:
        problems.append("%d jobs left in the store" % left)
    if problems:
        for p in problems:
            print("  PROBLEM: " + p)
    else:
        print("  verified: %d jobs each executed exactly once (EVENT_JOB_EXECUTED), %d removed "
              "from the store (EVENT_JOB_REMOVED), the store is empty" % (n, len(removed)))
    print("fired %d due no-op jobs in %.2f s from T = %.1f runs/s" % (n, total, n / total))
    print("RESULT seconds=%.3f runs_per_s=%.2f add_seconds=%.3f" % (total, n / total, add_s))
    if keep:
        print("kept " + work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
