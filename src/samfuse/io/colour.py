"""Colour handling: fusion runs on luminance; the visible chroma is put back afterwards.

Two colour paths (``FusionPipeline(color=...)``, ``samfuse fuse --color``):

* ``ycbcr`` (default): YCbCr (ITU-R BT.601, full range, as kornia implements it) on float tensors in [0, 1]:
  ``Y = 0.299 R + 0.587 G + 0.114 B``, ``Cb = (B - Y) * 0.564 + 0.5``, ``Cr = (R - Y) * 0.713 + 0.5``; the fused
  Y is clamped to [0, 1], the result clipped to [0, 1] and rounded to 8 bits when written.
* ``opencv``: the SAGE authors' path (below), on 8-bit images, ending in their own uint8 quantisation.
"""

from __future__ import annotations

from typing import Literal

import cv2
import kornia.color as kc
import numpy as np
import torch

from samfuse.io.bt601 import rgb_luma

#: The colour paths a pipeline can use.
ColorPath = Literal["ycbcr", "opencv"]
COLOR_PATHS: tuple[str, ...] = ("ycbcr", "opencv")


def split_luma(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,3,H,W) RGB in [0,1] → (Y (B,1,H,W), CbCr (B,2,H,W))."""
    ycbcr = kc.rgb_to_ycbcr(rgb)
    return ycbcr[:, :1], ycbcr[:, 1:]


def merge_luma(y: torch.Tensor, cbcr: torch.Tensor) -> torch.Tensor:
    """Fused Y (B,1,H,W) + visible CbCr (B,2,H,W) → RGB (B,3,H,W), clipped to [0, 1]."""
    return kc.ycbcr_to_rgb(torch.cat([y, cbcr], dim=1)).clamp(0.0, 1.0)


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) RGB → (B,1,H,W) Y (BT.601 weights)."""
    return split_luma(rgb)[0]


# --- The same conversions on NumPy arrays (the pipeline's CPU path) ------------------------------------------------
#
# kornia's rgb_to_ycbcr and ycbcr_to_rgb run a dozen whole-image tensor operations each (slices, products, sums,
# stack, clamp): at 640×480 several milliseconds a frame, as much as a small network. These do the same maths in
# about four passes over the image. The luma is kornia's bit for bit (the same float32 operations in the same order,
# so a method sees the same input); the chroma and the inverse come from OpenCV in one pass each (channel order
# Y, Cr, Cb) and equal kornia's up to float32 rounding (a few units in the last place), which moves an 8-bit output by
# one grey level only where the value lies within about 1e-5 of a rounding boundary (tests/io/test_colour_arrays.py).

#: kornia's ycbcr_to_rgb (its exact-inverse coefficients, not OpenCV's rounded ones) as one affine map of
#: (Y, Cr, Cb), the 0.5 chroma offsets folded into the last column.
_YCRCB_TO_RGB = np.array(
    [
        [1.0, 1.4025245442, 0.0, -0.5 * 1.4025245442],
        [1.0, -0.7144034731, -0.3443401356, 0.5 * (0.7144034731 + 0.3443401356)],
        [1.0, 0.0, 1.7730496454, -0.5 * 1.7730496454],
    ]
)


def split_luma_array(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """H×W×3 float32 RGB in [0, 1] → (Y H×W, (Y, Cr, Cb) H×W×3), float32: :func:`split_luma` on an array.

    Y is :func:`samfuse.io.bt601.rgb_luma` (the same float32 operations as kornia's, in the same order), equal to
    kornia's bit for bit; the H×W×3 array is ``cv2.cvtColor(COLOR_RGB2YCrCb)`` (kornia's weights, chroma factors
    0.713 / 0.564 and offset 0.5), to be given to :func:`merge_luma_array`."""
    rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    return rgb_luma(rgb), cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)


def merge_luma_array(y: np.ndarray, ycrcb: np.ndarray) -> np.ndarray:
    """Fused Y (H×W) + the visible image's (Y, Cr, Cb) from :func:`split_luma_array` → RGB H×W×3 float32 clipped
    to [0, 1]: :func:`merge_luma` on arrays, one ``cv2.transform``. Works in ``ycrcb``'s memory (``y`` goes into
    its first channel, the RGB result replaces it: returned) to save allocating a frame-sized array."""
    ycrcb[:, :, 0] = y
    rgb = cv2.transform(ycrcb, _YCRCB_TO_RGB, dst=ycrcb)
    return np.clip(rgb, 0.0, 1.0, out=rgb)


# --- The authors' colour path (SAGE test.py / utils.py; docs/sage-notes.md §6), ``color="opencv"`` -----------------
#
# Forward: OpenCV's integer YCrCb conversion on the 8-bit image (chroma offset 128), each channel / 255.
# Inverse: their own matrix (not OpenCV's exact inverse), applied to the unclamped fused Y:
#   R = F + 1.403 (Cr - .5);  G = F - .714 (Cr - .5) - .344 (Cb - .5);  B = F + 1.773 (Cb - .5)
# Output: x·255 + 0.5, clamped to [0, 255], truncated to uint8 (torchvision.utils.save_image).
# The float operations below are the ones their code runs (same order, float32), so the results match bit for bit.

_AUTHORS_INVERSE = ((1.0, 1.0, 1.0), (1.403, -0.714, 0.0), (0.0, -0.344, 1.773))
_AUTHORS_BIAS = (0.0 / 255, -0.5, -0.5)


def opencv_ycrcb(rgb_u8: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 RGB → H×W×3 uint8 (Y, Cr, Cb), OpenCV's fixed-point BT.601 with chroma offset 128."""
    if rgb_u8.dtype != np.uint8 or rgb_u8.ndim != 3 or rgb_u8.shape[2] != 3:
        raise ValueError(f"expected H×W×3 uint8 RGB, got {rgb_u8.dtype} {rgb_u8.shape}")
    return cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2YCrCb)


def opencv_grey(img_u8: np.ndarray) -> np.ndarray:
    """uint8 H×W (as is) or H×W×3 RGB (OpenCV's RGB → GRAY) → H×W uint8, as their IR reading does."""
    return img_u8 if img_u8.ndim == 2 else cv2.cvtColor(img_u8, cv2.COLOR_RGB2GRAY)


def unit_tensor(u8: np.ndarray) -> torch.Tensor:
    """uint8 H×W → (1,1,H,W), H×W×C → (1,C,H,W) float32 ``x / 255`` (torchvision ``ToTensor``: a division)."""
    t = torch.from_numpy(np.ascontiguousarray(u8))
    t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
    return t.float().div(255)


def authors_ycrcb_to_rgb(y: torch.Tensor, crcb: torch.Tensor) -> torch.Tensor:
    """Fused Y (B,1,H,W, unclamped) + visible (Cr, Cb) / 255 (B,2,H,W) → RGB (B,3,H,W), unclamped (their
    ``utils.YCrCb2RGB``, the same flatten → add bias → matrix product in float32)."""
    im = torch.cat([y, crcb], dim=1)
    b, _, h, w = im.shape
    flat = im.transpose(1, 3).transpose(1, 2).reshape(-1, 3)
    mat = torch.tensor(_AUTHORS_INVERSE, dtype=flat.dtype, device=flat.device)
    bias = torch.tensor(_AUTHORS_BIAS, dtype=flat.dtype, device=flat.device)
    out = (flat + bias).mm(mat)
    return out.reshape(b, h, w, 3).transpose(1, 3).transpose(2, 3)


def authors_to_uint8(img: torch.Tensor) -> np.ndarray:
    """(1,C,H,W) float → H×W (C = 1) or H×W×3 uint8: ``x·255 + 0.5``, clamp to [0, 255], truncate (as
    ``torchvision.utils.save_image`` does); no other rounding happens after this."""
    u8 = img[0].mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu()
    return u8[0].numpy() if u8.shape[0] == 1 else u8.permute(1, 2, 0).contiguous().numpy()
