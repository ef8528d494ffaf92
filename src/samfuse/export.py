"""Exporting a fusion method to ONNX, and running an exported file through onnxruntime as a method.

Generic over registered methods: the graph is the method's :meth:`~samfuse.models.base.FusionMethod.forward_raw`
on ``(ir, vi)`` (the output before any clamping; the backend clamps to [0, 1] as ``forward`` does), exported with
the TorchScript-based exporter (no onnxscript dependency) at opset ≥ 17 with dynamic batch, height and width.
The method's facts (name, what it consumes, weights file and sha256, its model-card lines, samfuse version) are
stored in the file's ``metadata_props`` under ``samfuse.*`` keys; :class:`OnnxMethod` reads them back. One of them,
``samfuse.provenance``, is the file's provenance record (:mod:`samfuse.io.provenance`: method, sha256 of the weights
file actually loaded, shipped or given, opset, samfuse version), which :func:`onnx_method` checks before it reuses a
cached export: a stale entry (other weights, opset or version) or a corrupt one is exported again, with one note.

Methods that need masks are not exported yet (their mask inputs have no fixed layout across methods). Every
export is run through onnxruntime at two other sizes and compared with PyTorch before it is written; a method whose
computation depends on the size in Python (``laplacian`` picks its pyramid depth from it) is refused.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from samfuse import __version__
from samfuse.io import InputError, atomic_write
from samfuse.io.digest import file_sha256
from samfuse.io.paths import cache_dir
from samfuse.io.provenance import describe_difference, first_difference, normalise, weights_id
from samfuse.models import build
from samfuse.models.base import FusionMethod

#: Lowest opset samfuse exports (LayerNorm, modern Resize semantics); the default.
MIN_OPSET = 17
INPUTS = ("ir", "vi")
OUTPUT = "fused"
META_PREFIX = "samfuse."


def max_opset() -> int:
    """Highest opset the TorchScript-based exporter of the installed torch writes (20 for torch 2.13)."""
    from torch.onnx import _constants

    return int(getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", _constants.ONNX_MAX_OPSET))


class ExportError(InputError):
    """A method or file that cannot be exported or run as ONNX; one line."""


class _RawGraph(nn.Module):
    def __init__(self, method: FusionMethod) -> None:
        super().__init__()
        self.method = method

    def forward(self, ir: torch.Tensor, vi: torch.Tensor) -> torch.Tensor:
        return self.method.forward_raw(ir, vi)


def export_record(name: str, weights: str | Path | None, opset: int) -> dict[str, object]:
    """The provenance record of an export of ``name`` with ``weights`` (None: the shipped file, if any)."""
    from samfuse.batch import weights_file

    return normalise(
        {"method": name, "weights": weights_id(weights_file(name, weights)), "opset": opset, "samfuse": __version__}
    )


def method_facts(method: FusionMethod, name: str) -> dict[str, str]:
    """The ``samfuse.*`` metadata of an exported method."""
    facts = {
        "method": name,
        "consumes": method.consumes,
        "min_size": str(method.min_size),
        "samfuse_version": __version__,
        "graph": "forward_raw(ir, vi): not clamped; samfuse clamps the output to [0, 1] unless --color opencv",
        "inputs": "ir (B,1,H,W) float32 in [0, 1]; vi (B,1,H,W) luminance Y or (B,3,H,W) RGB, float32 in [0, 1]",
    }
    card = getattr(method, "card", None) or {}
    facts.update({k: str(v) for k, v in card.items() if k != "method"})
    for attr in ("weights_path", "weights_sha256"):
        value = getattr(method, attr, None)
        if value is not None:
            facts[attr.replace("weights_path", "weights_file")] = str(value)
    return facts


def export_onnx(
    method: str | FusionMethod,
    path: str | Path,
    *,
    weights: str | Path | None = None,
    name: str | None = None,
    opset: int = MIN_OPSET,
    sample_size: tuple[int, int] = (64, 96),
) -> Path:
    """Export ``method`` (a registered name, built with ``weights``, or a built method with its ``name``) to
    ``path`` (written atomically). Returns ``path``."""
    import onnx

    if not MIN_OPSET <= opset <= max_opset():
        raise ExportError(
            f"--opset {opset}: samfuse exports opsets {MIN_OPSET} to {max_opset()} (torch {torch.__version__})"
        )
    record = export_record(method, weights, opset) if isinstance(method, str) else None
    if isinstance(method, str):
        name = name or method
        method = build(method, weights)
    if name is None:
        raise ValueError("export_onnx needs name= when given a built method")
    if method.needs_masks is not None:
        raise ExportError(f"{name}: methods that need masks ({method.needs_masks}) cannot be exported to ONNX yet")
    method = method.cpu().eval()
    h, w = sample_size
    gen = torch.Generator().manual_seed(0)
    ir = torch.rand(1, 1, h, w, generator=gen)
    vi = torch.rand(1, 1 if method.consumes == "y" else 3, h, w, generator=gen)
    axes = {0: "batch", 2: "height", 3: "width"}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        try:
            torch.onnx.export(
                _RawGraph(method),
                (ir, vi),
                buf,
                dynamo=False,
                opset_version=opset,
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                dynamic_axes={"ir": axes, "vi": axes, OUTPUT: axes},
            )
        except (RuntimeError, ValueError, TypeError) as err:  # the exporter's own failures: one line
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ExportError(f"{name}: the ONNX exporter failed at opset {opset} ({first})") from None
    model = onnx.load_from_string(buf.getvalue())
    _verify(model.SerializeToString(), method, name)
    facts = method_facts(method, name)
    if record is not None:
        facts["provenance"] = json.dumps(record, sort_keys=True)
    onnx.helper.set_model_props(model, {META_PREFIX + k: v for k, v in facts.items()})
    model.doc_string = f"samfuse {__version__}: {name}"
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    path = Path(path)
    atomic_write(path, lambda fh: fh.write(data))
    return path


#: Sizes (H, W) at which an export is checked against PyTorch: odd, and large enough that size-dependent Python
#: control flow frozen by tracing (e.g. a pyramid depth chosen from the size) shows up as a difference.
VERIFY_SIZES = ((61, 83), (133, 201))
VERIFY_ATOL = 1e-4


def _verify(data: bytes, method: FusionMethod, name: str) -> None:
    """Run the traced graph at :data:`VERIFY_SIZES` and refuse the export unless it matches ``forward_raw``."""
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(1)
    for h, w in VERIFY_SIZES:
        ir = torch.rand(1, 1, h, w, generator=gen)
        vi = torch.rand(1, 1 if method.consumes == "y" else 3, h, w, generator=gen)
        with torch.inference_mode():
            want = method.forward_raw(ir, vi).numpy()
        (got,) = session.run([OUTPUT], {"ir": ir.numpy(), "vi": vi.numpy()})
        err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
        if not err <= VERIFY_ATOL:
            raise ExportError(
                f"{name}: the exported graph does not reproduce the method at {w}×{h} (max difference {err:.3g}); "
                "its computation depends on the image size in a way tracing cannot keep, so it is not exportable"
            )


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``samfuse.*`` metadata of an exported file (prefix removed)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key[len(META_PREFIX) :]: p.value for p in model.metadata_props if p.key.startswith(META_PREFIX)}


class OnnxMethod(FusionMethod):
    """An exported method run by onnxruntime on the CPU; behaves like the :class:`FusionMethod` it came from."""

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ExportError(f"{self.path}: no such ONNX file")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Like OMP_WAIT_POLICY=PASSIVE for torch: idle pool threads sleep instead of spinning, so the I/O worker
        # threads of `samfuse fuse` (and other processes) get the cores (faster on the loaded 2-core VM).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for unreadable files
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ExportError(f"{self.path}: not a readable ONNX file ({first})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.facts = {k[len(META_PREFIX) :]: v for k, v in meta.items() if k.startswith(META_PREFIX)}
        if "method" not in self.facts:
            raise ExportError(f"{self.path}: not exported by samfuse (no samfuse.method metadata)")
        self.name = self.facts["method"]
        self.consumes = self.facts.get("consumes", "y")  # type: ignore[misc]  (instance value of the ClassVar)
        self.min_size = int(self.facts.get("min_size", "1"))  # type: ignore[misc]

    def forward_raw(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        feeds = {
            "ir": np.ascontiguousarray(ir.detach().cpu().float().numpy()),
            "vi": np.ascontiguousarray(vi.detach().cpu().float().numpy()),
        }
        (out,) = self.session.run([OUTPUT], feeds)
        return torch.from_numpy(out).to(ir.device)

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        return self.forward_raw(ir, vi, masks).clamp(0.0, 1.0)


def onnx_method(
    name: str,
    weights: str | Path | None = None,
    *,
    cache: str | Path | None = None,
    opset: int = MIN_OPSET,
    threads: int | None = None,
    on_note: Callable[[str], None] | None = None,
) -> OnnxMethod:
    """The onnxruntime backend of method ``name``.

    ``weights`` ending in ``.onnx``: that exported file (its method must be ``name``). Otherwise the method is
    exported once into ``cache`` (default :func:`cache_dir` ``/onnx``), keyed by method, the sha256 of the weights
    file it loads (the given one, else the shipped one), opset and samfuse version, and reused afterwards while its
    provenance record (``samfuse.provenance``) matches. A cached file that is unreadable, or whose record differs
    (stale), is exported again; ``on_note`` gets one line saying so (default: a warning).
    """
    from samfuse.batch import weights_file

    if weights is not None and str(weights).lower().endswith(".onnx"):
        method = OnnxMethod(weights, threads=threads)
        if method.name != name:
            raise ExportError(f"{weights}: exported from method {method.name!r}, not {name!r}")
        return method
    if weights is not None:  # a weights name (sage.authors, ...) is its shipped file, as for the torch backend
        from samfuse.models.pretrained import resolve

        weights = resolve(name, weights)
    if weights is not None and not Path(weights).is_file():
        raise ExportError(f"{weights}: no such file")
    source = weights_file(name, weights)
    key = file_sha256(source)[:16] if source is not None else "no-weights"
    folder = Path(cache) if cache is not None else cache_dir() / "onnx"
    target = folder / f"{name}-{key}-opset{opset}-samfuse{__version__}.onnx"
    record = export_record(name, weights, opset)
    why = _stale(target, record, threads) if target.exists() else None
    if why is not None:
        line = f"{target}: {why}; exporting it again"
        if on_note is not None:
            on_note(line)
        else:
            warnings.warn(line, UserWarning, stacklevel=2)
    if not target.exists() or why is not None:
        export_onnx(name, target, weights=weights, opset=opset)
    return OnnxMethod(target, threads=threads)


def _stale(target: Path, record: dict[str, object], threads: int | None) -> str | None:
    """Why the cached export ``target`` cannot serve ``record`` (corrupt, made from other inputs), or None."""
    try:
        cached = OnnxMethod(target, threads=threads)
    except ExportError as err:
        return f"corrupt cache entry ({str(err).removeprefix(f'{target}: ')})"
    text = cached.facts.get("provenance")
    if text is None:
        return "stale cache entry (no provenance record: made by an older samfuse)"
    try:
        stored = json.loads(text)
    except ValueError:
        return "corrupt cache entry (unreadable provenance record)"
    diff = first_difference(stored, record)
    return None if diff is None else f"stale cache entry, made with {describe_difference(diff)}"
