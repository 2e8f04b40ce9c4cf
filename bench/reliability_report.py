"""Writes docs/reliability.md (to stdout) from one run of the fault harness:
reliability_report.py FIGURES.jsonl JUNIT.xml SECONDS."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import xml.etree.ElementTree as ET


def version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) / 1024 / 1024
    except (OSError, StopIteration):
        mem = 0
    commit = version(["git", "rev-parse", "--short", "HEAD"])
    return [
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; commit {commit}",
        f"- Machine: {platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), {mem:.1f} GiB, "
        f"load average at the end {os.getloadavg()[0]:.1f}",
        f"- Tollgate: {version([os.environ.get('TOLLGATE_BIN', 'tollgate'), '--version'])}",
        f"- PostgreSQL: {version(['postgres', '--version'])}; Redis: {version(['redis-server', '--version'])}; "
        f"OpenLDAP: {version(['/usr/sbin/slapd', '-VV'])}",
        f"- Settings: outage {os.environ.get('TOLLGATE_FAULTS_OUTAGE')} s, soak {os.environ.get('TOLLGATE_FAULTS_SOAK')} s, "
        f"load {os.environ.get('TOLLGATE_FAULTS_RATE')} requests/s over two `serve all` processes, "
        f"answer bound {os.environ.get('TOLLGATE_FAULTS_MAX_LATENCY', '2.5')} s",
    ]


def results(junit: str) -> list[tuple[str, str, str]]:
    rows = []
    for case in ET.parse(junit).iter("testcase"):
        outcome, note = "pass", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, note = ("xpass (strict): remove the mark" if "XPASS" in (child.get("message") or "")
                                 else child.tag), (child.get("message") or "")[:200]
            elif child.tag == "skipped":
                msg = child.get("message") or ""
                outcome, note = ("xfail (known violation)", msg) if child.get("type") == "pytest.xfail" else ("skipped", msg)
        rows.append((f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}", outcome, note.replace("|", "/")))
    return rows


def main(figures_path: str, junit: str, seconds: str) -> None:
    figures = [json.loads(line) for line in open(figures_path)] if os.path.exists(figures_path) else []
    print("# Reliability figures\n")
    print("Written by `bench/reliability.sh` (the long form of `e2e/faults`, see its README) from one run; "
          f"the run took {int(seconds) // 60} min {int(seconds) % 60} s. Do not edit by hand.\n")
    print("\n".join(machine()) + "\n")
    print("## Figures\n")
    print("| Scenario | Requests | Failures by status | Error window (s) | Recovery after restore (s) | "
          "Max latency (s) | p99 (s) | Durable data |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for f in figures:
        fails = ", ".join(f"{k}: {v}" for k, v in sorted(f["failures"].items())) or "none"
        rec = "-" if f["recover_s"] is None else f["recover_s"]
        print(f"| {f['scenario']} | {f['requests']} | {fails} | {f['error_window_s']} | {rec} | "
              f"{f['max_latency_s']} | {f['p99_latency_s']} | {f['durable']} |")
    print("\n## Details\n")
    for f in figures:
        print(f"### {f['scenario']}\n")
        for k, v in f["extra"].items():
            print(f"- {k}: `{json.dumps(v)[:600]}`")
        print()
    print("## Rules\n")
    print("| Test | Result | Note |\n|---|---|---|")
    for name, outcome, note in results(junit):
        print(f"| `{name}` | {outcome} | {note} |")


if __name__ == "__main__":
    main(*sys.argv[1:4])
