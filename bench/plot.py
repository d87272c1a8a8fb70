"""``bench/results/latest.png``: the bench's figures in four panels (matplotlib, bench only).

``python -m bench.plot [results.json] [out.png]`` redraws a saved run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def draw(doc: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    fig.suptitle(
        f"agentflow bench ({doc['mode']}, {doc['started_utc']}, "
        f"{doc['versions']['cpus']} CPUs, load {doc['load_average']['before'][0]:.1f} -> "
        f"{doc['load_average']['after'][0]:.1f})",
        fontsize=11,
    )
    _throughput(axes[0][0], doc)
    _latency(axes[0][1], doc)
    _scale(axes[1][0], doc)
    _recovery(axes[1][1], doc)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _throughput(ax: Any, doc: dict[str, Any]) -> None:
    groups = [("pipeline", doc.get("pipeline")), ("counter", doc.get("counter"))]
    labels, values, colors = [], [], []
    palette = {"limit": "#999999", "quix": "#4c72b0", "faust": "#dd8452", "agentflow": "#55a868",
               "host": "#55a868"}  # fmt: skip
    for group, part in groups:
        if not part:
            continue
        for name, c in part["contenders"].items():
            labels.append(f"{group}\n{name}")
            values.append(c["events_per_s"] or 0)
            colors.append(palette.get(name.split("-")[0], "#777777"))
    if not values:
        ax.set_axis_off()
        return
    bars = ax.bar(range(len(values)), values, color=colors)
    ax.set_yscale("log")
    ax.set_xticks(range(len(values)), labels, fontsize=8)
    ax.set_ylabel("events/s (log)")
    ax.set_title("throughput (same events per group)")
    for bar, v in zip(bars, values, strict=True):
        ax.annotate(f"{v:,.0f}", (bar.get_x() + bar.get_width() / 2, v), ha="center",
                    va="bottom", fontsize=7)  # fmt: skip


def _latency(ax: Any, doc: dict[str, Any]) -> None:
    lat = doc.get("latency")
    if not lat or lat.get("p50_ms") is None:
        ax.set_axis_off()
        ax.set_title("latency: not measured")
        return
    names = ["p50", "p90", "p99", "max"]
    vals = [lat["p50_ms"], lat["p90_ms"], lat["p99_ms"], lat["max_ms"]]
    ax.bar(names, vals, color="#55a868")
    ax.axhline(50, color="#c44e52", linestyle="--", linewidth=1, label="p99 target 50 ms")
    for i, v in enumerate(vals):
        ax.annotate(f"{v:.1f}", (i, v), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("ms")
    ax.set_title(
        f"agentflow end-to-end latency at {lat['offered_events_per_s']:,.0f} events/s "
        f"({lat['load_fraction'] or 0:.0%} load)",
        fontsize=10,
    )
    ax.legend(fontsize=8)


def _scale(ax: Any, doc: dict[str, Any]) -> None:
    scale = doc.get("scale")
    if not scale:
        ax.set_axis_off()
        ax.set_title("scale: not measured")
        return
    stages = scale["stages"]
    xs = [s["live_workflows"] for s in stages]
    ax.plot(xs, [s["events_per_s"] for s in stages], "o-", color="#55a868", label="events/s")
    ax.set_xscale("log")
    ax.set_xlabel("live workflows")
    ax.set_ylabel("events/s")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    ax2.plot(xs, [s["peak_rss_mb"] or 0 for s in stages], "s--", color="#8172b2",
             label="peak RSS MiB")  # fmt: skip
    ax2.axhline(400, color="#c44e52", linestyle=":", linewidth=1)
    ax2.set_ylabel("peak RSS (MiB)")
    ax2.set_ylim(bottom=0)
    ax.set_title("agentflow as live workflows grow")
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(lines, ["events/s", "peak RSS MiB (target 400)"], fontsize=8, loc="lower left")


def _recovery(ax: Any, doc: dict[str, Any]) -> None:
    rec = doc.get("recovery")
    if not rec:
        ax.set_axis_off()
        ax.set_title("recovery: not measured")
        return
    stages = [s for s in rec["stages"] if s.get("restored_records")]
    if not stages:
        ax.set_axis_off()
        return
    labels = [f"{s['live_workflows']:,}" for s in stages]
    ax.bar(labels, [s["restore_records_per_s"] or 0 for s in stages], color="#4c72b0")
    ax.axhline(100_000, color="#c44e52", linestyle="--", linewidth=1, label="target 100k/s")
    ax.set_xlabel("live workflows (cold worker, empty data directory)")
    ax.set_ylabel("changelog records restored / s")
    ax2 = ax.twinx()
    ax2.plot(labels, [s["first_event_seconds"] or 0 for s in stages], "o-", color="#dd8452")
    ax2.set_ylabel("start -> first event processed (s)")
    ax2.set_ylim(bottom=0)
    ax.set_title("recovery: restore rate (bars), time to first event (line)")
    ax.legend(fontsize=8, loc="upper left")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    src = Path(args[0]) if args else RESULTS_DIR / "latest.json"
    out = Path(args[1]) if len(args) > 1 else src.with_suffix(".png")
    print(draw(json.loads(src.read_text()), out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
