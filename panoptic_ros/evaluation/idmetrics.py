"""Identity metrics of a tracked segmentation next to STQ: IDF1 (motmetrics), HOTA / DetA / AssA (evaluation.hota),
the re-identification rate and wrong merges. Fed by STQEvaluator with each frame's IoU of ground-truth and predicted
thing segments (same class; 0 otherwise), so `panoptic eval` and `bag eval --gt` report them alike.

Definitions (matches: IoU > 0.5 of same-class segments, unique, as for ID switches):

- IDF1, IDP, IDR, ID switches: motmetrics 1.4.0 (distance = 1 - IoU, pairs with IoU <= 0.5 not allowed).
- returns: a ground-truth object whose consecutive appearances are RETURN_GAP (1 - 5 s) apart (it left the view or
  was hidden), matched within RETURN_WINDOW seconds before it went and after it came back; ``reidentified``: the
  returns whose predicted id at their last match within RETURN_WINDOW after coming back (a re-entering object is
  a sliver at first: the tracker may take a frame or two to decide) is the one before; ``rate`` = reidentified /
  returns.
- wrong merges: ``at_return``: returns whose new predicted id had been matched to another ground-truth object;
  ``ids``: predicted ids matched to more than one ground-truth object over the video (each extra object counts).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import motmetrics
import numpy as np

from ..utils.json_io import to_jsonable
from . import hota

RETURN_GAP = (1.0, 5.0)     # seconds between two appearances of an object that count as a return
RETURN_WINDOW = 1.0         # seconds around the gap in which the object must be matched
MATCH_IOU = 0.5


class _Video:
    def __init__(self):
        self.acc = motmetrics.MOTAccumulator(auto_id=True)
        self.frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.gt_index: dict[Any, int] = {}
        self.pred_index: dict[Any, int] = {}
        self.last_seen: dict[Any, float] = {}            # gt -> stamp of its last appearance
        self.last_match: dict[Any, tuple] = {}           # gt -> (stamp, pred) of its last match
        self.pending: dict[Any, tuple] = {}              # gt -> (stamp back, pred before) awaiting a match after
        self.settling: dict[Any, list] = {}              # gt -> [stamp back, pred before, pred now] in the window
        self.owners: dict[Any, set] = defaultdict(set)   # pred -> gt objects it was matched to
        self.returns = self.kept = self.merge_at_return = 0
        self.events: list[dict] = []                     # every return, as it was counted


class IdentityMetrics:
    """Accumulates IDF1, HOTA, re-identification and wrong merges over frames of one or more videos."""

    def __init__(self):
        self.videos: dict[Any, _Video] = {}

    def add(self, sequence: Any, stamp: float, gt_keys: list, pred_keys: list, iou: np.ndarray) -> None:
        """One frame: the ground-truth and predicted thing objects present (hashable keys) and their IoU [G, P]."""
        v = self.videos.setdefault(sequence, _Video())
        iou = np.asarray(iou, dtype=np.float64).reshape(len(gt_keys), len(pred_keys))
        dist = np.where(iou > MATCH_IOU, 1.0 - iou, np.nan)
        g_ids = np.array([v.gt_index.setdefault(g, len(v.gt_index)) for g in gt_keys], dtype=np.int64)
        p_ids = np.array([v.pred_index.setdefault(p, len(v.pred_index)) for p in pred_keys], dtype=np.int64)
        v.acc.update(g_ids.tolist(), p_ids.tolist(), dist)
        v.frames.append((g_ids, p_ids, iou))
        matched = {gt_keys[a]: pred_keys[b] for a, b in zip(*np.nonzero(iou > MATCH_IOU))}
        for g in [g for g, s in v.settling.items() if stamp - s[0] > RETURN_WINDOW]:
            _settle(v, g)
        for g in gt_keys:
            before = v.last_seen.get(g)
            if before is not None and RETURN_GAP[0] <= stamp - before <= RETURN_GAP[1]:
                if g in v.settling:          # back again as its last return's window ends: that one is decided
                    _settle(v, g)
                last = v.last_match.get(g)
                v.pending.pop(g, None)
                if last is not None and before - last[0] <= RETURN_WINDOW:
                    v.pending[g] = (stamp, last[1])
            v.last_seen[g] = stamp
        for g, p in matched.items():
            pend = v.pending.pop(g, None)
            if pend is not None and stamp - pend[0] <= RETURN_WINDOW:
                v.settling[g] = [pend[0], pend[1], p]
            elif g in v.settling:
                v.settling[g][2] = p
            if p != (v.settling.get(g) or [None, p])[1] and v.owners.get(p, set()) - {g}:
                v.settling[g].append("merged")     # took an id of another object after coming back
            v.owners[p].add(g)
            v.last_match[g] = (stamp, p)

    def summarize(self) -> dict:
        """{"idf1", "idp", "idr", "id_switches", "hota", "deta", "assa", "reid": {...}, "wrong_merges": {...},
        "per_video": {video name: {...}}, "return_events": [...]}."""
        if not self.videos:
            return {}
        for v in self.videos.values():
            for g in list(v.settling):
                _settle(v, g)
        names = [str(k) for k in self.videos]
        mh = motmetrics.metrics.create()
        quiet = logging.root.manager.disable
        logging.disable(logging.INFO)          # motmetrics logs its timings on the root logger
        try:
            table = mh.compute_many([v.acc for v in self.videos.values()], names=names,
                                    metrics=["idf1", "idp", "idr", "num_switches", "idtp", "idfp", "idfn"],
                                    generate_overall=True)
        finally:
            logging.disable(quiet)
        overall = table.loc["OVERALL"]
        per_video = [hota.hota_sequence(v.frames, len(v.gt_index), len(v.pred_index)) for v in self.videos.values()]
        h = hota.summary(hota.combine(per_video))
        returns = sum(v.returns for v in self.videos.values())
        kept = sum(v.kept for v in self.videos.values())
        at_return = sum(v.merge_at_return for v in self.videos.values())
        merged_ids = sum(len(gts) - 1 for v in self.videos.values() for gts in v.owners.values() if len(gts) > 1)
        return {"idf1": _num(overall["idf1"]), "idp": _num(overall["idp"]), "idr": _num(overall["idr"]),
                "id_switches_motmetrics": int(overall["num_switches"]),
                "hota": h["HOTA"], "deta": h["DetA"], "assa": h["AssA"], "loca": h["LocA"],
                "reid": {"returns": returns, "reidentified": kept,
                         "rate": kept / returns if returns else float("nan"), "gap_s": list(RETURN_GAP)},
                "wrong_merges": {"at_return": at_return,
                                 "at_return_fraction": at_return / returns if returns else float("nan"),
                                 "ids": merged_ids},
                # the counts that add up over videos (returns, IDF1's identity matches), for splits by video
                "per_video": {name: {"returns": v.returns, "reidentified": v.kept,
                                     "wrong_merges_at_return": v.merge_at_return,
                                     **{k: int(table.loc[name, k]) for k in ("idtp", "idfp", "idfn")}}
                              for name, v in zip(names, self.videos.values())},
                # each return (object, when it came back, its id before and after): where to look when one is missed
                "return_events": [{"video": name, **e} for name, v in zip(names, self.videos.values())
                                  for e in v.events]}


def _settle(v: _Video, g) -> None:
    """Count a return whose window has passed: kept when the id it holds now is the one before."""
    back, before, now, *merged = v.settling.pop(g)
    v.returns += 1
    v.kept += int(now == before)
    v.merge_at_return += int(bool(merged))
    v.events.append(to_jsonable({"object": g, "back_s": float(back), "id_before": before, "id_after": now,
                                 "kept": now == before, "wrong_merge": bool(merged)}))


def _num(x) -> float:
    x = float(x)
    return x if np.isfinite(x) else 0.0
