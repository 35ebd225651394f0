"""Reading footage: videos and JPEG folders, frame times, streaming, and refusing damaged input."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from roadscan.detector.footage import Frame, open_footage
from roadscan.core.errors import FootageError


def frame_image(i: int, w: int, h: int) -> np.ndarray:
    """Left half white, a red band on top, and a bar that moves with i (cheap to encode)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = 255
    img[: h // 4] = (255, 0, 0)
    x = (i * 7) % w
    img[h // 2 :, x : x + 8] = (0, 0, 255)
    return img


def write_video(path: Path, n: int = 30, w: int = 160, h: int = 96, fps: int = 10, *, codec: str = "libx264",
                faststart: bool = False, rotation: int | None = None, creation_time: str | None = None) -> Path:
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as out:
        if creation_time:
            out.metadata["creation_time"] = creation_time
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(n):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame_image(i, w, h), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_jpeg(path: Path, *, size=(64, 48), taken: str | None = None, subsec: str | None = None,
               offset: str | None = None, orientation: int | None = None, color=(200, 30, 30)) -> Path:
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    ifd = exif.get_ifd(0x8769)
    for tag, value in ((36867, taken), (37521, subsec), (36881, offset)):
        if value is not None:
            ifd[tag] = value
    Image.new("RGB", size, color).save(path, quality=95, exif=exif)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "drive.mp4", creation_time="2024-05-01T10:00:00.000000Z")


# --- video -------------------------------------------------------------------------------------


def test_video_info_and_timestamps(video):
    with open_footage(video) as footage:
        info = footage.info
        assert (info.kind, info.width, info.height, info.frame_count) == ("video", 160, 96, 30)
        assert info.fps == pytest.approx(10)
        assert info.duration_s == pytest.approx(3.0)
        assert info.start_time == datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
        np.testing.assert_allclose(footage.timestamps(), np.arange(30) / 10, atol=1e-9)


def test_all_frames_stream_in_order_as_rgb(video):
    with open_footage(video) as footage:
        frames = list(footage.frames())
    assert [f.index for f in frames] == list(range(30))
    assert [f.time_s for f in frames] == pytest.approx(np.arange(30) / 10)
    image = frames[0].image
    assert image.shape == (96, 160, 3) and image.dtype == np.uint8
    top_left, bottom_left, bottom_right = image[5, 5], image[90, 40], image[90, 150]
    assert top_left[0] > 200 and top_left[1] < 60 and top_left[2] < 60  # red, not blue: RGB order
    assert bottom_left.min() > 200 and bottom_right.max() < 60


@pytest.mark.parametrize("keep", [
    np.isin(np.arange(30), [0, 7, 8, 29]),  # boolean mask
    {29, 8, 0, 7},  # set of indices
    [0, 7, 8, 29],
])
def test_only_kept_frames_are_delivered(video, keep):
    with open_footage(video) as footage:
        frames = list(footage.frames(keep=keep))
    assert [f.index for f in frames] == [0, 7, 8, 29]
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.7, 0.8, 2.9])
    with open_footage(video) as footage:  # the same picture as when decoding everything
        everything = {f.index: f.image for f in footage.frames()}
    for f in frames:
        np.testing.assert_array_equal(f.image, everything[f.index])


def test_keeping_nothing_decodes_nothing(video):
    with open_footage(video) as footage:
        assert list(footage.frames(keep=np.zeros(30, bool))) == []
        with pytest.raises(ValueError):
            list(footage.frames(keep=np.ones(5, bool)))
        with pytest.raises(ValueError):
            list(footage.frames(keep=[30]))


def test_frames_can_be_read_twice_and_abandoned(video):
    footage = open_footage(video)
    stream = footage.frames()
    assert next(stream).index == 0
    assert [f.index for f in footage.frames(keep=[3])] == [3]  # a second, independent stream
    assert next(stream).index == 1
    footage.close()  # with a stream half-read: it stops cleanly (closing its decoder under it would crash)
    assert list(stream) == []


def test_display_rotation_is_applied(tmp_path):
    path = write_video(tmp_path / "phone.mp4", n=3, rotation=90)
    with open_footage(path) as footage:
        assert (footage.info.width, footage.info.height) == (96, 160)
        image = next(footage.frames()).image
    assert image.shape == (160, 96, 3)
    # a quarter turn counter-clockwise puts the red top band on the left and the white left half at the bottom
    assert image[80, 3, 0] > 200 and image[80, 3, 2] < 60
    assert image[150, 40].min() > 200 and image[5, 40].max() < 60


def test_missing_creation_time_gives_no_start_time(tmp_path):
    with open_footage(write_video(tmp_path / "plain.mp4", n=2)) as footage:
        assert footage.info.start_time is None


def test_unset_camera_clock_gives_no_start_time(tmp_path):
    path = write_video(tmp_path / "epoch.mp4", n=2, creation_time="1970-01-01T00:00:00.000000Z")
    with open_footage(path) as footage:
        assert footage.info.start_time is None


def test_bounded_memory_while_streaming(tmp_path):
    """300 frames of 640x360 are 207 MB as arrays; streaming must hold only a few at a time.

    Measured as process RSS: the arrays come from FFmpeg buffers that tracemalloc does not see.
    Holding every frame grows RSS by ~250 frames' worth; streaming grows it by well under one.
    """
    psutil = pytest.importorskip("psutil")
    path = write_video(tmp_path / "long.mp4", n=300, w=640, h=360, fps=30)
    frame_bytes = 640 * 360 * 3
    process = psutil.Process()
    rss = []
    with open_footage(path) as footage:
        for frame in footage.frames():
            assert frame.image.shape == (360, 640, 3)
            rss.append(process.memory_info().rss)
    assert len(rss) == 300
    growth = max(rss[50:]) - rss[50]  # after the decoder threads have their buffers
    assert growth < 40 * frame_bytes, f"RSS grew {growth / 1e6:.0f} MB after warm-up"


# --- damaged or wrong video input ------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(FootageError, match="no such file") as err:
        open_footage(tmp_path / "nope.mp4")
    assert err.value.path == tmp_path / "nope.mp4" and err.value.hint


def test_garbage_bytes_are_not_a_video(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(FootageError, match="cannot read this file as a video") as err:
        open_footage(path)
    assert err.value.path == path


def test_truncated_video_without_its_index(video, tmp_path):
    """A plain MP4 keeps its index at the end: cut short, the container cannot be parsed."""
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[: int(video.stat().st_size * 0.3)])
    with pytest.raises(FootageError, match="cannot read this file as a video"):
        open_footage(cut)


def test_truncated_video_with_its_index_first(tmp_path):
    """A 'faststart' MP4 (as cameras write) keeps its index first: cut short, frames are missing."""
    full = write_video(tmp_path / "fast.mp4", faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.3)])
    with pytest.raises(FootageError, match=r"truncated: its header lists 30 frames but the data ends after \d+"):
        open_footage(cut)


def test_damaged_data_mid_way_names_the_frame(tmp_path):
    full = write_video(tmp_path / "fast.mp4", n=60, faststart=True)
    data = bytearray(full.read_bytes())
    at = int(len(data) * 0.5)
    data[at : at + 3000] = np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    with open_footage(damaged) as footage:  # the index is intact, so it opens
        assert footage.info.frame_count == 60
        assert len(list(footage.frames(keep=[0, 5]))) == 2  # frames before the damage still read
        with pytest.raises(FootageError, match=r"decoding breaks at frame \d+ of 60 \(\d+\.\d\d s\)") as err:
            list(footage.frames())
    assert err.value.path == damaged


def test_audio_only_file(tmp_path):
    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=8000)
        for i in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(FootageError, match="no video stream"):
        open_footage(path)


def test_video_stream_without_frames(tmp_path):
    path = tmp_path / "empty.avi"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    with pytest.raises(FootageError, match="holds no frames"):
        open_footage(path)


@pytest.mark.parametrize("suffix", ["png", "bmp", "webp", "tiff", "gif"])
def test_a_still_image_is_no_footage(tmp_path, suffix):
    """A PNG screenshot once passed as a one-frame video: a "longitudinal crack" on a map screenshot."""
    path = tmp_path / f"screenshot.{suffix}"
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(path)
    with pytest.raises(FootageError, match="is a still image") as err:
        open_footage(path)
    assert err.value.path == path and "JPEG" in err.value.hint


def test_a_png_renamed_to_mp4_is_still_no_footage(tmp_path):
    path = tmp_path / "drive.mp4"
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(path, format="PNG")
    with pytest.raises(FootageError, match=r"still image \(PNG\)"):
        open_footage(path)


def test_text_and_gps_files_are_no_footage(tmp_path):
    path = tmp_path / "drive.gpx"
    path.write_text('<?xml version="1.0"?><gpx version="1.1" creator="x"></gpx>\n')
    with pytest.raises(FootageError, match="cannot read this file as a video") as err:
        open_footage(path)
    assert err.value.path == path


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_named_pipe_is_refused_without_waiting(tmp_path):
    """A FIFO given as footage once blocked forever in the demuxer."""
    fifo = tmp_path / "live.mp4"
    os.mkfifo(fifo)
    with pytest.raises(FootageError, match="not a regular file"):
        open_footage(fifo)


# --- JPEG folders --------------------------------------------------------------------------------


def test_folder_times_from_exif_in_capture_order(tmp_path):
    # names out of capture order on purpose: frames come in capture order
    write_jpeg(tmp_path / "b.jpg", taken="2024:05:01 12:00:01", subsec="5", offset="+02:00", color=(0, 0, 255))
    write_jpeg(tmp_path / "a.jpg", taken="2024:05:01 12:00:02", offset="+02:00", color=(0, 255, 0))
    write_jpeg(tmp_path / "c.jpg", taken="2024:05:01 12:00:00", subsec="25", offset="+02:00", color=(255, 0, 0))
    (tmp_path / "notes.txt").write_text("not a frame")
    with open_footage(tmp_path) as footage:
        info = footage.info
        assert (info.kind, info.width, info.height, info.frame_count) == ("images", 64, 48, 3)
        assert info.start_time == datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=timezone.utc)
        np.testing.assert_allclose(footage.timestamps(), [0.0, 1.25, 1.75])
        assert info.fps == pytest.approx(2 / 1.75)
        frames = list(footage.frames())
    assert [f.path.name for f in frames] == ["c.jpg", "b.jpg", "a.jpg"]
    assert all(isinstance(f, Frame) and f.image.shape == (48, 64, 3) for f in frames)
    assert frames[0].image[10, 10, 0] > 200 and frames[1].image[10, 10, 2] > 200  # RGB order


def test_folder_without_exif_uses_name_order_and_the_given_rate(tmp_path):
    for name in ("frame10.jpg", "frame2.jpg", "frame1.JPEG"):
        write_jpeg(tmp_path / name)
    with open_footage(tmp_path, fps_for_images=2.0) as footage:
        assert footage.info.start_time is None and footage.info.fps == 2.0
        np.testing.assert_allclose(footage.timestamps(), [0.0, 0.5, 1.0])
        assert [f.path.name for f in footage.frames(keep=[0, 2])] == ["frame1.JPEG", "frame10.jpg"]


def test_exif_orientation_turns_the_frame(tmp_path):
    write_jpeg(tmp_path / "turned.jpg", size=(64, 48), orientation=6)
    with open_footage(tmp_path) as footage:
        assert (footage.info.width, footage.info.height) == (48, 64)
        assert next(footage.frames()).image.shape == (64, 48, 3)


def test_single_photo_is_footage_of_one_frame(tmp_path):
    photo = write_jpeg(tmp_path / "photo.jpg", taken="2024:05:01 12:00:00")
    with open_footage(photo) as footage:
        assert footage.info.frame_count == 1 and footage.info.path == photo
        assert footage.info.start_time == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)  # no offset: UTC


def test_empty_folder(tmp_path):
    with pytest.raises(FootageError, match=r"no JPEG frames .*\(it is empty\)"):
        open_footage(tmp_path)


def test_folder_without_jpegs(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "frame.png")
    with pytest.raises(FootageError, match=r"no JPEG frames .*\(it holds 1 other files, e.g. frame.png\)"):
        open_footage(tmp_path)


def test_unreadable_jpeg_is_named(tmp_path):
    write_jpeg(tmp_path / "1.jpg")
    (tmp_path / "2.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(FootageError, match="cannot read image 2.jpg") as err:
        open_footage(tmp_path)
    assert err.value.path == tmp_path / "2.jpg"


def test_truncated_jpeg_fails_when_decoded(tmp_path):
    write_jpeg(tmp_path / "1.jpg")
    noisy = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(tmp_path / "2.jpg", quality=95)
    data = (tmp_path / "2.jpg").read_bytes()
    (tmp_path / "2.jpg").write_bytes(data[: len(data) // 2])
    with open_footage(tmp_path) as footage:  # headers are intact
        assert len(list(footage.frames(keep=[0]))) == 1
        with pytest.raises(FootageError, match=r"frame 1 \(2.jpg\) cannot be decoded") as err:
            list(footage.frames())
    assert err.value.path == tmp_path / "2.jpg"


def test_images_of_different_sizes_are_refused(tmp_path):
    write_jpeg(tmp_path / "1.jpg", size=(64, 48))
    write_jpeg(tmp_path / "2.jpg", size=(32, 24))
    with pytest.raises(FootageError, match="differ in size: 1.jpg is 64x48 but 2.jpg is 32x24"):
        open_footage(tmp_path)


# --- real footage --------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_gopro_clip(shared_data):
    path = shared_data / "gps" / "gopro_max_gpmf_gps.mp4"
    with open_footage(path) as footage:
        info = footage.info
        assert (info.width, info.height, info.frame_count) == (848, 480, 315)
        assert info.fps == pytest.approx(30000 / 1001)
        assert info.duration_s == pytest.approx(10.51, abs=0.01)
        assert info.start_time == datetime(2019, 11, 18, 15, 45, 32, tzinfo=timezone.utc)
        times = footage.timestamps()
        assert len(times) == 315 and np.all(np.diff(times) > 0)
        frames = list(footage.frames(keep=[0, 150, 314]))
    assert [f.index for f in frames] == [0, 150, 314]
    assert frames[2].time_s == pytest.approx(314 * 1001 / 30000)
    assert all(f.image.shape == (480, 848, 3) for f in frames)
    assert frames[1].image.std() > 10  # a real picture, not a blank


@pytest.mark.realdata
def test_real_video_with_b_frames(shared_data):
    """sample-5s.mp4 stores frames out of presentation order; times must still rise."""
    with open_footage(shared_data / "gps" / "sample-5s.mp4") as footage:
        times = footage.timestamps()
        assert footage.info.frame_count == 171 and np.all(np.diff(times) > 0)
        frame = next(footage.frames(keep=[100]))
    assert frame.time_s == pytest.approx(100 / 30) and frame.image.shape == (1080, 1920, 3)


@pytest.mark.realdata
def test_real_photo_with_exif(shared_data):
    with open_footage(shared_data / "gps" / "exif_gps_street_photo.jpg") as footage:
        info = footage.info
        assert (info.kind, info.width, info.height, info.frame_count) == ("images", 3840, 2160, 1)
        assert info.start_time is not None and info.start_time.tzinfo is not None
