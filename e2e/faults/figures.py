"""The figures of a scenario, computed from the load's samples and the fault's
timeline, printed as a table and (with TOLLGATE_FAULTS_REPORT) appended to a
JSON-lines file that bench/reliability.sh turns into docs/reliability.md."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from load import Sample, status_counts

#: Printed by the terminal summary, in the order the scenarios ran.
RECORDED: list["Figures"] = []


@dataclass
class Figures:
    scenario: str
    requests: int = 0
    failures: dict = field(default_factory=dict)
    error_window_s: float = 0.0
    recover_s: float | None = None
    max_latency_s: float = 0.0
    p99_latency_s: float = 0.0
    outage_s: float = 0.0
    durable: str = "not checked"
    extra: dict = field(default_factory=dict)

    def row(self) -> str:
        fails = ", ".join(f"{k}: {v}" for k, v in sorted(self.failures.items())) or "none"
        recover = "-" if self.recover_s is None else f"{self.recover_s:.1f}"
        return (f"{self.scenario:<34} {self.requests:>6} {fails:<28} {self.error_window_s:>7.1f} {recover:>8} "
                f"{self.max_latency_s:>7.2f} {self.p99_latency_s:>7.2f}  {self.durable}")


HEADER = (f"{'scenario':<34} {'reqs':>6} {'failures by status':<28} {'errwin s':>7} {'recov s':>8} "
          f"{'max s':>7} {'p99 s':>7}  durable data")


def compute(name: str, samples: list[Sample], fault_at: float | None = None, restored_at: float | None = None) -> Figures:
    failed = [s for s in samples if not s.ok]
    latencies = sorted(s.latency for s in samples) or [0.0]
    f = Figures(
        scenario=name,
        requests=len(samples),
        failures=dict(status_counts(samples)),
        max_latency_s=round(latencies[-1], 3),
        p99_latency_s=round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
    )
    by_op: dict[str, int] = {}
    for s in failed:
        key = f"{s.op} {s.status}"
        by_op[key] = by_op.get(key, 0) + 1
    if by_op:
        f.extra["failures by operation"] = dict(sorted(by_op.items()))
        f.extra["first failure details"] = sorted({f"{s.op} {s.status}: {s.detail[:140]}" for s in failed})[:8]
    if failed:
        f.error_window_s = round(max(s.end for s in failed) - min(s.start for s in failed), 2)
    if fault_at is not None and restored_at is not None:
        f.outage_s = round(restored_at - fault_at, 2)
        late = [s.end for s in failed if s.end > restored_at]
        f.recover_s = round(max(late) - restored_at, 2) if late else 0.0
    return f


def record(f: Figures) -> Figures:
    RECORDED.append(f)
    print(HEADER)
    print(f.row())
    for k, v in f.extra.items():
        print(f"    {k}: {v}")
    path = os.environ.get("TOLLGATE_FAULTS_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(asdict(f)) + "\n")
    return f
