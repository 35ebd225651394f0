"""Training offline on a tiny dataset: an interrupted run resumes from last.pt and finishes."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from _tiny_dataset import make_sources

from roadscan.detector.dataset import build_dataset
from roadscan.detector.training import train
from roadscan.core.errors import ConfigError, DatasetError, ModelError

TINY = dict(model="yolov8n.yaml", epochs=2, imgsz=64, batch=2, cache=False, threads=1, workers=0,
            close_mosaic=0)


class Interrupted(Exception):
    """Stands in for a run killed after its first epoch."""


def _stop_after_first_epoch(trainer) -> None:
    if trainer.epoch == 0:
        raise Interrupted


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return build_dataset(make_sources(root, frames=6, size=64), root / "build").data_yaml


def test_interrupted_run_resumes_from_last_checkpoint(tiny_data, tmp_path):
    with pytest.raises(Interrupted):
        train(tiny_data, project=tmp_path, name="tiny", callbacks={"on_model_save": _stop_after_first_epoch},
              **TINY)
    last = tmp_path / "tiny" / "weights" / "last.pt"
    assert torch.load(last, weights_only=False)["epoch"] == 0  # saved after epoch 1, resumable

    with pytest.raises(ConfigError, match="already exists"):
        train(tiny_data, project=tmp_path, name="tiny", **TINY)

    result = train(tiny_data, project=tmp_path, name="tiny", resume=True, threads=1, workers=0)
    assert result.run_dir == tmp_path / "tiny" and result.best.is_file()
    epochs = pd.read_csv(result.run_dir / "results.csv")["epoch"].tolist()
    assert epochs == [1, 2]  # the resumed run continued at epoch 2, it did not start over
    assert "metrics/mAP50(B)" in result.metrics
    with pytest.raises(ModelError, match="has finished"):
        train(tiny_data, project=tmp_path, name="tiny", resume=True)


def test_resume_without_checkpoint_and_missing_inputs_are_user_errors(tiny_data, tmp_path):
    with pytest.raises(ModelError, match="no checkpoint"):
        train(tiny_data, project=tmp_path, name="never", resume=True)
    with pytest.raises(DatasetError, match="not found"):
        train(tmp_path / "missing.yaml", project=tmp_path, name="x")
    with pytest.raises(ModelError, match="not found"):
        train(tiny_data, model=tmp_path / "nope.pt", project=tmp_path, name="x")
    with pytest.raises(ModelError, match="cannot load"):
        train(tiny_data, model="yolo99z.yaml", project=tmp_path, name="x")
