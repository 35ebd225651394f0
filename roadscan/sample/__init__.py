"""roadscan's own synthetic sample drive: footage, GPS and the truth to score a run against."""

from roadscan.sample.drive import SampleDrive, make_sample_drive, plan_drive, sample_drive_cached

__all__ = ["SampleDrive", "make_sample_drive", "plan_drive", "sample_drive_cached"]
