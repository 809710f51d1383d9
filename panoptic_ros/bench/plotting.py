"""The stacked per-stage bar chart the benchmarks share (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path


def stacked_stage_plot(path: Path, labels: list[str], stage_values: dict[str, list[float]], notes: list[str], *,
                       ylabel: str, title: str, figsize: tuple[float, float] = (7, 4), note_size: int = 8,
                       label_size: int | None = None) -> None:
    """One bar per label, stacked by stage (stage -> value per label), a note above each bar; saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    bottom = [0.0] * len(labels)
    for stage, values in stage_values.items():
        ax.bar(labels, values, bottom=bottom, label=stage)
        bottom = [b + v for b, v in zip(bottom, values)]
    for i, note in enumerate(notes):
        ax.annotate(note, (i, bottom[i]), ha="center", va="bottom", fontsize=note_size)
    ax.set(ylabel=ylabel, title=title)
    if label_size:
        ax.tick_params(axis="x", labelsize=label_size)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
