"""`python -m roadscan.sample OUT_DIR`: write the synthetic sample drive into a folder."""

from __future__ import annotations

import argparse
import sys
import time

from roadscan.core.errors import RoadscanError
from roadscan.sample.drive import make_sample_drive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m roadscan.sample", description=__doc__)
    parser.add_argument("out_dir", help="folder to write the drive into (created if missing)")
    parser.add_argument("--length", type=float, default=800.0, help="metres of footage (default 800)")
    parser.add_argument("--seed", type=int, default=7, help="picks the route and the defects (default 7)")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--speed", type=float, default=30.0, help="km/h (default 30)")
    parser.add_argument("--defects", type=int, default=None, help="number of defects (default: one per 33 m)")
    parser.add_argument("--gps-noise", type=float, default=0.0, help="GPS error, metres (1 sigma)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        drive = make_sample_drive(args.out_dir, length_m=args.length, seed=args.seed, fps=args.fps,
                                  speed_kmh=args.speed, n_defects=args.defects, gps_noise_m=args.gps_noise)
    except RoadscanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"sample drive in {drive.folder}: {drive.n_frames} frames along {', '.join(drive.road_names)}, "
          f"{drive.params['n_defects']} defects ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
