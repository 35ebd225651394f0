"""How precisely roadscan places defects: the synthetic drive with perfect boxes (truth oracle).

Prints, for sightings 5-25 m ahead, the median ground-position error of our footprint-centre
projection and of the naive bottom-centre projection (the baseline, same sightings, same run);
then, per painted defect, how many defects it became, whether on the right segment, and the
chainage error, with precision beside recall (phantoms: stored defects farther than 1.5 m from every
painted one; duplicates: more than one stored defect for one painted defect); and what a second run
and a second survey of the same route change.

    python bench/geolocate.py [--length 800] [--gps-noise 1.0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from roadscan.api.store.database import open_store
from roadscan.api.store.filters import select_defects
from roadscan.api.store.surveys import count_rows, read_observations
from roadscan.geo.camera_profiles import load_profile
from roadscan.geo.locate import vehicle_to_world
from roadscan.geo.roads import load_network
from roadscan.pipeline import ProcessOptions, process_survey
from roadscan.sample import make_sample_drive
from roadscan.sample.oracle import TruthDetector
from roadscan.sample.score import defect_errors, defect_precision, sighting_errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=float, default=800.0, help="metres of footage")
    parser.add_argument("--gps-noise", type=float, default=1.0, help="GPS error (m, 1 sigma) of the second survey")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="roadscan-bench-"))
    t0 = time.perf_counter()
    drive = make_sample_drive(tmp / "drive", length_m=args.length)
    again = make_sample_drive(tmp / "again", length_m=args.length, gps_noise_m=args.gps_noise)
    print(f"sample drives: {args.length:.0f} m, {drive.n_frames} frames, {len(drive.defects())} painted defects "
          f"({time.perf_counter() - t0:.1f} s to render)")
    network = load_network(drive.roads)
    opts = ProcessOptions(camera=drive.camera)

    with open_store(tmp / "bench.db") as store:
        first = process_survey(drive.video, drive.gpx, store, opts, detector=TruthDetector(drive.boxes()), network=network)
        obs = read_observations(store, first.survey_id)
        err = sighting_errors(obs, drive)
        ahead = err[(err.forward_m >= 5) & (err.forward_m <= 25) & (err.visible > 0.99)]

        # Baseline: the bottom-centre of each box projected to the ground (what one does for cars).
        cam = load_profile(drive.camera)
        rows = obs.iloc[ahead.obs_row.to_numpy()]
        pose = drive.poses().set_index("frame").loc[rows.frame_index]
        f, r = cam.pixel_to_ground((rows.x1.to_numpy() + rows.x2.to_numpy()) / 2, rows.y2.to_numpy())
        bx, by = vehicle_to_world(pose.x.to_numpy(), pose.y.to_numpy(), pose.heading.to_numpy(), f, r)
        naive = pd.Series(np.hypot(bx - ahead.true_x.to_numpy(), by - ahead.true_y.to_numpy()))

        print("\nground position of sightings 5-25 m ahead (perfect boxes):")
        print(f"  ours (footprint centre): median {ahead.error_m.median():.2f} m, p90 {ahead.error_m.quantile(.9):.2f} m "
              f"over {len(ahead)} sightings")
        print(f"  baseline (box bottom-centre): median {naive.median():.2f} m, p90 {naive.quantile(.9):.2f} m")
        print(f"  ratio baseline/ours (median error): {naive.median() / ahead.error_m.median():.1f}x")
        for code, g in ahead.groupby("code"):
            print(f"    {code}: median {g.error_m.median():.2f} m ({len(g)} sightings)")

        defects = select_defects(store)
        scored = defect_errors(defects, drive, network)
        print(f"\ndefects: {len(defects)} stored for {len(scored)} painted; painted defects found exactly once: "
              f"{int((scored.matches == 1).sum())}, missed: {int((scored.matches == 0).sum())}, "
              f"duplicated: {int((scored.matches > 1).sum())}; on the right segment: {int(scored.segment_ok.sum())}")
        print(f"  chainage error: median {scored.chainage_error_m.median():.2f} m, max {scored.chainage_error_m.max():.2f} m;"
              f" position error median {scored.position_error_m.median():.2f} m")
        truth = drive.defects()
        print(f"  recall {int((scored.matches > 0).sum())}/{len(scored)}; "
              f"{defect_precision(defects, truth, network.crs.to_string()).line()}")

        before = count_rows(store)
        rerun = process_survey(drive.video, drive.gpx, store, opts, detector=TruthDetector(drive.boxes()), network=network)
        print(f"\nsecond run of the same survey: already stored = {rerun.already_stored}, rows changed: "
              f"{ {k: count_rows(store)[k] - v for k, v in before.items()} }")
        second = process_survey(again.video, again.gpx, store, opts, detector=TruthDetector(again.boxes()), network=network)
        after = select_defects(store)
        print(f"second survey (GPS noise {args.gps_noise} m): {second.defects}; defects now {len(after)} "
              f"(was {len(defects)}); seen in 2 surveys: {int((after.n_surveys == 2).sum())}")
        print(f"  position error after both surveys: median "
              f"{defect_errors(after, drive, network).position_error_m.median():.2f} m; "
              f"{defect_precision(after, truth, network.crs.to_string()).line()}")


if __name__ == "__main__":
    main()
