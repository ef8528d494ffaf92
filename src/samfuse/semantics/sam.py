"""``sam``: automatic mask generation with Segment Anything (``vit_b``/``vit_l``/``vit_h``, official
``segment_anything`` package) or MobileSAM (``vit_t``, ``mobile_sam`` module of the ``mobilesam-mirror`` package).

* The model is built without weights, then the user's checkpoint (a plain ``state_dict`` as published) is
  loaded with ``torch.load(path, map_location="cpu", weights_only=True)`` — no arbitrary unpickling — and
  ``load_state_dict(strict=True)``.  The model is inferred from the state dict when not given.
* The file's sha256 is compared with the official files (:data:`KNOWN_CHECKPOINTS`); an unknown file is
  accepted and reported (:attr:`SamProvider.checkpoint_note`).
* Grey images (IR) are replicated to three channels; SAM gets RGB uint8.
* The torchvision/timm imports of both packages go through :mod:`samfuse.semantics.compat`.
* Generator presets (:data:`PRESETS`): ``sage`` (SAGE's dataset script), ``default`` (library defaults, which
  SGDFuse's design note uses), ``fast`` (16×16 points, no crops: the CPU setting).  Any generator argument can
  be overridden by keyword.  Masks with zero area are dropped; the score is SAM's ``predicted_iou``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .base import MaskProvider, MaskSet, ProviderError, as_rgb_uint8
from .registry import register_provider

__all__ = ["SamProvider", "PRESETS", "KNOWN_CHECKPOINTS", "MODELS", "missing_checkpoint_message", "file_sha256"]

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


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def infer_model(state_dict: dict[str, Any]) -> str:
    """``vit_t`` / ``vit_b`` / ``vit_l`` / ``vit_h`` from the keys and shapes of a SAM state dict."""
    if any(k.startswith("image_encoder.patch_embed.seq.") for k in state_dict):
        return "vit_t"
    pos = state_dict.get("image_encoder.pos_embed")
    if pos is not None:
        dim = int(pos.shape[-1])
        by_dim = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}
        if dim in by_dim:
            return by_dim[dim]
    raise ProviderError(
        "checkpoint is not a SAM/MobileSAM state dict (cannot tell vit_t/vit_b/vit_l/vit_h); pass --model"
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


def load_state_dict(path: Path) -> dict[str, Any]:
    """Tensors of a checkpoint, loaded with ``weights_only=True`` on the CPU (accepts ``{"model": sd}`` too)."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling refused, truncated file, not a torch file...
        msg = " ".join(str(err).split())[:300]
        raise ProviderError(f"cannot load checkpoint {path}: {type(err).__name__}: {msg}") from None
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ProviderError(f"checkpoint {path} is not a plain state dict of tensors")
    return obj


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
            raise ProviderError(f"unknown sam generator option(s): {', '.join(sorted(unknown))}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ProviderError(f"device {device}: CUDA is not available here; use device cpu")
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise ProviderError(f"checkpoint {path} does not exist; {missing_checkpoint_message()}")

        self.checkpoint = path
        self.sha256 = file_sha256(path)
        self.known = next((k for k in KNOWN_CHECKPOINTS if k.sha256 == self.sha256), None)
        state = load_state_dict(path)
        inferred = infer_model(state)
        if model is not None and model != inferred:
            raise ProviderError(f"checkpoint {path.name} holds a {inferred} model, not {model}")
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
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = " ".join(str(err).split())[:300]
            raise ProviderError(f"checkpoint {path.name} does not fit {inferred}: {first}") from None
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
