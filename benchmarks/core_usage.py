"""How full the cores were during a Snakemake run, from its log.

    python benchmarks/core_usage.py .snakemake/log/<run>.snakemake.log [--cores 2]

Prints the run's wall time, the seconds with 0, 1, ... cores held by jobs (each job holds its
`threads`), and each stretch of at least --min-gap seconds with a core free, with the jobs that
ran meanwhile: where a job with more threads waited for a core, or the run's tail ran alone.
The benchmark files give each job's seconds; only the log says when jobs ran side by side.
"""
import argparse
import collections
import datetime
import re
from pathlib import Path

STAMP = re.compile(r"^\[\w+ (\w+\s+\d+ \d+:\d+:\d+ \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
THREADS = re.compile(r"^\s+threads: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")


def read_jobs(log: Path) -> list[tuple[float, float, int, str]]:
    """[(start, end, threads, rule)] of every job the log saw start and finish (epoch seconds)."""
    now, job, started, ended = None, None, {}, {}
    for line in log.read_text().splitlines():
        if m := STAMP.match(line):
            now = datetime.datetime.strptime(m[1], "%b %d %H:%M:%S %Y").timestamp()
        elif m := RULE.match(line):
            job = {"rule": m[1], "start": now, "threads": 1}  # the log names threads only above 1
        elif (m := JOBID.match(line)) and job is not None:
            started[int(m[1])] = job
        elif (m := THREADS.match(line)) and job is not None:
            job["threads"] = int(m[1])
        elif m := FINISHED.match(line):
            ended[int(m[1])] = now
    if not ended:
        raise SystemExit(f"{log}: no finished job found; is it a Snakemake log?")
    return [(j["start"], ended[i], j["threads"], j["rule"]) for i, j in started.items() if i in ended]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--min-gap", type=int, default=5, help="shortest stretch with a free core to list (s)")
    args = parser.parse_args()
    jobs = read_jobs(args.log)
    t0, t1 = min(j[0] for j in jobs), max(j[1] for j in jobs)
    held = collections.Counter()
    stretch = None  # [first second, last second, rules running]
    stretches = []
    for s in range(int(t0), int(t1)):
        running = [(rule, threads) for start, end, threads, rule in jobs if start <= s < end]
        cores = min(sum(threads for _, threads in running), args.cores)
        held[cores] += 1
        rules = tuple(sorted({rule for rule, _ in running}))
        if cores < args.cores:
            if stretch and stretch[1] == s - 1 and stretch[2] == rules:
                stretch[1] = s
            else:
                stretches.append(stretch := [s, s, rules])
    print(f"{len(jobs)} jobs, {t1 - t0:.0f} s wall")
    print("seconds with n cores held: " + ", ".join(f"{n}: {held[n]}" for n in range(args.cores + 1)))
    idle = sum((args.cores - n) * seconds for n, seconds in held.items())
    print(f"core-seconds left free: {idle} ({idle / (args.cores * (t1 - t0)):.0%} of {args.cores} cores)")
    for first, last, rules in stretches:
        if last - first + 1 >= args.min_gap:
            print(f"  at {(first - t0) / 60:5.1f} min, {last - first + 1:4d} s with a core free; running: "
                  f"{', '.join(rules) or 'nothing'}")


if __name__ == "__main__":
    main()
