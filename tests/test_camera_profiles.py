"""Camera profile files: built-in defaults, user files, and clear errors for bad ones."""

import pytest

from roadscan.core.errors import ConfigError
from roadscan.geo.camera import CameraProfile
from roadscan.geo.camera_profiles import load_profile, read_profiles

VAN = "[van]\nwidth = 1280\nheight = 720\nhfov_deg = 90\nmount_height_m = 2.1\n"


def test_builtin_profiles_are_sensible():
    for name in ("dashcam", "gopro", "phone", "sample-drive"):
        p = load_profile(name)
        assert 0 < p.horizon_row < p.height / 2 + 1, name
        near, _ = p.pixel_to_ground(p.width / 2, p.height - 1)
        assert 1.0 < near < 5.0, f"{name}: bottom row should see the road a few metres ahead, not {near}"


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ConfigError) as err:
        load_profile("windscreen-9000")
    assert "windscreen-9000" in str(err.value) and "dashcam" in str(err.value)


def test_user_file_overrides_and_adds(tmp_path):
    cfg = tmp_path / "cams.toml"
    cfg.write_text('[van]\nwidth = 1280\nheight = 720\nfx = 700\nfy = 700\nmount_height_m = 2.1\n'
                   'horizon_row = 300\nlateral_offset_m = -0.5\n')
    p = load_profile("van", config=cfg)
    assert p.mount_height_m == 2.1 and p.cx == 640 and p.horizon_row == pytest.approx(300)
    assert load_profile("dashcam", config=cfg).name == "dashcam"


def test_single_profile_file(tmp_path):
    cfg = tmp_path / "mycam.toml"
    cfg.write_text("width = 1920\nheight = 1080\nhfov_deg = 100\nmount_height_m = 1.3\npitch_deg = 7\n")
    assert load_profile(cfg).name == "mycam"


@pytest.mark.parametrize("body, words", [
    ("[x]\nwidth = 100\nheight = 100\nmount_height_m = 1\npitch_deg = 3\n", "hfov_deg or fx"),
    ("[x]\nwidth = 100\nheight = 100\nhfov_deg = 90\nmount_height_m = -1\npitch_deg = 3\n", "mount_height_m"),
    ("[x]\nwidth = 100\nheight = 100\nhfov_deg = 90\nmount_height_m = 1\npitch_deg = 3\nzoom = 2\n", "zoom"),
    ("[x\nwidth = 100", "not a valid TOML"),
])
def test_bad_profile_files(tmp_path, body, words):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(body)
    with pytest.raises(ConfigError) as err:
        read_profiles(cfg)
    assert words in str(err.value) and "bad.toml" in str(err.value)


@pytest.mark.parametrize("extra, field", [
    ("pitch_deg = 5\nlateral_offset_m = nan\n", "lateral_offset_m"),
    ("horizon_row = inf\n", "horizon_row"),
    ("horizon_row = 1e9\n", "horizon_row"),
    ("pitch_deg = 5\nk1 = nan\n", "k1"),
    ("pitch_deg = 5\nforward_offset_m = -inf\n", "forward_offset_m"),
    ("pitch_deg = 5\nlateral_offset_m = 40\n", "lateral_offset_m"),
    ("pitch_deg = 5\nk2 = 1e6\n", "k2"),
    ("pitch_deg = nan\n", "pitch_deg"),
])
def test_non_finite_or_unphysical_camera_values_are_refused(tmp_path, extra, field):
    """A NaN offset once placed no detection at all and marked open defects "not re-observed"."""
    cfg = tmp_path / "cams.toml"
    cfg.write_text(VAN + extra)
    with pytest.raises(ConfigError) as err:
        load_profile("van", config=cfg)
    text = str(err.value)
    assert "[van]" in text and field in text and "cams.toml" in text, text


def test_profiles_built_in_python_are_checked_too():
    with pytest.raises(ConfigError, match=r"\[t\].*mount_height_m"):
        CameraProfile.from_hfov("t", 1280, 720, 90.0, mount_height_m=float("nan"))
    with pytest.raises(ConfigError, match="roll_deg"):
        CameraProfile.from_hfov("t", 1280, 720, 90.0, mount_height_m=1.2, roll_deg=90)


def test_a_folder_given_as_a_profile_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="is a folder") as err:
        load_profile("dashcam", config=tmp_path)
    assert str(tmp_path) in str(err.value)
