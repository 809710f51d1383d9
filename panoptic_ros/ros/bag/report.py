"""Latency statistics, the latency plot and per-frame failure counts shared by bag eval and record-eval (their
report.json goes through panoptic_ros.utils.json_io: atomic, NaN as null)."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def latency_stats(values_ms) -> dict:
    """p50/p90/p99/max/mean of a list of milliseconds (all None when empty)."""
    v = np.asarray(list(values_ms), dtype=np.float64)
    if v.size == 0:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    p50, p90, p99 = np.percentile(v, [50, 90, 99])
    return {"count": int(v.size), "p50": round(float(p50), 3), "p90": round(float(p90), 3),
            "p99": round(float(p99), 3), "max": round(float(v.max()), 3), "mean": round(float(v.mean()), 3)}


def plot_latency(path: Path, series: dict[str, list[float]], title: str) -> Path:
    """Per-frame latency curves (ms) and their histogram, saved as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, values in series.items():
        if len(values):
            ax1.plot(np.arange(len(values)), values, marker=".", linewidth=1, label=name)
            ax2.hist(values, bins=min(50, max(5, len(values) // 3)), alpha=0.6, label=name)
    ax1.set_xlabel("frame")
    ax1.set_ylabel("latency [ms]")
    ax1.grid(alpha=0.3)
    if any(len(v) for v in series.values()):
        ax1.legend()
    ax2.set_xlabel("latency [ms]")
    ax2.set_ylabel("frames")
    if any(len(v) for v in series.values()):
        ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class FrameFailures:
    """Frames whose processing raised (a network error, a ground-truth size mismatch, an unknown category):
    counted per reason ("stage: ExceptionType"), the first few kept as examples, warnings throttled; the run
    goes on with the next frame."""

    def __init__(self, max_examples: int = 20):
        self.counts: Counter = Counter()
        self.examples: list[dict] = []
        self.max_examples = max_examples

    def add(self, index: int, stage: str, exc: BaseException) -> None:
        reason = f"{stage}: {type(exc).__name__}"
        self.counts[reason] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append({"index": index, "reason": reason, "message": str(exc)[:300]})
        n = self.counts[reason]
        if n <= 3 or n % 100 == 0:
            log.warning("frame %s failed (%s, %d so far): %s; continuing", index, reason, n, exc)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        return {"total": self.total, "by_reason": dict(self.counts), "examples": list(self.examples)}


def format_eval_report(report: dict, out: Path) -> str:
    """`bag eval`'s console summary (a dozen lines, as the demo prints); the full JSON stays in report.json."""
    def f(v, fmt="{:.1f}"):
        return "n/a" if v is None else fmt.format(v)

    lat, inf = report.get("latency_ms") or {}, report.get("inference") or {}
    skipped, failed = (report.get("skipped") or {}).get("total", 0), (report.get("failed_frames") or {}).get("total", 0)
    lines = [f"=== bag eval: {report.get('status')} ===",
             f"{'frames':<23}: {report.get('frames')} of {report.get('topic')} (skipped {skipped}, failed {failed})",
             f"{'runtime / precision':<23}: {report.get('runtime') or 'n/a'} / {report.get('precision') or 'n/a'}, "
             f"policy {inf.get('merge_policy')}, device {inf.get('device')}",
             f"{'throughput':<23}: {f(report.get('fps'))} FPS (per-frame work alone {f(report.get('fps_model'))} FPS)",
             f"{'latency per frame':<23}: p50 {f(lat.get('p50'))} ms, p90 {f(lat.get('p90'))} ms, "
             f"max {f(lat.get('max'))} ms (n={lat.get('count', 0)})"]
    pq = report.get("pq") or {}
    for group in ("All", "Things", "Stuff"):
        if isinstance(pq.get(group), dict):
            v = pq[group]
            lines.append(f"{group:<23}: PQ {100 * v['pq']:.1f}  SQ {100 * v['sq']:.1f}  RQ {100 * v['rq']:.1f}  "
                         f"(n={v['n']})")
    if pq and "All" not in pq:
        lines.append(f"{'PQ':<23}: n/a (no frame matched the ground truth)")
    stq = report.get("stq")
    if stq:
        lines.append(f"{'tracking':<23}: STQ {100 * stq['stq']:.1f}  AQ {100 * stq['aq']:.1f}  ID switches "
                     f"{stq['id_switches']} ({stq['id_switches_per_100']:.1f} per 100 frames)")
    lines.append(f"{'written':<23}: {out / 'report.json'} (everything, per frame and per class), "
                 f"{report.get('output_bag')}, {out / 'latency.png'}"
                 + (f", {report['overlays']}" if report.get("overlays") else ""))
    return "\n".join(lines)
