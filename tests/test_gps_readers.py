"""GPS readers on small files written by the tests: GPX, NMEA, CSV, EXIF JPEGs, GPMF payloads, dispatch.

Every bad-input test checks that the message names the file, since that is what a user sees.
"""

from __future__ import annotations

import struct
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pynmea2
import pytest
from PIL import Image

from roadscan.core.errors import GPSError
from roadscan.geo.gps import read_exif_fix, read_track
from roadscan.geo.gps.gpmf import Payload, parse_payload, track_from_payloads

T0 = datetime(2024, 5, 1, 10, 15, 0, tzinfo=timezone.utc)
LAT0, LON0 = 55.6761, 12.5683  # Copenhagen
M_PER_DEG_LAT = 111_320.0


@contextmanager
def raises_naming(path: Path, match: str | None = None):
    """pytest.raises(GPSError) that also checks the message names the file and gives a hint."""
    with pytest.raises(GPSError, match=match) as info:
        yield info
    assert path.name in str(info.value), str(info.value)
    assert info.value.hint


# --- GPX ------------------------------------------------------------------------------------------------

GPX_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="test" '
            'xmlns="http://www.topografix.com/GPX/1/1" '
            'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">\n')


def gpx_point(tag: str, i: int, *, speed: float | None = None, time: bool = True, hdop: float | None = None) -> str:
    lat = LAT0 + i * 10 / M_PER_DEG_LAT
    t = f"<time>{(T0 + timedelta(seconds=i)).strftime('%Y-%m-%dT%H:%M:%SZ')}</time>" if time else ""
    h = f"<hdop>{hdop}</hdop>" if hdop else ""
    ext = (f"<extensions><gpxtpx:TrackPointExtension><gpxtpx:speed>{speed}</gpxtpx:speed>"
           f"</gpxtpx:TrackPointExtension></extensions>") if speed is not None else ""
    return f'<{tag} lat="{lat:.8f}" lon="{LON0}"><ele>12.0</ele>{t}{h}{ext}</{tag}>\n'


def test_gpx_track_points_with_speed_extension_and_hdop(tmp_path):
    path = tmp_path / "ride.gpx"
    pts = "".join(gpx_point("trkpt", i, speed=9.5, hdop=1.2) for i in range(6))
    path.write_text(GPX_HEAD + f"<trk><trkseg>{pts}</trkseg></trk></gpx>")
    tr = read_track(path)
    assert tr.format == "gpx" and len(tr) == 6 and tr.skipped == {}
    assert tr.fixes["speed_mps"].tolist() == [9.5] * 6  # from the extension, not the 10 m/s positions give
    assert tr.fixes["accuracy_m"].iloc[0] == pytest.approx(6.0)
    assert tr.fixes["altitude_m"].iloc[0] == 12.0
    assert tr.start == pd.Timestamp(T0) and tr.crs == "EPSG:32633"
    assert tr.source == path


def test_gpx_routes_count_and_speed_is_derived_without_extension(tmp_path):
    path = tmp_path / "route.gpx"
    pts = "".join(gpx_point("rtept", i) for i in range(5))
    path.write_text(GPX_HEAD + f"<rte>{pts}</rte></gpx>")
    tr = read_track(path)
    assert len(tr) == 5
    assert tr.fixes["speed_mps"].to_numpy() == pytest.approx(10.0, rel=0.01)
    assert tr.fixes["heading_deg"].iloc[2] == pytest.approx(0.0, abs=1.0)


def test_gpx_points_without_time_are_counted(tmp_path):
    path = tmp_path / "partly.gpx"
    pts = "".join(gpx_point("trkpt", i, time=i != 2) for i in range(5))
    path.write_text(GPX_HEAD + f"<trk><trkseg>{pts}</trkseg></trk></gpx>")
    tr = read_track(path)
    assert len(tr) == 4 and tr.skipped == {"no time": 1}


def test_empty_gpx_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "empty.gpx"
    path.write_text('<?xml version="1.0"?><gpx version="1.1" creator="x"></gpx>')
    with raises_naming(path, "no track or route points"):
        read_track(path)


def test_gpx_with_only_waypoints_says_so(tmp_path):
    path = tmp_path / "pois.gpx"
    path.write_text(GPX_HEAD + f'<wpt lat="{LAT0}" lon="{LON0}"><name>x</name></wpt></gpx>')
    with raises_naming(path, "1 waypoints"):
        read_track(path)


def test_malformed_gpx_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "broken.gpx"
    path.write_text(GPX_HEAD + "<trk><trkseg><trkpt lat='55.6' lon='12.5'><time>2024-05-01T10:00:00Z</time>")
    with raises_naming(path, "not well-formed XML"):
        read_track(path)


def test_gpx_without_times_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "planned.gpx"
    pts = "".join(gpx_point("trkpt", i, time=False) for i in range(4))
    path.write_text(GPX_HEAD + f"<trk><trkseg>{pts}</trkseg></trk></gpx>")
    with raises_naming(path, "none of the 4 GPX points has a time"):
        read_track(path)


# --- NMEA -----------------------------------------------------------------------------------------------


def sentence(body: str) -> str:
    return f"${body}*{pynmea2.NMEASentence.checksum(body):02X}"


def ddmm(value: float, pos: str, neg: str, width: int) -> str:
    v = abs(value)
    d = int(v)
    return f"{d:0{width}d}{(v - d) * 60:07.4f},{pos if value >= 0 else neg}"


def rmc(t: datetime, lat: float, lon: float, knots: float, course: float, status: str = "A") -> str:
    return sentence(f"GPRMC,{t:%H%M%S}.00,{status},{ddmm(lat, 'N', 'S', 2)},{ddmm(lon, 'E', 'W', 3)},"
                    f"{knots:.2f},{course:.1f},{t:%d%m%y},,,A")


def gga(t: datetime, lat: float, lon: float, hdop: float = 0.9, alt: float = 31.5, quality: int = 1) -> str:
    return sentence(f"GPGGA,{t:%H%M%S}.00,{ddmm(lat, 'N', 'S', 2)},{ddmm(lon, 'E', 'W', 3)},{quality},08,"
                    f"{hdop},{alt},M,41.0,M,,")


def corrupt(line: str) -> str:
    """The same sentence with one character changed, so its checksum no longer matches."""
    return line.replace(",A,", ",A,", 1)[:8] + ("9" if line[8] != "9" else "8") + line[9:]


def north_log(n: int = 10, knots: float = 20.0) -> list[tuple[str, str]]:
    """(RMC, GGA) per second, heading north at `knots`."""
    step = knots * 1852 / 3600 / M_PER_DEG_LAT
    return [(rmc(T0 + timedelta(seconds=i), LAT0 + i * step, LON0, knots, 0.0),
             gga(T0 + timedelta(seconds=i), LAT0 + i * step, LON0)) for i in range(n)]


def test_nmea_rmc_and_gga_make_one_fix_per_second(tmp_path):
    lines = [line for pair in north_log() for line in pair]
    lines[4] = corrupt(lines[4])  # RMC at 2 s: the GGA still places that second
    lines[11] = corrupt(lines[11])  # GGA at 5 s
    lines[14] = corrupt(lines[14])  # RMC at 7 s
    lines.insert(3, "this is not NMEA")
    lines.insert(6, sentence("GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00"))  # ignored type
    lines.append(rmc(T0 + timedelta(seconds=10), 0, 0, 0, 0, status="V"))
    path = tmp_path / "drive.nmea"
    path.write_text("\r\n".join(lines) + "\r\n")
    tr = read_track(path)
    assert tr.format == "nmea" and len(tr) == 10
    assert tr.skipped == {"bad NMEA checksum": 3, "unparseable NMEA line": 1, "no fix (RMC status V)": 1}
    f = tr.fixes
    assert f["time"].iloc[0] == pd.Timestamp(T0) and f["time"].iloc[-1] == pd.Timestamp(T0 + timedelta(seconds=9))
    assert f["speed_mps"].iloc[3] == pytest.approx(20 * 1852 / 3600)  # from RMC, in m/s
    assert f["accuracy_m"].iloc[3] == pytest.approx(0.9 * 5.0) and f["altitude_m"].iloc[3] == 31.5  # from GGA
    assert np.isnan(f["accuracy_m"].iloc[5])  # that GGA had a bad checksum: RMC alone
    assert f["lat"].iloc[9] - LAT0 == pytest.approx(9 * 20 * 1852 / 3600 / M_PER_DEG_LAT, abs=1e-6)


def test_nmea_gga_takes_its_date_from_rmc_across_midnight(tmp_path):
    eve = datetime(2023, 12, 31, 23, 59, 58, tzinfo=timezone.utc)
    lines = [gga(eve, LAT0, LON0),
             rmc(eve + timedelta(seconds=1), LAT0 + 1e-4, LON0, 20, 0),
             gga(eve + timedelta(seconds=2), LAT0 + 2e-4, LON0),
             gga(eve + timedelta(seconds=3), LAT0 + 3e-4, LON0)]
    path = tmp_path / "newyear.nmea"
    path.write_text("\n".join(lines))
    tr = read_track(path)
    assert tr.skipped == {}
    assert list(tr.fixes["time"]) == [pd.Timestamp(eve + timedelta(seconds=s)) for s in range(4)]
    assert tr.end == pd.Timestamp("2024-01-01 00:00:01", tz="UTC")


def test_nmea_with_only_gga_cannot_be_dated(tmp_path):
    path = tmp_path / "gga_only.nmea"
    path.write_text("\n".join(g for _, g in north_log(3)))
    with raises_naming(path, "no RMC sentence"):
        read_track(path)


def test_nmea_with_only_bad_checksums_reports_the_count(tmp_path):
    path = tmp_path / "noisy.nmea"
    path.write_text("\n".join(corrupt(r) for r, _ in north_log(4)))
    with raises_naming(path, "4 bad NMEA checksum"):
        read_track(path)


def test_nmea_without_fix_is_refused(tmp_path):
    path = tmp_path / "indoors.nmea"
    path.write_text("\n".join(gga(T0 + timedelta(seconds=i), LAT0, LON0, quality=0) for i in range(3)))
    with raises_naming(path, "3 no fix"):
        read_track(path)


# --- CSV ------------------------------------------------------------------------------------------------


def test_csv_with_iso_times_and_optional_columns(tmp_path):
    path = tmp_path / "log.csv"
    rows = ["Time,Latitude,lng,speed,heading,accuracy,note"]
    for i in range(5):
        t = T0 + timedelta(seconds=i)
        local = (t + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S+02:00")
        stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ") if i % 2 else local
        rows.append(f"{stamp},{LAT0 + i * 1e-4:.6f},{LON0},8.5,{i},3.0,x")
    rows[3] = rows[3].replace("2024-05-01T10:15:02Z", "2024-05-01 10:15:02")  # naive = UTC
    path.write_text("\n".join(rows) + "\n")
    tr = read_track(path)
    assert tr.format == "csv" and len(tr) == 5 and tr.skipped == {}
    assert list((tr.fixes["time"] - pd.Timestamp(T0)).dt.total_seconds()) == [0, 1, 2, 3, 4]
    assert tr.fixes["speed_mps"].tolist() == [8.5] * 5 and tr.fixes["accuracy_m"].tolist() == [3.0] * 5
    assert tr.fixes["heading_deg"].iloc[2] == 2.0


def test_csv_epoch_seconds_milliseconds_semicolons_and_kmh(tmp_path):
    epoch = T0.timestamp()
    sec = tmp_path / "epoch.csv"
    sec.write_text("timestamp;lat;lon;speed_kmh\n" + "".join(
        f"{epoch + i};{LAT0 + i * 1e-4};{LON0};36\n" for i in range(3)))
    tr = read_track(sec)
    assert tr.start == pd.Timestamp(T0) and tr.fixes["speed_mps"].tolist() == pytest.approx([10.0] * 3)
    ms = tmp_path / "phone.csv"
    ms.write_text("time,latitude,longitude\n" + "".join(
        f"{int(epoch * 1000) + 500 * i},{LAT0 + i * 1e-4},{LON0}\n" for i in range(3)))
    tr = read_track(ms)
    assert tr.end == pd.Timestamp(T0) + pd.Timedelta(seconds=1)


def test_csv_rows_with_bad_values_are_counted(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("time,lat,lon\n2024-05-01T10:15:00Z,55.6761,12.5683\nsoon,55.6762,12.5683\n"
                    "2024-05-01T10:15:02Z,,12.5683\n2024-05-01T10:15:03Z,55.6764,12.5683\n")
    tr = read_track(path)
    assert len(tr) == 2 and tr.skipped == {"no time": 1, "missing coordinates": 1}


def test_csv_missing_columns_are_named(tmp_path):
    path = tmp_path / "positions.csv"
    path.write_text("when,y,x\n2024-05-01T10:15:00Z,55.6,12.5\n")
    with raises_naming(path, "no time / lat / lon column") as err:
        read_track(path)
    assert "when, y, x" in str(err.value)


def test_empty_csv_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with raises_naming(path, "empty"):
        read_track(path)


# --- EXIF -----------------------------------------------------------------------------------------------


def dms(value: float) -> tuple[float, float, float]:
    v = abs(value)
    d, m = int(v), int((v - int(v)) * 60)
    return float(d), float(m), round((v - d - m / 60) * 3600, 4)


def write_photo(path: Path, *, lat: float | None = LAT0, lon: float = LON0, gps_time: datetime | None = None,
                camera_time: str | None = None, offset: str | None = None, speed: float | None = None,
                speed_ref: str = "K", track: float | None = None, direction: float | None = None) -> Path:
    exif = Image.Exif()
    if lat is not None:
        gps = exif.get_ifd(0x8825)
        gps.update({1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon),
                    5: b"\x00", 6: 20.0})
        if gps_time:
            gps.update({29: gps_time.strftime("%Y:%m:%d"),
                        7: (float(gps_time.hour), float(gps_time.minute),
                            gps_time.second + gps_time.microsecond / 1e6)})
        if speed is not None:
            gps.update({12: speed_ref, 13: speed})
        if track is not None:
            gps.update({14: "T", 15: track})
        if direction is not None:
            gps.update({16: "T", 17: direction})
    sub = exif.get_ifd(0x8769)
    if camera_time:
        sub[36867] = camera_time
    if offset:
        sub[36881] = offset
    Image.new("RGB", (32, 24), (90, 90, 90)).save(path, quality=80, exif=exif)
    return path


def test_exif_fix_of_one_photo(tmp_path):
    path = write_photo(tmp_path / "p.jpg", lat=-33.5, lon=-70.25, gps_time=T0, camera_time="2024:05:01 06:14:58",
                       offset="-04:00", speed=20.0, speed_ref="N", direction=123.0)
    fix = read_exif_fix(path)
    assert fix.lat == pytest.approx(-33.5, abs=1e-6) and fix.lon == pytest.approx(-70.25, abs=1e-6)
    assert fix.time == T0 and fix.time_source == "GPS"
    assert fix.camera_time == T0 - timedelta(seconds=2)  # 06:14:58 at -04:00
    assert fix.speed_mps == pytest.approx(20 * 1852 / 3600)  # knots
    assert fix.heading_deg == 123.0 and fix.image_direction_deg == 123.0  # no GPSTrack: the camera direction
    assert fix.altitude_m == 20.0


@pytest.mark.parametrize("ref, mps", [("K", 10.0), ("M", 36 * 1609.344 / 3600), ("N", 36 * 1852 / 3600)])
def test_exif_speed_units(tmp_path, ref, mps):
    fix = read_exif_fix(write_photo(tmp_path / "s.jpg", gps_time=T0, speed=36.0, speed_ref=ref))
    assert fix.speed_mps == pytest.approx(mps)


def test_exif_time_falls_back_to_the_camera_clock_taken_as_utc(tmp_path):
    fix = read_exif_fix(write_photo(tmp_path / "c.jpg", camera_time="2024:05:01 10:15:00", track=45.0))
    assert fix.time == T0 and fix.time_source == "camera" and fix.heading_deg == 45.0


def test_single_photo_is_a_one_fix_track_on_the_gps_clock(tmp_path):
    path = write_photo(tmp_path / "one.jpg", gps_time=T0, camera_time="2024:05:01 12:14:55", speed=30.0, track=270.0)
    tr = read_track(path)
    assert len(tr) == 1 and tr.format == "exif"
    assert tr.video_start == pd.Timestamp(T0)  # camera clock 2 h 5 s off: the frame is put on GPS time
    assert tr.fixes["heading_deg"].iloc[0] == 270.0


def test_folder_of_frames_builds_a_track_and_counts_images_without_gps(tmp_path):
    for i in range(4):  # camera clock 3 s behind GPS time, frames 1 s apart heading north
        write_photo(tmp_path / f"frame{i}.jpg", lat=LAT0 + i * 1e-4, gps_time=T0 + timedelta(seconds=i),
                    camera_time=(T0 + timedelta(seconds=i - 3)).strftime("%Y:%m:%d %H:%M:%S"))
    write_photo(tmp_path / "frame4.jpg", lat=None, camera_time=f"{T0 + timedelta(seconds=1):%Y:%m:%d %H:%M:%S}")
    (tmp_path / "notes.txt").write_text("not an image")
    tr = read_track(tmp_path)
    assert len(tr) == 4 and tr.skipped == {"image without EXIF GPS": 1}
    assert tr.video_start == pd.Timestamp(T0)  # earliest camera time (T0 - 3 s) on the GPS clock (+3 s)
    assert tr.fixes["heading_deg"].iloc[1] == pytest.approx(0.0, abs=1.0)


def test_image_without_exif_gps_is_refused_naming_the_file(tmp_path):
    path = write_photo(tmp_path / "nogps.jpg", lat=None, camera_time="2024:05:01 10:15:00")
    with raises_naming(path, "no EXIF GPS"):
        read_exif_fix(path)
    with raises_naming(path, "no EXIF GPS"):
        read_track(path)


def test_folder_without_any_exif_gps_is_refused_naming_it(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        write_photo(folder / f"f{i}.jpg", lat=None)
    with raises_naming(folder, "none of the 3 images has EXIF GPS") as err:
        read_track(folder)
    assert "f0.jpg" in str(err.value)


# --- GoPro GPMF payloads ----------------------------------------------------------------------------------


def klv(key: str, typ: str, size: int, data: bytes) -> bytes:
    repeat = len(data) // size
    return key.encode() + (typ.encode() if typ else b"\0") + bytes([size]) + repeat.to_bytes(2, "big") + \
        data + b"\0" * (-len(data) % 4)


def nest(key: str, *children: bytes) -> bytes:
    return klv(key, "", 1, b"".join(children))


def gps5_payload(fixes: np.ndarray, gpsu: str, fix: int = 3, gpsp: int = 150) -> bytes:
    """A payload as a GoPro writes it: DEVC > STRM > SCAL, GPSF, GPSU, GPSP, GPS5 (fixes: lat, lon, alt, v2d, v3d)."""
    scal = np.array([1e7, 1e7, 1000, 1000, 100])
    raw = np.round(fixes * scal).astype(">i4").tobytes()
    strm = nest("STRM", klv("STNM", "c", 1, b"GPS (Lat., Long., Alt., 2D speed, 3D speed)"),
                klv("SCAL", "l", 4, scal.astype(">i4").tobytes()), klv("GPSF", "L", 4, struct.pack(">L", fix)),
                klv("GPSU", "U", 16, gpsu.encode()), klv("GPSP", "S", 2, struct.pack(">H", gpsp)),
                klv("GPS5", "l", 20, raw))
    accl = nest("STRM", klv("SCAL", "s", 2, struct.pack(">h", 418)), klv("ACCL", "s", 6, b"\0\1" * 3 * 4))
    return nest("DEVC", klv("DVID", "L", 4, struct.pack(">L", 1)), accl, strm)


def walk(n: int, start_lat: float = LAT0) -> np.ndarray:
    lat = start_lat + np.arange(n) * 1e-5
    return np.column_stack([lat, np.full(n, LON0), np.full(n, 15.0), np.full(n, 1.1), np.full(n, 1.2)])


def test_gps5_payload_is_scaled_and_its_gpsu_read():
    payload = parse_payload(gps5_payload(walk(18), "240501101500.250"))
    (block,) = payload.gps
    assert block.key == "GPS5" and block.values.shape == (18, 5)
    assert block.values[0, 0] == pytest.approx(LAT0, abs=1e-7) and block.values[0, 3] == pytest.approx(1.1)
    assert block.gpsu == T0 + timedelta(microseconds=250_000) and block.fix == 3 and block.dop == 1.5
    assert "ACCL" in payload.sensors


def test_gpmf_fixes_are_spread_over_each_payload_on_the_gps_clock(tmp_path):
    # GPS time = video time + 5 s, except a stale GPSU in the first payload (as in real files)
    payloads = [(0.0, 1.0, parse_payload(gps5_payload(walk(10), "240501101502.000"))),
                (1.0, 1.0, parse_payload(gps5_payload(walk(10, LAT0 + 1e-4), "240501101506.000"))),
                (2.0, 1.0, parse_payload(gps5_payload(walk(10, LAT0 + 2e-4), "240501101507.000"))),
                (3.0, 1.0, parse_payload(gps5_payload(walk(10, LAT0 + 3e-4), "240501101508.000", fix=0)))]
    tr = track_from_payloads(tmp_path / "GX010001.MP4", payloads)
    assert tr.format == "gpmf" and len(tr) == 30 and tr.skipped == {"no GPS lock": 10}
    assert tr.video_start == pd.Timestamp(T0) + pd.Timedelta(seconds=5)
    offsets = (tr.fixes["time"] - tr.video_start).dt.total_seconds().to_numpy()
    assert offsets == pytest.approx(np.arange(30) / 10)
    assert tr.fixes["accuracy_m"].iloc[0] == pytest.approx(1.5 * 5.0)


def test_gps9_gives_each_fix_its_own_time(tmp_path):
    n = 10
    days = (T0.date() - datetime(2000, 1, 1).date()).days
    secs = 10 * 3600 + 15 * 60 + 3 + np.arange(n) * 0.1  # GPS time = video time + 3 s
    rec = np.zeros(n, dtype=[(f"f{i}", t) for i, t in enumerate([">i4"] * 7 + [">u2"] * 2)])
    rec["f0"], rec["f1"] = np.round((LAT0 + np.arange(n) * 1e-5) * 1e7), round(LON0 * 1e7)
    rec["f2"], rec["f3"], rec["f4"] = 15000, 2000, 2100
    rec["f5"], rec["f6"], rec["f7"], rec["f8"] = days, np.round(secs * 1000), 120, 3
    scal = np.array([1e7, 1e7, 1000, 1000, 100, 1, 1000, 100, 1]).astype(">i4").tobytes()
    buf = nest("DEVC", nest("STRM", klv("SCAL", "l", 4, scal), klv("TYPE", "c", 1, b"lllllllSS"),
                            klv("GPS9", "?", 32, rec.tobytes())))
    payload = parse_payload(buf)
    assert payload.gps[0].values[:, 3] == pytest.approx(2.0)
    tr = track_from_payloads(tmp_path / "GX010002.MP4", [(0.0, 1.0, payload)])
    assert tr.video_start == pd.Timestamp(T0) + pd.Timedelta(seconds=3)
    assert tr.fixes["accuracy_m"].iloc[0] == pytest.approx(1.2 * 5.0)


def test_gpmf_without_a_valid_gpsu_falls_back_to_the_container_clock(tmp_path):
    payload = parse_payload(gps5_payload(walk(10), "5509100082240400"))  # junk GPSU, as some cameras write
    assert payload.gps[0].gpsu is None
    tr = track_from_payloads(tmp_path / "GX010003.MP4", [(0.0, 1.0, payload)], created="2024-05-01T10:15:00Z")
    assert tr.video_start is None and tr.start == pd.Timestamp(T0)
    with pytest.raises(GPSError, match="no GPSU"):
        track_from_payloads(tmp_path / "GX010003.MP4", [(0.0, 1.0, payload)])


def test_truncated_gpmf_payload_is_detected():
    with pytest.raises(ValueError, match="runs past"):
        parse_payload(gps5_payload(walk(5), "240501101500.000")[:-30])


def test_gpmf_without_gps_says_no_gps_naming_the_file(tmp_path):
    accl_only = nest("DEVC", nest("STRM", klv("ACCL", "s", 6, b"\0\1" * 3 * 4)))
    path = tmp_path / "karma.mp4"
    with raises_naming(path, "no GPS in this file"):
        track_from_payloads(path, [(0.0, 1.0, parse_payload(accl_only))])
    with raises_naming(path, "never had a fix"):
        track_from_payloads(path, [(0.0, 1.0, parse_payload(gps5_payload(walk(5), "240501101500.000", fix=0)))])
    assert isinstance(parse_payload(accl_only), Payload)


# --- dispatch -------------------------------------------------------------------------------------------


def test_format_is_sniffed_when_the_suffix_says_nothing(tmp_path):
    log = tmp_path / "gps.log"
    log.write_text("\n".join(r for r, _ in north_log(3)))
    assert read_track(log).format == "nmea"
    table = tmp_path / "export.txt"
    table.write_text("time,lat,lon\n2024-05-01T10:15:00Z,55.6761,12.5683\n2024-05-01T10:15:01Z,55.6762,12.5683\n")
    assert read_track(table).format == "csv"
    gpx = tmp_path / "track"
    points = "".join(gpx_point("trkpt", i) for i in range(3))
    gpx.write_text(GPX_HEAD + f"<trk><trkseg>{points}</trkseg></trk></gpx>")
    assert read_track(gpx).format == "gpx"


def test_missing_and_unknown_files_are_refused_naming_them(tmp_path):
    missing = tmp_path / "nowhere.gpx"
    with raises_naming(missing, "no such GPS file"):
        read_track(missing)
    odd = tmp_path / "track.bin"
    odd.write_bytes(b"\x00\x01\x02 not a gps file")
    with raises_naming(odd, "cannot tell what kind of GPS file"):
        read_track(odd)


def test_video_without_gpmf_says_no_gps(tmp_path):
    import av

    path = tmp_path / "dashcam.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        out.mux(stream.encode())
    with raises_naming(path, "no GPS in this file"):
        read_track(path)
