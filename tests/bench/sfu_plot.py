#!/usr/bin/python3
"""Plots SFU load runs (`confer-sfu-load --json runs.json`): the SFU's CPU (cores busy)
and the subscribers' p99 added delay, each against the packets per second it forwarded,
one line per SFU.

    /usr/bin/python3 tests/bench/sfu_plot.py runs.json [more.json ...] -o docs/sfu-load.png

Needs Debian's python3-matplotlib (`apt-get install python3-matplotlib`).
"""

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rows_of(path):
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict):
        data = data.get("runs") or data.get("rows") or [data]
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="JSON files written by confer-sfu-load --json")
    parser.add_argument("-o", "--output", default="sfu-load.png")
    args = parser.parse_args()

    by_sfu = {}
    for path in args.runs:
        for row in rows_of(path):
            by_sfu.setdefault(row["sfu"], []).append(row)

    fig, (cpu, delay) = plt.subplots(1, 2, figsize=(11, 4.2))
    for sfu, rows in sorted(by_sfu.items()):
        rows.sort(key=lambda r: r["forwarded_pps"])
        x = [r["forwarded_pps"] / 1000 for r in rows]
        cores = [r["sfu_cpu_seconds"] / r["window_seconds"] for r in rows]
        p99 = [r.get("delay_p99_ms") for r in rows]
        cpu.plot(x, cores, marker="o", label=sfu)
        delay.plot(x, p99, marker="o", label=sfu)
    cpu.set_xlabel("forwarded packets per second (thousands)")
    cpu.set_ylabel("SFU CPU (cores busy)")
    cpu.set_title("CPU")
    delay.set_xlabel("forwarded packets per second (thousands)")
    delay.set_ylabel("p99 added delay (ms)")
    delay.set_title("p99 delay")
    for ax in (cpu, delay):
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle("Confer vs Janus on 2 cores (same run, same machine)")
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
