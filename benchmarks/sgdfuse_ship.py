"""Store a chosen sampling start (``start_gamma``, chosen on ``msrs-val-128`` with ``benchmarks/validation.py``) in
an SGDFuse weights file, tensors unchanged, so that the shipped file fuses with it by default.

    python benchmarks/sgdfuse_ship.py --weights RUN/weights/sgdfuse.safetensors --start-gamma 0.999 --out FILE
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from safetensors.torch import save

from samfuse.io import atomic_write
from samfuse.models.sgdfuse.method import CONFIG_KEY, load_weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--start-gamma", type=float, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cfg, tensors = load_weights(args.weights)
    cfg = replace(cfg, scheduler=replace(cfg.scheduler, start_gamma=args.start_gamma))
    data = save({k: v.contiguous() for k, v in tensors.items()}, metadata={CONFIG_KEY: cfg.to_json()})
    atomic_write(args.out, lambda fh: fh.write(data))
    print(f"{args.out}: start_gamma {args.start_gamma}, {len(tensors)} tensors")


if __name__ == "__main__":
    main()
