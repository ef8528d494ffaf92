"""Loading weight files safely: one place for every method, the SAM provider and training resume.

* ``.safetensors`` files load with :func:`safetensors.torch.load_file`;
* anything else loads with ``torch.load(weights_only=True, map_location="cpu")``: tensors saved on a GPU come
  to the CPU, and no arbitrary object is ever unpickled.

Every failure is a :class:`CheckpointError` whose text is one line, ``"<path>: <reason>"`` (never PyTorch's
multi-line advice). This module imports torch, so ``samfuse.io`` does not import it eagerly: use
``from samfuse.io.checkpoint import load_state_dict``.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from samfuse.io.errors import InputError

__all__ = ["CheckpointError", "check_state_dict", "load_state_dict"]

#: Wrapper keys that training scripts commonly put around the state dict; unwrapped one level.
WRAPPER_KEYS = ("state_dict", "model")

NOT_A_STATE_DICT = "not a state dict (a pickled object that samfuse will not unpickle)"


class CheckpointError(InputError):
    """A weight file that cannot be used; ``str(err)`` is ``"<path>: <reason>"`` on one line."""


def _fail(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(f"{path}: {reason}")


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0].strip() if text else type(err).__name__


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise _fail(path, f"not a readable safetensors file ({_one_line(err)})") from None


def _load_torch(path: Path) -> object:
    """``torch.load`` with ``weights_only=True`` on the CPU; a failure comes back as a CheckpointError (returned,
    so that the caller raises it outside the ``except`` clause and no chained traceback is kept)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": our one line says what matters
            return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as err:
        # weights_only refuses globals it does not know (a pickled nn.Module, a custom class, ...).
        if "Weights only load failed" in str(err):
            return _fail(path, NOT_A_STATE_DICT)
        return _fail(path, f"not a PyTorch checkpoint ({_one_line(err)})")
    except (EOFError, zipfile.BadZipFile) as err:
        return _fail(path, f"truncated or corrupt checkpoint ({_one_line(err)})")
    except OSError as err:
        return _fail(path, f"cannot read ({err.strerror or _one_line(err)})")
    except RuntimeError as err:
        msg = str(err)
        if any(s in msg for s in ("zip archive", "central directory", "unexpected EOF", "corrupted")):
            return _fail(path, "truncated or corrupt checkpoint (cannot read its archive)")
        return _fail(path, f"cannot load checkpoint ({_one_line(err)})")
    except Exception:  # noqa: BLE001  (the pickle reader fails with KeyError, ValueError, ... on foreign bytes)
        return _fail(path, "not a PyTorch checkpoint (neither a zip archive nor a pickle that torch can read)")


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a flat ``name → Tensor`` mapping from ``path`` (on the CPU), or raise :class:`CheckpointError`.

    A ``{"state_dict": {...}}`` or ``{"model": {...}}`` wrapper is unwrapped (one level).
    """
    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file")
    if path.is_dir():
        raise _fail(path, "is a directory, not a weight file")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise _fail(path, f"cannot read ({err.strerror or err})") from None
    if size == 0:
        raise _fail(path, "empty file (0 bytes)")
    if path.suffix.lower() == ".safetensors":
        obj: object = _load_safetensors(path)
    else:
        obj = _load_torch(path)
        if isinstance(obj, CheckpointError):
            raise obj
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        kind = "an empty mapping" if isinstance(obj, Mapping) else f"a {type(obj).__name__}"
        raise _fail(path, f"not a state dict (it holds {kind}, not a mapping of tensor names to tensors)")
    for key, value in obj.items():
        if not isinstance(key, str):
            raise _fail(path, f"not a state dict (key {key!r} is not a string)")
        if not isinstance(value, torch.Tensor):
            raise _fail(path, f"not a state dict (entry {key!r} is not a tensor ({type(value).__name__}))")
    return dict(obj)


def _shape(t: torch.Tensor) -> str:
    dims = tuple(t.shape)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def check_state_dict(
    state: Mapping[str, torch.Tensor],
    expected: nn.Module | Mapping[str, torch.Tensor],
    path: str | Path,
    *,
    what: str = "model",
) -> None:
    """Raise :class:`CheckpointError` unless ``state`` has exactly ``expected``'s keys and shapes.

    The message names the first missing key, else the first unexpected key, else the first tensor whose shape
    differs (in ``expected``'s order).
    """
    ref = expected.state_dict() if isinstance(expected, nn.Module) else expected
    path = Path(path)
    missing = [k for k in ref if k not in state]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise _fail(path, f"tensor {missing[0]!r} is missing{more}; this is not a {what} checkpoint")
    unexpected = [k for k in state if k not in ref]
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise _fail(path, f"unexpected tensor {unexpected[0]!r}{more}; this is not a {what} checkpoint")
    for key, want in ref.items():
        got = state[key]
        if tuple(got.shape) != tuple(want.shape):
            raise _fail(path, f"tensor {key!r} has shape {_shape(got)}, the {what} expects {_shape(want)}")
