"""samfuse.io.checkpoint: every bad weight file is one line naming the file; good ones load on the CPU."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from samfuse.io import InputError
from samfuse.io.checkpoint import CheckpointError, check_state_dict, load_state_dict
from shared_paths import REFERENCE

OFFICIAL = REFERENCE / "sage" / "sage_student_official.pt"


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4))


def assert_one_line(err: pytest.ExceptionInfo, path: Path, reason: str) -> None:
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert reason in text
    assert isinstance(err.value, InputError)


def test_plain_state_dict_round_trip(tmp_path: Path) -> None:
    model = small_model()
    path = tmp_path / "m.pt"
    torch.save(model.state_dict(), path)
    state = load_state_dict(path)
    assert list(state) == list(model.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value)
    check_state_dict(state, model, path)  # no error


def test_authors_checkpoint_saved_on_cuda_loads_on_cpu() -> None:
    state = load_state_dict(OFFICIAL)
    assert len(state) == 121
    assert all(t.device.type == "cpu" for t in state.values())
    assert state["module1.0.weight"].shape == (32, 2, 3, 3)
    assert int(state["module1.1.num_batches_tracked"]) == 2925
    params = sum(t.numel() for k, t in state.items() if "running" not in k and "num_batches" not in k)
    assert params == 135_617


def test_safetensors_round_trip(tmp_path: Path) -> None:
    model = small_model()
    path = tmp_path / "m.safetensors"
    save_file(model.state_dict(), str(path))
    state = load_state_dict(path)
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value)


def test_corrupt_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_file(small_model().state_dict(), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])
    with pytest.raises(CheckpointError) as err:
        load_state_dict(path)
    assert_one_line(err, path, "not a readable safetensors file")


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_wrapper_is_unwrapped(tmp_path: Path, wrapper: str) -> None:
    model = small_model()
    path = tmp_path / "wrapped.pt"
    torch.save({wrapper: model.state_dict(), "epoch": 3}, path)
    state = load_state_dict(path)
    assert set(state) == set(model.state_dict())


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError) as err:
        load_state_dict(path)
    assert_one_line(err, path, "no such file")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as err:
        load_state_dict(tmp_path)
    assert_one_line(err, tmp_path, "is a directory")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pt"
    path.touch()
    with pytest.raises(CheckpointError) as err:
        load_state_dict(path)
    assert_one_line(err, path, "empty file")


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_real_checkpoint(tmp_path: Path, keep: float) -> None:
    data = OFFICIAL.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError) as err:
        load_state_dict(path)
    assert_one_line(err, path, "truncated or corrupt")


def test_truncated_legacy_pickle_format(tmp_path: Path) -> None:
    full = tmp_path / "legacy_full.pt"
    torch.save(small_model().state_dict(), full, _use_new_zipfile_serialization=False)
    path = tmp_path / "legacy.pt"
    path.write_bytes(full.read_bytes()[:-40])
    with pytest.raises(CheckpointError) as err:
        load_state_dict(path)
    assert_one_line(err, path, "truncated or corrupt")


def test_not_a_checkpoint_at_all(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("these are my notes, not weights\n" * 20)
    with pytest.raises(CheckpointError) as err:
        load_state_dict(path)
    assert_one_line(err, path, "not a PyTorch checkpoint")


def test_pickled_module_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "module.pt"
    torch.save(small_model(), path)  # a full pickled nn.Module: weights_only refuses to build it
    with pytest.raises(CheckpointError) as err:
        load_state_dict(path)
    assert_one_line(err, path, "not a state dict (a pickled object that samfuse will not unpickle)")


def test_plain_pickle_of_an_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "obj.pkl"
    with path.open("wb") as fh:
        pickle.dump({"weight": Path("/etc")}, fh)
    with pytest.raises(CheckpointError) as err:
        load_state_dict(path)
    assert_one_line(err, path, "not a state dict (a pickled object")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([torch.zeros(2)], "it holds a list"),
        ({}, "it holds an empty mapping"),
        ({"w": torch.zeros(2), "epoch": 3}, "entry 'epoch' is not a tensor (int)"),
        ({1: torch.zeros(2)}, "key 1 is not a string"),
    ],
)
def test_pickle_that_is_not_a_state_dict(tmp_path: Path, payload: object, reason: str) -> None:
    path = tmp_path / "odd.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as err:
        load_state_dict(path)
    assert_one_line(err, path, "not a state dict")
    assert reason in str(err.value)


def test_wrong_key_missing_and_unexpected(tmp_path: Path) -> None:
    model = small_model()
    state = model.state_dict()
    path = tmp_path / "m.pt"
    renamed = {("0.kernel" if k == "0.weight" else k): v for k, v in state.items()}
    with pytest.raises(CheckpointError) as err:
        check_state_dict(renamed, model, path, what="toy")
    assert_one_line(err, path, "tensor '0.weight' is missing; this is not a toy checkpoint")

    extra = dict(state, **{"2.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError) as err:
        check_state_dict(extra, model, path)
    assert_one_line(err, path, "unexpected tensor '2.weight'")


def test_wrong_shape_names_first_mismatch(tmp_path: Path) -> None:
    model = small_model()
    other = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    path = tmp_path / "m.pt"
    with pytest.raises(CheckpointError) as err:
        check_state_dict(other.state_dict(), model, path)
    assert_one_line(err, path, "tensor '0.weight' has shape (4, 3, 3, 3), the model expects (4, 2, 3, 3)")


def test_expected_can_be_a_mapping(tmp_path: Path) -> None:
    ref = {"a": torch.zeros(3), "b": torch.zeros(2, 2)}
    check_state_dict({"a": torch.ones(3), "b": torch.ones(2, 2)}, ref, tmp_path / "x.pt")
    with pytest.raises(CheckpointError) as err:
        check_state_dict({"a": torch.ones(4), "b": torch.ones(2, 2)}, ref, tmp_path / "x.pt")
    assert "tensor 'a' has shape (4,), the model expects (3,)" in str(err.value)
