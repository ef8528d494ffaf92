"""Named pretrained weights, in the timm manner: ``METHOD.TAG`` → a file inside the package plus what a user
needs to trust it (sha256, licence, source, training data and recipe, recorded ``msrs`` means).

``--weights sage.authors`` (or ``--weights authors`` with ``--method sage``) resolves through :func:`resolve`;
``samfuse methods`` lists the tags with their licence and which one is the method's default (used when no
``--weights`` is given); the model cards say how each was made. A path that is not a tag is used as a file.

Every shipped file is safetensors; the student files carry their output mapping in the metadata (``output``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from samfuse.io import InputError

PACKAGE = Path(__file__).resolve().parents[1]

__all__ = [
    "Pretrained",
    "PRETRAINED",
    "resolve",
    "tags_of",
    "default_tag",
    "default_file",
    "is_default",
    "lookup",
    "UnknownWeightsError",
]


class UnknownWeightsError(InputError):
    """``--weights`` is neither a known tag nor an existing file (one line, with the method's tags)."""


@dataclass(frozen=True)
class Pretrained:
    """One named set of weights."""

    #: ``METHOD.TAG``, e.g. ``sage.authors``
    name: str
    #: path of the weights file relative to the ``samfuse`` package folder
    file: str
    sha256: str
    licence: str
    source: str
    #: what it was trained on, how long, by which recipe
    data: str
    recipe: str
    #: the method's default weights (at most one per method)
    default: bool = False
    #: recorded ``msrs`` means (cddfuse convention), by metric; see the model card for the command
    msrs: dict[str, float] = field(default_factory=dict)
    #: further method names that take these weights (e.g. ``sage-student`` for the ``sage`` network)
    also_for: tuple[str, ...] = ()
    #: further method names whose default these are (e.g. ``sgdfuse-stage1`` reads the stage 1 of ``sgdfuse.cpu``)
    default_for: tuple[str, ...] = ()

    @property
    def method(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def tag(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def path(self) -> Path:
        return PACKAGE / self.file


_SAGE_CARD = "models/sage/weights/MODEL_CARD_distilled.md"

PRETRAINED: dict[str, Pretrained] = {
    p.name: p
    for p in (
        Pretrained(
            "sage.authors",
            "models/sage/weights/sage_student_authors.safetensors",
            "61c4aea5e00c4e819909afa9a5a81aa0dfb83d29d8c78b22928e2b7d3690e3f1",
            "MIT (c) 2025 Guanyao Wu; models/sage/weights/LICENSE.sage_authors",
            "Wu et al., CVPR 2025; github.com/RollingPlain/SAGE_IVIF checkpoints/checkpoints.pt @ 377fdbe, "
            "converted to safetensors unchanged",
            "FMB train (authors), about 1,500 student steps of batch 4 at 192x256 (BN counter 2,925)",
            "SAGE bi-level distillation (authors' code)",
            msrs={
                "EN": 5.9312,
                "SD": 36.1519,
                "SF": 10.3761,
                "AG": 3.1148,
                "MI": 2.2414,
                "SCD": 1.3838,
                "VIF": 0.7077,
                "Qabf": 0.5360,
                "SSIM": 0.8843,
            },  # fmt: skip
            also_for=("sage-student",),
        ),
        Pretrained(
            "sage.alone",
            "models/sage/weights/sage_student_alone.safetensors",
            "75285060460e0021dbdbb16d84f528f263ca455203ad8de077150d48c1f0117b",
            "same as samfuse",
            "trained by samfuse (models/sage/weights/MODEL_CARD.md)",
            "msrs-train-128 (1,003 MSRS training pairs at 171x128), batch 8, 128x128 crops, 2,471 steps of a "
            "6,000-step cosine schedule, from scratch",
            "SAGE student trained alone (`samfuse train sage-student --profile long --set loss=maxint "
            "--set output=unit`): no teacher, no distillation",
            msrs={
                "EN": 6.5182,
                "SD": 41.3809,
                "SF": 11.1313,
                "AG": 3.5594,
                "MI": 2.9039,
                "SCD": 1.5053,
                "VIF": 0.9736,
                "Qabf": 0.6712,
                "SSIM": 0.9962,
            },
            default=True,
            also_for=("sage-student",),
        ),
        Pretrained(
            "sage.distilled",
            "models/sage/weights/sage_student_distilled.safetensors",
            "49a5092732a9356aa26eaa79c3b7557418f47b192ab57088df65e8b0a773a173",
            "same as samfuse",
            "trained by samfuse (" + _SAGE_CARD + ")",
            "train (RoadScene + 5 MSRS pairs), 3,600 loop steps, 64x96 crops, batch 4, from scratch",
            "SAGE distillation (`samfuse train sage --profile cpu`, regions masks, L_cs stand-in)",
            msrs={
                "EN": 5.7211,
                "SD": 25.6812,
                "SF": 9.8650,
                "AG": 3.0251,
                "MI": 1.4208,
                "SCD": 1.2485,
                "VIF": 0.6342,
                "Qabf": 0.4746,
                "SSIM": 0.8271,
            },  # fmt: skip
            also_for=("sage-student",),
        ),
        Pretrained(
            "sage-teacher.distilled",
            "models/sage/weights/sage_teacher.fp16.safetensors",
            "0e7ab736450814c8b1c4ab4cf1b4f7e2f76fcf48b8e796f49a7ecc15ba2360c3",
            "same as samfuse",
            "trained by samfuse (" + _SAGE_CARD + "), fp16",
            "the teacher of sage.distilled (same run)",
            "SAGE distillation (`samfuse train sage --profile cpu`)",
            default=True,
        ),
        Pretrained(
            "sage-rt.temporal",
            "models/sage_rt/weights/sage_rt_temporal.safetensors",
            "1c4c04f44c1a2f21e661ef27d1207826ea9104ade36e4957f6836d236b42b957",
            "same as samfuse",
            "trained by samfuse (models/sage_rt/weights/MODEL_CARD.md)",
            "train-all (RoadScene 221 pairs + msrs-train-128, 1,003 MSRS training pairs at 171x128), batch 8, "
            "128x128 crops; sage-rt.distilled (12,000 steps) fine-tuned 6,000 steps (Adam 5e-4, cosine)",
            "sage-rt.distilled continued with the same distillation from sage.alone plus 400 x the flicker term on "
            "two views a small camera move apart (`samfuse train sage-rt --data train-all --profile cpu --set "
            "init=sage-rt.distilled --set temporal_weight=400 --set lr=5e-4 --set steps=6000`)",
            msrs={
                "EN": 6.5518,
                "SD": 40.9959,
                "SF": 10.8291,
                "AG": 3.4199,
                "MI": 3.2971,
                "SCD": 1.5312,
                "VIF": 1.0498,
                "Qabf": 0.6972,
                "SSIM": 1.0058,
            },
            default=True,
        ),
        Pretrained(
            "sage-rt.distilled",
            "models/sage_rt/weights/sage_rt_distilled.safetensors",
            "00a72f742bac7d8ded50025a9e3bfa69567649fa6ad3897d9e9386a811615f7a",
            "same as samfuse",
            "trained by samfuse (models/sage_rt/weights/MODEL_CARD.md)",
            "train-all (RoadScene 221 pairs + msrs-train-128, 1,003 MSRS training pairs at 171x128), batch 8, "
            "128x128 crops, 12,000 steps (cosine), from scratch",
            "sage-rt distilled from sage.alone (`samfuse train sage-rt --data train-all --profile cpu "
            "--set steps=12000`): L1 + SAGE's teacher terms, 0.1 x SAGE's source terms",
            msrs={
                "EN": 6.5455,
                "SD": 41.3263,
                "SF": 11.1235,
                "AG": 3.5487,
                "MI": 3.1034,
                "SCD": 1.5081,
                "VIF": 1.0317,
                "Qabf": 0.6870,
                "SSIM": 1.0143,
            },
        ),
        Pretrained(
            "seafusion.authors",
            "models/seafusion/weights/seafusion_authors.safetensors",
            "3c3c84e356bf17b7b42a2e8005a0e9c8873085309f3c398186b7a4f5721727c5",
            "MIT (c) 2023 Linfeng Tang; models/seafusion/weights/LICENSE.seafusion",
            "Tang, Yuan, Ma, Information Fusion 82, 2022; github.com/Linfeng-Tang/VIF-Benchmark "
            "Checkpoint/SeAFusion/SeAFusion.pth @ 23f2e51, converted to safetensors unchanged",
            "MSRS train (authors, per the paper)",
            "SeAFusion: content loss + semantic loss of a segmentation network in the loop (authors' code)",
            msrs={
                "EN": 6.6056,
                "SD": 41.8313,
                "SF": 11.0419,
                "AG": 3.6256,
                "MI": 2.7987,
                "SCD": 1.6716,
                "VIF": 0.9723,
                "Qabf": 0.6745,
                "SSIM": 0.9941,
            },
            default=True,
        ),
        Pretrained(
            "sgdfuse.cpu",
            "models/sgdfuse/weights/sgdfuse_cpu.safetensors",
            "11819045790a0292713299e89f04bcc6c19a540ea77f8ebd504c2db6d9419b58",
            "same as samfuse",
            "trained by samfuse (models/sgdfuse/weights/MODEL_CARD.md)",
            "msrs-train-128 (1,003 MSRS training pairs at 171x128); stage 1 4,000 steps + stage 2 6,000 steps, "
            "from scratch",
            "SGDFuse two stages (luminance losses, residual HFAH reading the 9-channel guide, stage-2 lambda_grad 10, "
            "regions masks), start_gamma 0.86",
            msrs={
                "EN": 6.6179,
                "SD": 42.9990,
                "SF": 11.1364,
                "AG": 3.5415,
                "MI": 3.4303,
                "SCD": 1.6518,
                "VIF": 1.0251,
                "Qabf": 0.6734,
                "SSIM": 1.0040,
            },
            default=True,
            also_for=("sgdfuse-stage1",),
            default_for=("sgdfuse-stage1",),
        ),
    )
}


def tags_of(method: str) -> list[Pretrained]:
    """The named weights a method takes (its own and those shared with it), default first."""
    found = [p for p in PRETRAINED.values() if p.method == method or method in p.also_for]
    return sorted(found, key=lambda p: (not is_default(p, method), p.name))


def is_default(p: Pretrained, method: str) -> bool:
    """Whether ``p`` is what ``method`` loads without ``--weights``."""
    return p.default and (p.method == method or method in p.default_for)


def default_tag(method: str) -> Pretrained | None:
    """The method's default weights (used when no ``--weights`` is given), or None."""
    return next((p for p in PRETRAINED.values() if is_default(p, method)), None)


def default_file(method: str, missing: str) -> Path:
    """The file of the method's default weights, for a builder given no ``weights``; raises
    :class:`~samfuse.models.base.MissingWeightsError` with ``missing`` when there is none or it is not installed."""
    from samfuse.models.base import MissingWeightsError

    shipped = default_tag(method)
    if shipped is None or not shipped.path.is_file():
        raise MissingWeightsError(missing)
    return shipped.path


def lookup(method: str, weights: str) -> Pretrained | None:
    """The tag ``weights`` names for ``method`` (``sage.authors``, or ``authors`` as a short form), or None."""
    for p in tags_of(method):
        if weights in (p.name, p.tag):
            return p
    return None


def resolve(method: str, weights: str | Path | None) -> Path | None:
    """The file for ``--weights``: a tag of ``method``, or a path; None stays None (the builder then loads the
    method's default, :func:`default_tag`, or refuses). A text that is no file and looks like a tag (no folder,
    no weights suffix) but names none of the method's tags is a one-line :class:`UnknownWeightsError` listing
    them."""
    if weights is None:
        return None
    if isinstance(weights, str):
        p = lookup(method, weights)
        if p is not None:
            return p.path
        path = Path(weights)
        if not path.exists() and "/" not in weights and path.suffix not in (".pt", ".pth", ".safetensors", ".onnx"):
            known = ", ".join(t.name for t in tags_of(method)) or "none"
            raise UnknownWeightsError(f"--weights {weights}: not a file nor a weights name of {method} ({known})")
    return Path(weights)
