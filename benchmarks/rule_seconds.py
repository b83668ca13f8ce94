"""Where a run's time went: job seconds per rule from the files Snakemake's `benchmark:` directives
wrote (results/<config>/benchmarks/<rule>/<job>.tsv).

    python benchmarks/rule_seconds.py results/default [--jobs 5] [--match sst2 yat]

Prints, per rule, the number of jobs, their summed wall seconds, the share of the total, the
largest job and the largest max RSS, sorted by seconds; then the longest jobs. --match keeps
only jobs whose file name contains one of the words (e.g. the jobs one table needs). Most of the
default's jobs take both cores, so summed job seconds are close to the run's wall time minus
setup; a rule without a benchmark file (fetching, the report) is not counted.
"""
import argparse
import csv
import sys
from pathlib import Path


def job_records(benchmarks: Path, match=()) -> list[dict]:
    """One dict per benchmark file: rule, job (the file's stem), seconds, max_rss (MB)."""
    records = []
    for path in sorted(benchmarks.glob("*/*.tsv")):
        if match and not any(word in path.stem for word in match):
            continue
        with open(path) as f:
            row = next(csv.DictReader(f, delimiter="\t"))
        rss = row.get("max_rss", "NA")
        records.append({"rule": path.parent.name, "job": path.stem, "seconds": float(row["s"]),
                        "max_rss": float(rss) if rss not in ("NA", "-", "") else float("nan")})
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a run's results folder, e.g. results/default")
    parser.add_argument("--jobs", type=int, default=5, help="how many of the longest jobs to list")
    parser.add_argument("--match", nargs="*", default=(), help="keep jobs whose name holds one of these")
    args = parser.parse_args()

    records = job_records(args.results / "benchmarks", args.match)
    if not records:
        sys.exit(f"no benchmark files under {args.results / 'benchmarks'}")
    total = sum(r["seconds"] for r in records)
    rules = {}
    for r in records:
        rules.setdefault(r["rule"], []).append(r)
    print(f"{len(records)} jobs, {total:.0f} s summed ({total / 60:.1f} min)")
    print(f"{'rule':28s} {'jobs':>4s} {'seconds':>8s} {'share':>6s} {'largest job s':>13s} {'max RSS MB':>10s}")
    for rule, jobs in sorted(rules.items(), key=lambda kv: -sum(j["seconds"] for j in kv[1])):
        seconds = sum(j["seconds"] for j in jobs)
        print(f"{rule:28s} {len(jobs):4d} {seconds:8.0f} {seconds / total:6.1%} "
              f"{max(j['seconds'] for j in jobs):13.0f} {max(j['max_rss'] for j in jobs):10.0f}")
    print("longest jobs:")
    for r in sorted(records, key=lambda r: -r["seconds"])[:args.jobs]:
        print(f"  {r['seconds']:8.0f} s  {r['rule']}/{r['job']}")


if __name__ == "__main__":
    main()
