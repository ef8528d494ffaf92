"""The assembly layer: one typed spec → one :class:`~samfuse.pipeline.FusionPipeline`, the same for every entry point.

``samfuse.fuse``, ``samfuse.Fuser`` and the ``fuse``, ``eval``, ``bench``, ``robustness``, ``demo`` and ``train``
commands describe what they want as a :class:`PipelineSpec` (method, weights, method options, masks, device,
backend, seed, value ranges, colour path, tiling) and call :func:`build`; the command line only parses options into a
spec and prints the errors. One set of defaults lives here:

* a method that needs masks and names no provider gets :data:`DEFAULT_MASKS` (``regions``, weight-free), in every
  entry point (``MaskSpec.provider=None``);
* no mask cache unless one is named (``MaskSpec.cache``); the batch commands name the shared cache folder
  (:func:`default_mask_cache`), videos and the Python API compute masks in memory;
* method and provider options may be given as text (``--param steps=2``): they are converted to the type the
  builder annotates (:mod:`samfuse.options`).

Every problem is one :class:`~samfuse.io.InputError` line (never an exit, never a traceback): a method that cannot
be built is a :class:`BuildError` (``--method sage-student: sage-student needs weights: ...``, with the bare
``reason``). Nothing here imports :mod:`samfuse.cli`.

>>> spec = PipelineSpec("sage-teacher", options={"random_init": "true"})     # doctest: +SKIP
>>> pipeline = build(spec)          # masks from `regions`, computed per pair  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from samfuse.batch import DEFAULT_METHOD
from samfuse.io.errors import InputError
from samfuse.options import option_types, split_key_values, typed_options

if TYPE_CHECKING:
    from samfuse.io.colour import ColorPath
    from samfuse.io.reading import ValueRange
    from samfuse.pipeline import FusionPipeline, ResizeTo
    from samfuse.semantics import MaskProvider, MaskSource

__all__ = [
    "DEFAULT_MASKS",
    "BuildError",
    "MaskSpec",
    "PipelineSpec",
    "build",
    "build_masks",
    "build_provider",
    "pipeline_record",
    "default_mask_cache",
    "method_options",
]

#: The mask provider of a method that needs masks when none is named (weight-free, no download).
DEFAULT_MASKS = "regions"

Backend = Literal["auto", "torch", "onnx"]
Callback = Callable[[str], None]


class BuildError(InputError):
    """A pipeline that cannot be built: ``str(err)`` is ``"<subject>: <reason>"`` (one line), ``reason`` the bare
    reason (e.g. the builder's ``sage-student needs weights: ...``) for callers that name the subject themselves."""

    def __init__(self, subject: str, reason: str) -> None:
        self.subject = subject
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{subject}: {self.reason}")


def _one_line(err: BaseException) -> str:
    return " ".join(str(err.args[0] if err.args else err).split())


def _as_dict(items: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(k).replace("-", "_"): v for k, v in dict(items or {}).items()}


@dataclass(frozen=True)
class MaskSpec:
    """Where a mask-guided method's masks come from.

    ``provider``: a registered provider (``samfuse masks --list``); None: :data:`DEFAULT_MASKS`.
    ``options``: the provider's options, typed or as text (``--mask-param KEY=VALUE``).
    ``checkpoint``: the SAM checkpoint (``--mask-checkpoint``; only with ``sam``).
    ``cache``: the mask cache folder (shared with ``samfuse masks`` and training); None: compute in memory.
    """

    provider: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    checkpoint: str | Path | None = None
    cache: str | Path | None = None

    @property
    def name(self) -> str:
        """The provider used: the named one, else the default."""
        return self.provider or DEFAULT_MASKS

    @property
    def given(self) -> bool:
        """Whether a provider, its options or a checkpoint was asked for (a method without masks then warns; the
        cache folder is left out: the batch commands always name one)."""
        return bool(self.provider or self.options or self.checkpoint is not None)


@dataclass(frozen=True)
class PipelineSpec:
    """Everything a fusion pipeline is built from (see the module docstring for the defaults).

    ``method``: a registered method; ``weights``: a weights tag (``sage.authors``, ``authors``), a file, or None (the
    method's default weights); ``options``: the builder's own options (``method_options``), typed or as text;
    ``masks``: a :class:`MaskSpec`; ``backend="onnx"``: run through onnxruntime (CPU; ``weights`` may be an exported
    ``.onnx``); ``"auto"`` (the default): the method's ``preferred_backend`` (:func:`resolve_backend`); ``seed``:
    for methods that sample; ``gray``, ``resize_to``, ``ir_range``, ``vi_range``, ``color``, ``tile_pixels`` (-1:
    the method's own pixel budget; 0 or None: never tile; N: tile images above N pixels): as for
    :class:`~samfuse.pipeline.FusionPipeline`.
    """

    method: str = DEFAULT_METHOD
    weights: str | Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    masks: MaskSpec = field(default_factory=MaskSpec)
    device: str = "cpu"
    backend: Backend = "auto"
    seed: int | None = None
    gray: bool = False
    resize_to: ResizeTo = None
    ir_range: ValueRange = None
    vi_range: ValueRange = None
    color: ColorPath = "ycbcr"
    tile_pixels: int | None = -1

    def replace(self, **changes: Any) -> PipelineSpec:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_arguments(
        cls,
        method: str = DEFAULT_METHOD,
        weights: str | Path | None = None,
        *,
        method_options: Mapping[str, Any] | None = None,
        mask_provider: str | None = None,
        mask_options: Mapping[str, Any] | None = None,
        mask_cache: str | Path | None = None,
        device: str | Any = "cpu",
        **fields: Any,
    ) -> PipelineSpec:
        """The spec of the library's flat keyword arguments (``samfuse.fuse``, ``samfuse.Fuser``): the method's
        options and the mask provider's are gathered as the spec holds them; ``fields`` are the spec's own."""
        masks = MaskSpec(mask_provider, dict(mask_options or {}), None, mask_cache)
        return cls(method, weights, dict(method_options or {}), masks, device=str(device), **fields)

    def record(self, masks: MaskProvider | None, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The provenance record of images fused with this spec (:func:`samfuse.batch.fusion_record`); ``masks``:
        the provider used (None for a method without masks); ``options``: the typed method options."""
        from samfuse.batch import fusion_record

        opts = dict(method_options(self) if options is None else options)
        if self.seed is not None and uses_seed(self):  # a seed the method ignores does not change the images
            opts["seed"] = int(self.seed)
        return fusion_record(
            self.method,
            self.weights,
            options=opts,
            masks=masks,
            color=self.color,
            gray=self.gray,
            resize_to=self.resize_to,
            ir_range=self.ir_range,
            vi_range=self.vi_range,
            backend=resolve_backend(self),
            tile_pixels=self.tile_pixels,
        )


def default_mask_cache() -> Path:
    """The shared mask cache folder of the batch commands (``$SAMFUSE_CACHE_DIR/masks``, ``~/.cache/samfuse/masks``)."""
    from samfuse.io.paths import cache_dir

    return cache_dir() / "masks"


def method_options(spec: PipelineSpec) -> dict[str, Any]:
    """``spec.options`` as the builder's keyword arguments, each of the type it declares; :class:`InputError` naming
    the options the method has, or the type a value lacks (``--param steps=2.5: expected a whole number``)."""
    options = _as_dict(spec.options)
    if not options:
        return options
    if resolve_backend(spec) == "onnx":
        raise InputError("--param/--steps: not available with --backend onnx (the exported graph has no options)")
    from samfuse.models import list_methods
    from samfuse.models.registry import method_builder
    from samfuse.models.registry import method_options as known_options

    if spec.method not in list_methods():
        return typed_options(options, {})  # the unknown method is reported by the build, with the list of methods
    known = known_options(spec.method)
    unknown = [k for k in options if k not in known]
    if unknown:
        names = ", ".join(f"--param {k}" for k in unknown)
        listed = ", ".join(known) or "none"
        raise InputError(f"{names}: --method {spec.method} has no such option (its options: {listed})")
    return typed_options(options, option_types(method_builder(spec.method)))


def build_provider(masks: MaskSpec, device: str = "cpu", *, on_note: Callback | None = None) -> MaskProvider:
    """The mask provider of ``masks`` (options typed by the provider's annotations), or one :class:`InputError`."""
    from samfuse.semantics import ProviderError, UnknownOptionError, UnknownProviderError, get_provider, list_providers
    from samfuse.semantics.registry import _entry

    name = masks.name
    if name not in list_providers():
        raise InputError(f"unknown mask provider {name!r}; available: {', '.join(list_providers())}")
    options = typed_options(_as_dict(masks.options), option_types(_entry(name).builder), "--mask-param")
    if masks.checkpoint is not None:
        if name != "sam":
            raise InputError(f"--mask-checkpoint: only with --masks sam (not {name})")
        options.update({"checkpoint": Path(masks.checkpoint), "device": device})
    try:
        provider = get_provider(name, **options)
    except UnknownOptionError as err:
        raise InputError(f"--mask-param: {_one_line(err)}") from None
    except (ProviderError, UnknownProviderError, InputError) as err:  # InputError: e.g. a bad checkpoint file
        raise InputError(_one_line(err) if not isinstance(err, InputError) else str(err)) from None
    except (TypeError, ValueError) as err:
        raise InputError(f"--masks {name}: {_one_line(err)}") from None
    note = getattr(provider, "checkpoint_note", None)
    if note and on_note is not None:
        on_note(note)
    return provider


def build_masks(
    masks: MaskSpec,
    device: str = "cpu",
    *,
    inputs: Mapping[str, Path | None] | None = None,
    on_note: Callback | None = None,
) -> MaskSource:
    """The :class:`~samfuse.semantics.MaskSource` of ``masks``: its provider and cache folder. ``inputs`` (label →
    input folder): the cache must not lie among them (checked, one line)."""
    from samfuse.semantics import MaskSource

    if masks.cache is not None and inputs is not None:
        from samfuse.io.paths import check_output_dir

        check_output_dir(masks.cache, dict(inputs), option="--mask-cache")
    if masks.provider is None and on_note is not None:
        on_note(f"masks from the weight-free `{DEFAULT_MASKS}` provider (choose with --masks)")
    provider = build_provider(masks, device, on_note=on_note)
    return MaskSource(provider, None if masks.cache is None else Path(masks.cache))


def uses_seed(spec: PipelineSpec) -> bool:
    """Whether ``spec.seed`` reaches the method (torch backend, a method that samples)."""
    from samfuse.models import samples

    return resolve_backend(spec) != "onnx" and samples(spec.method)


def resolve_backend(spec: PipelineSpec) -> str:
    """The backend ``spec`` runs on: ``torch`` or ``onnx`` as given; for ``auto`` (the default), ``onnx`` when the
    method prefers it (:func:`samfuse.models.registry.preferred_backend`: ``sage-rt``), it runs on the CPU with no
    ``--param`` options, and onnxruntime is installed; ``torch`` otherwise."""
    if spec.backend != "auto":
        return spec.backend
    import importlib.util

    from samfuse.models.registry import preferred_backend

    if preferred_backend(spec.method) != "onnx" or str(spec.device) != "cpu" or _as_dict(spec.options):
        return "torch"
    return "onnx" if importlib.util.find_spec("onnxruntime") is not None else "torch"


def build(
    spec: PipelineSpec,
    *,
    inputs: Mapping[str, Path | None] | None = None,
    on_note: Callback | None = None,
    on_warning: Callback | None = None,
) -> FusionPipeline:
    """The pipeline ``spec`` describes: the method built (weights resolved, options typed), the colour and size
    rules, and, for a method that needs masks, its mask source (:func:`build_masks`; the default provider when
    none is named). ``on_note`` / ``on_warning`` get one line each (e.g. the default provider used, a seed or
    mask options a method ignores), as bare text. Raises :class:`InputError` (:class:`BuildError` for the method),
    one line."""
    import torch

    from samfuse.io.colour import COLOR_PATHS
    from samfuse.pipeline import FusionPipeline

    method = spec.method
    if spec.backend not in ("auto", "torch", "onnx"):
        raise InputError(f"--backend {spec.backend}: unknown backend (use auto, torch or onnx)")
    spec = spec.replace(backend=resolve_backend(spec))
    if spec.color not in COLOR_PATHS:
        raise InputError(f"--color {spec.color}: unknown colour path (use one of: {', '.join(COLOR_PATHS)})")
    if spec.resize_to not in (None, "ir", "vi"):
        raise InputError(f"--resize-to {spec.resize_to}: use ir or vi")
    if spec.tile_pixels is not None and int(spec.tile_pixels) < -1:
        raise InputError(f"--tile-pixels {spec.tile_pixels}: use 0 (never tile) or a number of pixels")
    device = str(spec.device)
    try:
        torch.device(device)
    except RuntimeError:
        raise InputError(f"--device {device}: not a device name (use cpu, cuda or cuda:N)") from None
    if spec.backend != "onnx" and spec.weights is not None and str(spec.weights).lower().endswith(".onnx"):
        raise InputError(f"--weights {spec.weights}: an exported ONNX file; add --backend onnx to run it")
    options = method_options(spec)
    if "seed" in options:
        if spec.seed is not None:
            raise InputError("--param seed and --seed: give the seed once (--seed)")
        spec = spec.replace(seed=options.pop("seed"))
    if spec.seed is not None:
        if uses_seed(spec):
            options["seed"] = int(spec.seed)
        elif on_warning is not None:
            from samfuse.models import samples

            why = " (--backend onnx)" if spec.backend == "onnx" and samples(method) else ""
            on_warning(f"--seed: ignored, --method {method} does not sample{why}")
    if spec.backend == "onnx" and device != "cpu":
        raise InputError(f"--backend onnx runs on the CPU (got --device {device})")
    try:
        if spec.backend == "onnx":
            from samfuse.export import onnx_method

            built: Any = onnx_method(method, spec.weights, on_note=on_note)
        else:
            from samfuse.models import build as build_method

            built = build_method(method, spec.weights, device, **options)
    except (KeyError, ValueError, TypeError, OSError, InputError) as err:
        raise BuildError(f"--method {method}", _one_line(err)) from None
    pipeline = FusionPipeline(
        built,
        None,
        device,
        gray=spec.gray,
        resize_to=spec.resize_to,
        ir_range=spec.ir_range,
        vi_range=spec.vi_range,
        color=spec.color,
        tile_pixels=spec.tile_pixels,
    )
    if pipeline.method.needs_masks is not None:
        pipeline.masks = build_masks(spec.masks, device, inputs=inputs, on_note=on_note)
    elif spec.masks.given and on_warning is not None:
        on_warning(f"--masks, --mask-*: ignored, --method {method} uses no masks")
    seed = options.pop("seed", None)
    # what it was built from, as used: typed options, the seed only where the method takes it (provenance, reports)
    pipeline.spec = spec.replace(options=options, seed=seed)
    return pipeline


def pipeline_record(pipeline: FusionPipeline) -> dict[str, Any]:
    """The provenance record of images fused by a pipeline :func:`build` made (its spec as used, the provider)."""
    if pipeline.spec is None:
        raise ValueError("pipeline_record: the pipeline was not made by samfuse.assembly.build")
    return pipeline.spec.record(pipeline.masks.provider if pipeline.masks is not None else None)


def parse_options(items: tuple[str, ...] | list[str], option: str = "--param") -> dict[str, str]:
    """``KEY=VALUE`` items as text options for a spec (typed when the spec is built); :class:`InputError`."""
    return split_key_values(items, option)
