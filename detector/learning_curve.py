"""The learning curve across training runs that continue one another: where training stands and
where it is heading, as a CSV and a plot for the model card.

Each run's ultralytics `results.csv` restarts its epoch count (and its `time` column at every
resume); here the runs are laid end to end, with cumulative epochs and hours, and each point keeps
the run it came from.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from roadscan.core.errors import ConfigError

MAP50, MAP5095 = "metrics/mAP50(B)", "metrics/mAP50-95(B)"


def read_runs(csvs: list[Path], names: list[str] | None = None) -> pd.DataFrame:
    """The runs' results.csv files in training order as one table (columns run, epoch, total_epoch, hours, ...)."""
    frames = []
    epochs = hours = 0.0
    for i, path in enumerate(csvs):
        path = Path(path)
        if path.is_dir():
            path = path / "results.csv"
        try:
            table = pd.read_csv(path)
        except (FileNotFoundError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ConfigError(f"cannot read a training results table ({type(exc).__name__})", path=path,
                              hint="give a run folder or its results.csv") from None
        table.columns = [c.strip() for c in table.columns]
        if MAP50 not in table or "epoch" not in table:
            raise ConfigError("not an ultralytics results.csv (no epoch / mAP50 columns)", path=path)
        # `time` is seconds since the (re)start: an epoch's own time is the step, or all of it after a restart
        clock = table["time"] if "time" in table else pd.Series(0.0, index=table.index)
        step = clock.diff().where(lambda d: d > 0, clock)
        table.insert(0, "run", names[i] if names else path.parent.name)
        table["total_epoch"] = epochs + table["epoch"]
        table["hours"] = hours + step.cumsum() / 3600
        epochs, hours = float(table["total_epoch"].iloc[-1]), float(table["hours"].iloc[-1])
        frames.append(table)
    if not frames:
        raise ConfigError("no training runs given")
    return pd.concat(frames, ignore_index=True)


def plot(curve: pd.DataFrame, path: Path, title: str = "Validation mAP over training") -> Path:
    from roadscan.detector.eval_report import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for run, part in curve.groupby("run", sort=False):
        line = ax.plot(part["total_epoch"], part[MAP50], marker="o", ms=3, label=f"{run}: mAP50")[0]
        ax.plot(part["total_epoch"], part[MAP5095], ls="--", color=line.get_color(), label=f"{run}: mAP50-95")
        ax.axvline(part["total_epoch"].iloc[0] - 0.5, color="0.8", lw=0.8)
    top = ax.secondary_xaxis("top", functions=(lambda e: e, lambda e: e))
    top.set_xticks(curve["total_epoch"].iloc[:: max(1, len(curve) // 8)])
    top.set_xticklabels([f"{h:.1f} h" for h in curve["hours"].iloc[:: max(1, len(curve) // 8)]], fontsize=7)
    ax.set_xlabel("epoch (runs end to end)")
    ax.set_ylabel("validation mAP (pooled validation sets)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
