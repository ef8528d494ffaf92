"""``sam``: automatic mask generation with Segment Anything (``vit_b``/``vit_l``/``vit_h``, official
``segment_anything`` package) or MobileSAM (``vit_t``, ``mobile_sam`` module of the ``mobilesam-mirror`` package).

* The user's checkpoint (a plain ``state_dict`` as published) is read with :func:`samfuse.io.checkpoint.
  load_state_dict` (``weights_only=True``, no arbitrary unpickling; one-line :class:`~samfuse.io.checkpoint.
  CheckpointError` for a missing, empty, corrupt or non-state-dict file), then its tensor names and shapes are
  compared with each model's (:func:`expected_shapes`: ``vit_b/l/h`` built on the meta device, so no memory is
  allocated; ``vit_t`` is small and built on the CPU).  The model is the one whose names and shapes match when
  ``model`` is not given; a mismatch names the first differing tensor and suggests ``--model`` only when another
  model matches.
* The file's sha256 is compared with the official files (:data:`KNOWN_CHECKPOINTS`); an unknown file is
  accepted and reported (:attr:`SamProvider.checkpoint_note`).
* Grey images (IR) are replicated to three channels; SAM gets RGB uint8.
* The torchvision/timm imports of both packages go through :mod:`samfuse.semantics.compat`.
* Generator presets (:data:`PRESETS`): ``sage`` (SAGE's dataset script), ``default`` (library defaults, which
  SGDFuse's notes use, docs/sgdfuse-notes.md §2), ``fast`` (16×16 points, no crops: the CPU setting).  Any
  generator argument can be overridden by keyword.  Masks with zero area are dropped; the score is SAM's
  ``predicted_iou``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from samfuse.io.digest import file_sha256

from .base import MaskProvider, MaskSet, ProviderError, as_rgb_uint8
from .registry import register_provider

__all__ = [
    "SamProvider",
    "PRESETS",
    "KNOWN_CHECKPOINTS",
    "MODELS",
    "missing_checkpoint_message",
    "file_sha256",
    "expected_shapes",
    "matching_models",
]

MODELS = ("vit_t", "vit_b", "vit_l", "vit_h")

#: ``SamAutomaticMaskGenerator`` arguments per preset (everything else: library defaults).
PRESETS: dict[str, dict[str, Any]] = {
    "sage": {
        "points_per_side": 128,
        "pred_iou_thresh": 0.86,
        "stability_score_thresh": 0.92,
        "crop_n_layers": 1,
        "crop_n_points_downscale_factor": 2,
        "min_mask_region_area": 100,
    },
    "default": {
        "points_per_side": 32,
        "pred_iou_thresh": 0.88,
        "stability_score_thresh": 0.95,
        "crop_n_layers": 0,
        "crop_n_points_downscale_factor": 1,
        "min_mask_region_area": 0,
    },
    "fast": {
        "points_per_side": 16,
        "pred_iou_thresh": 0.88,
        "stability_score_thresh": 0.95,
        "crop_n_layers": 0,
        "crop_n_points_downscale_factor": 1,
        "min_mask_region_area": 0,
    },
}

#: generator arguments that change the masks (and so enter the cache key)
_GENERATOR_KEYS = (
    "points_per_side",
    "pred_iou_thresh",
    "stability_score_thresh",
    "stability_score_offset",
    "box_nms_thresh",
    "crop_n_layers",
    "crop_nms_thresh",
    "crop_overlap_ratio",
    "crop_n_points_downscale_factor",
    "min_mask_region_area",
)
_FLOAT_KEYS = frozenset(
    {
        "pred_iou_thresh",
        "stability_score_thresh",
        "stability_score_offset",
        "box_nms_thresh",
        "crop_nms_thresh",
        "crop_overlap_ratio",
    }
)
_LIBRARY_DEFAULTS: dict[str, Any] = {
    "stability_score_offset": 1.0,
    "box_nms_thresh": 0.7,
    "crop_nms_thresh": 0.7,
    "crop_overlap_ratio": 512 / 1500,
}


@dataclass(frozen=True)
class KnownCheckpoint:
    model: str
    filename: str
    sha256: str
    size: int | None
    url: str


#: Official checkpoint files.  The sha256 values are those published for these files by several independent
#: projects that verify them on download; they could not be checked here (no checkpoint is reachable offline).
KNOWN_CHECKPOINTS: tuple[KnownCheckpoint, ...] = (
    KnownCheckpoint(
        "vit_t",
        "mobile_sam.pt",
        "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
        40_728_226,
        "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
    ),
    KnownCheckpoint(
        "vit_b",
        "sam_vit_b_01ec64.pth",
        "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
        375_042_383,
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
    ),
    KnownCheckpoint(
        "vit_l",
        "sam_vit_l_0b3195.pth",
        "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
        None,
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
    ),
    KnownCheckpoint(
        "vit_h",
        "sam_vit_h_4b8939.pth",
        "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
        None,
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
    ),
)


def missing_checkpoint_message() -> str:
    """The one-line error for ``--provider sam`` without a checkpoint."""
    return (
        "the sam provider needs a checkpoint: pass --checkpoint PATH "
        "(MobileSAM vit_t: mobile_sam.pt from https://github.com/ChaoningZhang/MobileSAM (weights/); "
        "SAM vit_b/vit_l/vit_h: sam_vit_*.pth from "
        "https://github.com/facebookresearch/segment-anything#model-checkpoints); "
        "weight-free providers that need no checkpoint: regions, thermal"
    )


def _packages(model: str) -> tuple[Any, Any]:
    """``(sam_model_registry, SamAutomaticMaskGenerator)`` of the package that builds ``model``."""
    from . import compat

    compat.install()
    try:
        if model == "vit_t":
            from mobile_sam import SamAutomaticMaskGenerator, sam_model_registry
        else:
            from segment_anything import SamAutomaticMaskGenerator, sam_model_registry
    except ImportError as err:
        pkg = "mobilesam-mirror" if model == "vit_t" else "segment-anything"
        raise ProviderError(f"the sam provider needs the {pkg} package (pip install 'samfuse[sam]'): {err}") from None
    return sam_model_registry, SamAutomaticMaskGenerator


@cache
def expected_shapes(model: str) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of ``model``'s state dict, without allocating its weights where possible.

    ``vit_b``/``vit_l``/``vit_h`` are built on the meta device; ``vit_t`` (10 M parameters) on the CPU, because
    TinyViT's constructor reads a tensor value (``.item()``), which the meta device refuses.
    """
    import torch

    registry, _ = _packages(model)
    if model == "vit_t":
        net = registry[model](checkpoint=None)
    else:
        with torch.device("meta"):
            net = registry[model](checkpoint=None)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _meta(model: str) -> dict[str, Any]:
    import torch

    return {k: torch.empty(shape, device="meta") for k, shape in expected_shapes(model).items()}


def matching_models(state: dict[str, Any], models: tuple[str, ...] = MODELS) -> list[str]:
    """The models whose tensor names and shapes are exactly those of ``state`` (packages not installed: skipped)."""
    found = []
    for model in models:
        try:
            shapes = expected_shapes(model)
        except ProviderError:
            continue
        if shapes.keys() == state.keys() and all(tuple(state[k].shape) == s for k, s in shapes.items()):
            found.append(model)
    return found


def _closest(state: dict[str, Any]) -> str | None:
    """The model a state dict is closest to by its names (most shared tensor names), or None if none is shared."""
    best, shared = None, 0
    for model in MODELS:
        try:
            n = len(expected_shapes(model).keys() & state.keys())
        except ProviderError:
            continue
        if n > shared:
            best, shared = model, n
    return best


def check_sam_state(state: dict[str, Any], path: Path, model: str | None) -> str:
    """The model ``state`` holds (``model`` if given), or a one-line :class:`CheckpointError`.

    ``--model`` is suggested only when another model's tensor names and shapes match exactly.
    """
    from samfuse.io.checkpoint import CheckpointError, check_state_dict  # torch: imported when SAM is used

    if model is None:
        found = matching_models(state)
        if found:
            return found[0]
        closest = _closest(state)
        if closest is None:
            first = next(iter(state))
            raise CheckpointError(
                f"{path}: not a SAM or MobileSAM checkpoint (no tensor has a SAM name; the first is {first!r})"
            )
        model = closest
    try:
        check_state_dict(state, _meta(model), path, what=f"SAM {model}")
    except CheckpointError as err:
        others = [m for m in matching_models(state) if m != model]
        if others:
            raise CheckpointError(f"{err}; it holds a {others[0]} model: pass --model {others[0]}") from None
        raise
    return model


@register_provider("sam", "Segment Anything / MobileSAM automatic masks from a checkpoint (--checkpoint, --preset)")
class SamProvider(MaskProvider):
    """SAM automatic mask generator behind the provider interface.

    ``checkpoint``: path of the state dict (required).  ``model``: ``vit_t``/``vit_b``/``vit_l``/``vit_h`` or
    None to infer it.  ``preset``: a key of :data:`PRESETS`.  ``device``: ``cpu``/``cuda``/``cuda:N``.
    ``points_per_batch``: prompts per decoder batch (speed/memory only, not in the cache key).
    ``channel_order``: ``"rgb"`` (correct) or ``"bgr"`` to reproduce SAGE's dataset script, which fed
    ``cv2.imread`` BGR images to SAM (no effect on grey IR).
    ``**overrides``: any other ``SamAutomaticMaskGenerator`` argument (e.g. ``points_per_side=4``).
    """

    name = "sam"
    #: generator arguments accepted through ``**overrides`` (listed by :func:`~samfuse.semantics.provider_options`)
    extra_options: ClassVar[tuple[str, ...]] = _GENERATOR_KEYS

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        model: str | None = None,
        preset: str = "fast",
        device: str = "cpu",
        points_per_batch: int | None = None,
        channel_order: str = "rgb",
        **overrides: Any,
    ) -> None:
        import torch

        if channel_order not in ("rgb", "bgr"):
            raise ProviderError(f"channel_order must be 'rgb' or 'bgr', not {channel_order!r}")
        self.channel_order = channel_order

        if checkpoint is None or str(checkpoint) == "":
            raise ProviderError(missing_checkpoint_message())
        if preset not in PRESETS:
            raise ProviderError(f"unknown sam preset {preset!r}; available: {', '.join(PRESETS)}")
        if model is not None and model not in MODELS:
            raise ProviderError(f"unknown sam model {model!r}; available: {', '.join(MODELS)}")
        unknown = set(overrides) - set(_GENERATOR_KEYS)
        if unknown:
            raise ProviderError(
                f"unknown sam generator option(s): {', '.join(sorted(unknown))}; valid: {', '.join(_GENERATOR_KEYS)}"
            )
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ProviderError(f"device {device}: CUDA is not available here; use device cpu")
        path = Path(checkpoint).expanduser()
        if not path.exists() and not path.is_symlink():
            raise ProviderError(f"checkpoint {path} does not exist; {missing_checkpoint_message()}")

        from samfuse.io.checkpoint import load_state_dict

        state = load_state_dict(path)  # CheckpointError (one line) for a directory, empty or corrupt file, ...
        inferred = check_sam_state(state, path, model)
        self.checkpoint = path
        self.sha256 = file_sha256(path)
        self.known = next((k for k in KNOWN_CHECKPOINTS if k.sha256 == self.sha256), None)
        self.model_name = inferred
        if self.known is not None and self.known.model != inferred:  # pragma: no cover - impossible for real files
            raise ProviderError(f"checkpoint {path.name} matches {self.known.filename} but holds {inferred}")
        if self.known is not None:
            self.checkpoint_note = f"checkpoint {path.name}: official {self.known.filename} (sha256 verified)"
        else:
            official = next(k for k in KNOWN_CHECKPOINTS if k.model == inferred)
            self.checkpoint_note = (
                f"checkpoint {path.name}: sha256 {self.sha256[:16]}… is not a known official file "
                f"({inferred} official: {official.filename}, sha256 {official.sha256[:16]}…); using it as given"
            )

        registry, generator_cls = _packages(inferred)
        net = registry[inferred](checkpoint=None)
        net.load_state_dict(state, strict=True)  # names and shapes were checked above
        del state
        self.device = device
        self.net = net.to(device).eval()
        self.preset = preset
        merged = {**_LIBRARY_DEFAULTS, **PRESETS[preset], **overrides}
        # one spelling per value (0 and 0.0 must give the same cache key)
        self.generator_args: dict[str, Any] = {k: (float(v) if k in _FLOAT_KEYS else int(v)) for k, v in merged.items()}
        run_args = dict(self.generator_args)
        if points_per_batch is not None:  # library default 64: measured faster per prompt than 256 on CPU
            run_args["points_per_batch"] = int(points_per_batch)
        self.generator = generator_cls(self.net, output_mode="binary_mask", **run_args)

    @property
    def model(self) -> str:
        return f"{self.model_name}:{self.sha256[:16]}"

    def params(self) -> dict[str, Any]:
        out = {k: self.generator_args[k] for k in _GENERATOR_KEYS}
        if self.channel_order != "rgb":  # only when set, so RGB keys stay as they were
            out["channel_order"] = self.channel_order
        return out

    def generate(self, image: np.ndarray) -> MaskSet:
        import torch

        rgb = as_rgb_uint8(image)
        if self.channel_order == "bgr":
            rgb = np.ascontiguousarray(rgb[:, :, ::-1])
        with torch.inference_mode():
            records = self.generator.generate(rgb)
        records = [r for r in records if int(r["area"]) > 0]
        if not records:
            return MaskSet.empty(rgb.shape[:2])
        masks = np.stack([np.asarray(r["segmentation"], dtype=bool) for r in records])
        scores = [float(r["predicted_iou"]) for r in records]
        return MaskSet.from_masks(masks, scores)
