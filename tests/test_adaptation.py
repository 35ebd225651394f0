"""Adapting the shipped model to a folder of a user's own labelled frames (`roadscan train FOLDER`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _tiny_dataset import write_image
from typer.testing import CliRunner

from roadscan.core.errors import DatasetError
from roadscan.detector.adaptation import build_frames_dataset, is_frames_folder
from roadscan.detector.models import shipped_model


def _frames_folder(root: Path, roads: dict[str, int], size: int = 64) -> Path:
    """images/ + labels/ named like survey frames: ROAD_NNN, one pothole box (class 1) each."""
    for road, n in roads.items():
        for i in range(n):
            stem = f"{road}_{i:03d}"
            write_image(root / "images" / f"{stem}.jpg", size, size, seed=i)
            (root / "labels").mkdir(exist_ok=True)
            (root / "labels" / f"{stem}.txt").write_text("1 0.5 0.5 0.3 0.2\n0 0.2 0.2 0.1 0.1\n")
    return root


def _split(result) -> dict[str, list[str]]:
    out = {}
    for folder in sorted((result.out_dir / "images").iterdir()):
        out[folder.name] = sorted(p.stem for p in folder.iterdir())
    return out


def test_roads_held_out_whole_and_frames_limited(tmp_path):
    folder = _frames_folder(tmp_path / "mine", {"RA": 4, "RB": 3, "RC": 2})
    assert is_frames_folder(folder) and not is_frames_folder(tmp_path)
    result = build_frames_dataset(folder, tmp_path / "build", {"0": "D20", "1": "D40"},
                                  val_groups=["RB"], group_pattern=r"^(R\w)_")
    split = _split(result)
    assert split["val_frames"] == ["frames_RB_000", "frames_RB_001", "frames_RB_002"]
    assert len(split["train"]) == 6 and not any("RB" in s for s in split["train"])
    labels = (result.out_dir / "labels" / "train" / "frames_RA_000.txt").read_text().split("\n")
    assert [line.split()[0] for line in labels if line] == ["3", "2"]  # 1 -> D40 (3), 0 -> D20 (2)

    fewer = build_frames_dataset(folder, tmp_path / "build4", {"0": "D20", "1": "D40"},
                                 val_groups=["RB"], group_pattern=r"^(R\w)_", frames=4)
    assert len(_split(fewer)["train"]) == 4 and set(_split(fewer)["train"]) <= set(split["train"])


def test_replay_mixes_in_training_images_of_an_earlier_build(tmp_path):
    from _tiny_dataset import make_sources

    from roadscan.detector.dataset import build_dataset

    general = build_dataset(make_sources(tmp_path / "general"), tmp_path / "general-build")
    folder = _frames_folder(tmp_path / "mine", {"RA": 3, "RB": 2})
    result = build_frames_dataset(folder, tmp_path / "build", {"0": "D20", "1": "D40"}, val_groups=["RB"],
                                  group_pattern=r"^(R\w)_", replay=general.out_dir, replay_frames=4)
    split = _split(result)
    assert sum(s.startswith("replay_") for s in split["train"]) == 4
    assert sum(s.startswith("frames_") for s in split["train"]) == 3
    assert set(split) == {"train", "val_frames"}  # the replay adds no validation set
    replayed = next(s for s in split["train"] if s.startswith("replay_seq"))  # D00 boxes keep class 0
    assert (result.out_dir / "labels" / "train" / f"{replayed}.txt").read_text().startswith("0 ")
    with pytest.raises(DatasetError, match="dataset build"):
        build_frames_dataset(folder, tmp_path / "b2", {"1": "D40"}, replay=tmp_path / "mine")


def test_without_roads_the_tail_of_the_frames_is_held_out(tmp_path):
    folder = _frames_folder(tmp_path / "mine", {"x": 10})
    split = _split(build_frames_dataset(folder, tmp_path / "build", {"1": "D40", "0": None}, val_fraction=0.2))
    assert split["val_frames"] == ["frames_x_008", "frames_x_009"]


def test_a_folder_that_is_not_labelled_frames_is_named(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetError, match="labels/") as err:
        build_frames_dataset(tmp_path, tmp_path / "b", {"0": "D40"})
    assert err.value.path == tmp_path.resolve()
    (tmp_path / "labels").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        build_frames_dataset(tmp_path, tmp_path / "b", {"0": "D40"})
    write_image(tmp_path / "images" / "a.jpg", 32, 32)
    with pytest.raises(DatasetError, match="--classes"):
        build_frames_dataset(tmp_path, tmp_path / "b", {})


def test_train_command_adapts_the_shipped_model_with_its_backbone_frozen(tmp_path):
    """One small run (training is the slow part) checks the command, the freeze and the ONNX export."""
    import torch

    from roadscan.cli import app

    folder = _frames_folder(tmp_path / "mine", {"RA": 3, "RB": 2})
    result = CliRunner().invoke(app, ["train", str(folder), "--name", "cli", "--classes", "0=D20,1=D40",
                                      "--val-groups", "RB", "--group-pattern", r"^(R\w)_", "--epochs", "1",
                                      "--imgsz", "64", "--batch", "2", "--threads", "1",
                                      "--project", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "3 to train on, 2 held out" in result.output
    onnx = tmp_path / "runs" / "cli" / "weights" / "best.onnx"
    assert f"--model {onnx}" in " ".join(result.output.split()) and onnx.is_file()

    def weights(path):
        return torch.load(path, map_location="cpu", weights_only=False)["model"].float().state_dict()

    before, after = weights(shipped_model("pt")), weights(onnx.with_suffix(".pt"))
    backbone = [k for k in before if k.startswith("model.0.") and k.endswith(".weight")]
    head = [k for k in before if k.startswith("model.23.") and k.endswith(".weight")]
    assert backbone and head
    assert all(torch.equal(before[k], after[k]) for k in backbone)  # frozen
    assert any(not torch.equal(before[k], after[k]) for k in head)  # trained
    missing = CliRunner().invoke(app, ["train", str(folder), "--name", "nocls", "--project", str(tmp_path / "runs")])
    assert isinstance(missing.exception, DatasetError) and "--classes" in str(missing.exception)
