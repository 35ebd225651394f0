"""NMEA 0183 logs (pynmea2): RMC and GGA sentences from any talker (GP, GN, GL, GA, BD).

RMC gives date, time, position, speed over ground (knots) and course; GGA gives time, position,
fix quality, HDOP (turned into an accuracy estimate) and altitude. An RMC and a GGA with the same
time are one fix. GGA carries no date: it takes the date of the nearest RMC before it (or the first
one after), rolling over at midnight. Sentences without a fix (RMC status V, GGA quality 0) are
skipped. Lines with a wrong checksum are skipped and counted separately from other lines that
cannot be parsed, so a flaky serial link shows up as such in the summary; a sentence without a
checksum is accepted (some loggers strip them). Other sentence types (GSV, GSA, VTG ...) are ignored.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path

import numpy as np
import pandas as pd
import pynmea2

from roadscan.core.errors import GPSError
from roadscan.geo.gps.units import KNOTS_TO_MPS, dop_to_accuracy
from roadscan.geo.track import Track, describe_skipped

BAD_CHECKSUM = "bad NMEA checksum"
UNPARSEABLE = "unparseable NMEA line"
HINT = "give a raw NMEA 0183 log with RMC sentences (or RMC and GGA), one sentence per line"


def read_nmea(path: Path) -> Track:
    path = Path(path)
    skipped: dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    rmc, gga = [], []
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            msg = pynmea2.parse(line[line.find("$"):] if "$" in line else line)
        except pynmea2.ChecksumError:
            skip(BAD_CHECKSUM)
            continue
        except pynmea2.SentenceTypeError:
            continue  # a well-formed sentence of a type we do not use
        except (pynmea2.ParseError, ValueError):
            skip(UNPARSEABLE)
            continue
        try:
            if isinstance(msg, pynmea2.RMC):
                if msg.status != "A":
                    skip("no fix (RMC status V)")
                    continue
                rmc.append({"time": msg.datetime, "lat": _coord(msg, "latitude"), "lon": _coord(msg, "longitude"),
                            "speed_mps": _float(msg.spd_over_grnd) * KNOTS_TO_MPS,
                            "heading_deg": _float(msg.true_course),
                            "order": len(rmc) + len(gga)})
            elif isinstance(msg, pynmea2.GGA):
                if not msg.gps_qual:
                    skip("no fix (GGA quality 0)")
                    continue
                gga.append({"tod": msg.timestamp, "lat": _coord(msg, "latitude"), "lon": _coord(msg, "longitude"),
                            "altitude_m": _float(msg.altitude), "accuracy_m": dop_to_accuracy(msg.horizontal_dil),
                            "order": len(rmc) + len(gga)})
        except (ValueError, TypeError, AttributeError):  # fields present but garbled (dates, numbers)
            skip(UNPARSEABLE)

    if not rmc and not gga:
        why = f" ({describe_skipped(skipped)})" if skipped else ""
        raise GPSError(f"this NMEA log holds no usable RMC or GGA sentences{why}", path=path, hint=HINT)
    if gga and not rmc:
        raise GPSError(f"this NMEA log has {len(gga)} GGA fixes but no RMC sentence to give their date",
                       path=path, hint="configure the logger to record RMC sentences too, or convert the log to GPX")
    rmc_df = pd.DataFrame(rmc).assign(kind="RMC")
    rmc_df["time"] = pd.to_datetime(rmc_df["time"], utc=True)
    frames = [rmc_df, _dated(pd.DataFrame(gga), rmc_df).assign(kind="GGA")] if gga else [rmc_df]
    records = pd.concat(frames, ignore_index=True).sort_values("order", kind="stable")
    bad_time = records["time"].isna()
    dup = records.duplicated(["kind", "time"]) & ~bad_time
    for reason, mask in (("no time", bad_time), ("duplicate timestamp", dup)):
        if mask.any():
            skipped[reason] = skipped.get(reason, 0) + int(mask.sum())
    # An RMC and a GGA of the same time are one fix: GGA adds altitude and accuracy, RMC speed and
    # course. Fixes stay in the order of their first sentence, so the track sees the file's order.
    fixes = (records[~bad_time & ~dup].drop(columns=["order", "kind"])
             .groupby("time", sort=False).first().reset_index())
    return Track.from_fixes(fixes, source=path, format="nmea", skipped=skipped)


def _dated(gga: pd.DataFrame, rmc: pd.DataFrame) -> pd.DataFrame:
    """Give each GGA time of day the date of the nearest earlier RMC (else the first), across midnight."""
    rmc_order = rmc["order"].to_numpy()
    i = np.clip(np.searchsorted(rmc_order, gga["order"].to_numpy()) - 1, 0, len(rmc) - 1)
    ref = pd.DatetimeIndex(rmc["time"])[i]
    tod = np.array([_seconds(t) for t in gga["tod"]], dtype=np.float64)
    ref_tod = (ref - ref.normalize()) / pd.Timedelta(seconds=1)
    days = np.where(tod - ref_tod < -43200, 1, np.where(tod - ref_tod > 43200, -1, 0))
    times = ref.normalize() + pd.to_timedelta(days, unit="D") + pd.to_timedelta(tod, unit="s")
    return gga.drop(columns="tod").assign(time=times)


def _seconds(t: time | None) -> float:
    if t is None:
        return np.nan
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def _coord(msg, attr: str) -> float:
    raw = msg.lat if attr == "latitude" else msg.lon
    return float(getattr(msg, attr)) if raw else np.nan


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan
