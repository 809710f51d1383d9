"""Trackers side by side on the same network outputs (`panoptic bench tracking`'s comparison table).

Why replay: the network runs once per frame; every tracker then sees exactly the same segments, so the differences
are the trackers'. Compared: this package's tracker with and without re-identification, no tracking (per-frame
ids), and BoxMOT's ByteTrack and OC-SORT (boxmot, when importable: it is in requirements-reference.txt, not in
requirements.txt, because boxmot 25.0.0 requires opencv-python < 5 next to this project's opencv-python-headless 5;
tools/setup.sh installs it --no-deps into .venv/reference; see docs/tracking.md) on the
segments' boxes (xyxy, score, class), their track ids mapped back to the segments by detection index; a segment a
box tracker leaves unassigned (an unconfirmed track) gets a fresh id. Metrics per tracker: STQ, AQ, IDF1, HOTA,
AssA, ID switches, re-identification rate, wrong merges, tracker ms per frame.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from panoptic_ros.config import InferenceConfig
from panoptic_ros.evaluation import result_to_coco
from panoptic_ros.evaluation.stq import STQEvaluator
from panoptic_ros.panoptic.result import PanopticResult
from panoptic_ros.tracking import THING_ID_BASE, PanopticTracker

FRESH_ID_BASE = 10**6     # ids of segments a box tracker left without a track (never repeated)


@dataclass
class Frame:
    video: str
    stamp: float
    image: np.ndarray          # RGB uint8
    result: PanopticResult | Callable[[], PanopticResult]   # the network's (per-frame ids), or what makes it
    gt_pan: np.ndarray
    gt_segments: list

    def resolved(self) -> Frame:
        """This frame with its result made, when it was given as a callable (a replay of hundreds of frames then
        holds their id maps one at a time, not all at once)."""
        return replace(self, result=self.result()) if callable(self.result) else self


class PanopticAdapter:
    def __init__(self, name: str, inference: InferenceConfig, categories):
        self.name, self.inference, self.categories = name, inference, categories
        self.tracker = PanopticTracker(inference, categories)

    def reset(self) -> None:
        self.tracker = PanopticTracker(self.inference, self.categories)

    def update(self, f: Frame) -> PanopticResult:
        return self.tracker.update(f.result, f.stamp, image=f.image)


class NoTracking:
    name = "no tracking"

    def reset(self) -> None:
        pass

    def update(self, f: Frame) -> PanopticResult:
        return f.result


class BoxmotAdapter:
    """A BoxMOT tracker on the thing segments' boxes; ids mapped back to the segments."""

    def __init__(self, name: str, make):
        self.name, self._make = name, make
        self.reset()

    def reset(self) -> None:
        self.tracker = self._make()
        self._fresh = FRESH_ID_BASE

    def update(self, f: Frame) -> PanopticResult:
        things = [s for s in f.result.segments if s["isthing"]]
        dets = np.array([[s["bbox"][0], s["bbox"][1], s["bbox"][0] + s["bbox"][2], s["bbox"][1] + s["bbox"][3],
                          float(s["score"]), int(s["category_id"])] for s in things], np.float32).reshape(-1, 6)
        out = self.tracker.update(dets, np.ascontiguousarray(f.image[..., ::-1]))
        track_of = {int(row[7]): int(row[4]) for row in np.asarray(out).reshape(-1, 8)}
        pan = f.result.panoptic
        lut = np.arange(int(pan.max()) + 1 if pan.numel() else 1, dtype=np.int64)
        segments = []
        for seg in f.result.segments:
            seg = dict(seg)
            if seg["isthing"]:
                k = next(i for i, s in enumerate(things) if s["id"] == seg["id"])
                if k in track_of:
                    new = THING_ID_BASE + track_of[k]
                else:
                    self._fresh += 1
                    new = self._fresh
                lut[int(seg["id"])] = new
                seg["id"] = new
            segments.append(seg)
        return PanopticResult(torch.from_numpy(lut)[pan.long()], segments)


def boxmot_adapters(fps: float) -> tuple[list, str]:
    """ByteTrack and OC-SORT adapters with BoxMOT's defaults (frame rate set), or ([], why not)."""
    try:
        import boxmot
        from boxmot import ByteTrack, OcSort
    except ImportError as exc:
        return [], f"boxmot not importable ({exc}); install it with pip install --no-deps -r " \
                   "requirements-reference.txt (its opencv-python < 5 requirement clashes with this project's)"
    version = getattr(boxmot, "__version__", "?")
    return [BoxmotAdapter(f"ByteTrack (boxmot {version})", lambda: ByteTrack(frame_rate=int(round(fps)))),
            BoxmotAdapter(f"OC-SORT (boxmot {version})", lambda: OcSort())], ""


def evaluate(adapter, frames: list[Frame], categories) -> dict:
    """One tracker over every frame of every video: STQ / identity metrics and its ms per frame."""
    ev = STQEvaluator(categories)
    ms, video = [], None
    for f in frames:
        if f.video != video:
            adapter.reset()
            video = f.video
        f = f.resolved()                       # (outside the timing: making the input is not the tracker's work)
        start = time.perf_counter()
        out = adapter.update(f)
        ms.append(1000 * (time.perf_counter() - start))
        ev.add(f.gt_pan, f.gt_segments, *result_to_coco(out, categories), sequence=f.video, stamp=f.stamp)
    m = ev.summarize()
    ident = m["identity"]
    return {"tracker": adapter.name, "stq": m["stq"], "aq": m["aq"], "sq": m["sq"], "idf1": ident["idf1"],
            "hota": ident["hota"], "assa": ident["assa"], "deta": ident["deta"], "id_switches": m["id_switches"],
            "id_keep": m["id_keep"]["fraction"], "reid": ident["reid"], "wrong_merges": ident["wrong_merges"],
            "per_video": ident["per_video"], "return_events": ident["return_events"],
            "ms_per_frame": float(np.median(ms)), "ms_per_frame_mean": float(np.mean(ms))}


def by_video_kind(row: dict, kinds: dict) -> dict:
    """{kind: returns, returns kept, wrong merges at returns and IDF1 on the videos of that kind}, summed from an
    ``evaluate`` row's per-video counts (no second run). kinds: video -> kind, e.g. "distinct" / "look-alike"."""
    out = {}
    for kind in dict.fromkeys(kinds.values()):
        videos = sorted(v for v, k in kinds.items() if k == kind)
        total = {key: sum(row["per_video"][v][key] for v in videos) for key in next(iter(row["per_video"].values()))}
        identified = 2 * total["idtp"] + total["idfp"] + total["idfn"]
        out[kind] = {"videos": videos, "returns": total["returns"], "reidentified": total["reidentified"],
                     "rate": total["reidentified"] / total["returns"] if total["returns"] else float("nan"),
                     "wrong_merges_at_return": total["wrong_merges_at_return"],
                     "idf1": 2 * total["idtp"] / identified if identified else 0.0}
    return out


def format_by_kind(by_kind: dict) -> str:
    """One line per input (network, perfect segments): returns kept / returns, wrong merges, per kind of video."""
    lines = []
    for source, kinds in by_kind.items():
        parts = [f"{kind} {k['reidentified']}/{k['returns']} kept, {k['wrong_merges_at_return']} wrong merges"
                 for kind, k in kinds.items()]
        lines.append(f"re-id returns on {source.replace('_', ' ')}: " + "; ".join(parts))
    return "\n".join(lines)


def format_table(rows: list[dict]) -> str:
    head = ("| tracker | STQ | AQ | IDF1 | HOTA | ID switches | re-id rate | wrong merges (at returns / ids) | "
            "ms per frame |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        rate = r["reid"]["rate"]
        lines.append(f"| {r['tracker']} | {100 * r['stq']:.1f} | {100 * r['aq']:.1f} | {100 * r['idf1']:.1f} | "
                     f"{100 * r['hota']:.1f} | {r['id_switches']} | "
                     f"{'-' if rate != rate else f'{100 * rate:.0f} %'} ({r['reid']['reidentified']}/"
                     f"{r['reid']['returns']}) | {r['wrong_merges']['at_return']} / {r['wrong_merges']['ids']} | "
                     f"{r['ms_per_frame']:.2f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("stq", "STQ"), ("aq", "AQ"), ("idf1", "IDF1"), ("hota", "HOTA")]
    fig, (ax, trade) = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [9, 4]})
    width = 0.8 / max(len(rows), 1)
    for i, r in enumerate(rows):
        ax.bar(np.arange(len(keys)) + i * width, [100 * r[k] for k, _ in keys], width, label=r["tracker"])
    ax.set_xticks(np.arange(len(keys)) + width * (len(rows) - 1) / 2, [name for _, name in keys])
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)                   # (room for the legend above the bars)
    ax.set_title("trackers on the same network outputs")
    ax.legend(fontsize=7, ncol=2, loc="upper center")
    trade_off(trade, rows)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def trade_off(ax, rows: list[dict]) -> None:
    """Returns kept against wrong merges at returns (% of returns) of the rows with a ``reid_margin`` (the
    re-identification tracker at several track_reid_margin values), with the issue's targets as lines."""
    points = sorted((r for r in rows if "reid_margin" in r and r["reid"]["returns"]), key=lambda r: r["reid_margin"])
    x = [100 * r["wrong_merges"]["at_return"] / r["reid"]["returns"] for r in points]
    y = [100 * r["reid"]["rate"] for r in points]
    ax.plot(x, y, "o-")
    for r, xi, yi in zip(points, x, y):
        ax.annotate(f"margin {r['reid_margin']:g}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.axvline(1.0, color="grey", linestyle=":")
    ax.axhline(80.0, color="grey", linestyle=":")
    ax.set_xlim(left=0)
    ax.set_xlabel("wrong merges at returns (% of returns; target <= 1)")
    ax.set_ylabel("returns with their old id (%; target >= 80)")
    ax.set_title("re-identification: the margin's trade", fontsize=9)
