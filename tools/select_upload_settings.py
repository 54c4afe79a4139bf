"""How the colour and transparency settings of the upload pipeline were chosen: photos made from training
images only (the bench-uploads figures use test images and played no part).

    python tools/select_upload_settings.py [--images 400]

For each candidate it prints the accuracy on the "coloured" and "cut-out" photo conditions (and, for the
chosen settings, every condition), as a ratio to the same images as raw arrays.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from fashion_viz import preprocessing  # noqa: E402
from fashion_viz.engine import Engine  # noqa: E402
from fashion_viz.data import load_fashion_mnist  # noqa: E402
from fashion_viz.storage import load_checked_model  # noqa: E402
from tools.upload_corpus import CONDITIONS, condition_photo  # noqa: E402

NEVER = 2.0  # a share no picture reaches: turns a rule off
CANDIDATES = {
    "coloured": [
        {"CHANNEL_SPREAD": -1.0},  # plain luminance (the pipeline before)
        {"CHANNEL_WEIGHT_POWER": 1.0},
        {"CHANNEL_WEIGHT_POWER": 2.0},
        {"CHANNEL_WEIGHT_POWER": 4.0},
    ],
    "cut-out": [
        {"SOFT_ALPHA_SHARE": NEVER},  # composite onto white (the pipeline before)
        {"SOFT_ALPHA_SHARE": 0.1},
        {"SOFT_ALPHA_SHARE": 0.25},
        {"SOFT_ALPHA_SHARE": 0.5},
    ],
}


def accuracy(extractor, images, labels, condition: str, settings: dict, seed: int = 0) -> float:
    saved = {name: getattr(preprocessing, name) for name in settings}
    for name, value in settings.items():
        setattr(preprocessing, name, value)
    try:
        rng = np.random.default_rng([seed, CONDITIONS.index(condition)])
        prepared = np.stack([preprocessing.prepare_upload(condition_photo(image, condition, rng)).image for image in images])
    finally:
        for name, value in saved.items():
            setattr(preprocessing, name, value)
    return float((extractor.probabilities(prepared).argmax(axis=1) == labels).mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--only", choices=list(CANDIDATES), help="only this condition's candidates")
    args = parser.parse_args(argv)
    data = load_fashion_mnist(allow_download=False)
    extractor = Engine(load_checked_model().model)
    chosen = np.sort(np.random.default_rng(2026).choice(len(data.y_train), size=args.images, replace=False))
    images, labels = data.x_train[chosen], data.y_train[chosen]
    raw = float((extractor.probabilities(images).argmax(axis=1) == labels).mean())
    print(json.dumps({"training_images": args.images, "raw_accuracy": raw}))
    for condition, candidates in CANDIDATES.items():
        if args.only and condition != args.only:
            continue
        for settings in candidates:
            a = accuracy(extractor, images, labels, condition, settings)
            print(json.dumps({"condition": condition, "settings": settings, "accuracy": a, "ratio": round(a / raw, 4)}), flush=True)
    for condition in CONDITIONS:
        a = accuracy(extractor, images, labels, condition, {})
        print(json.dumps({"condition": condition, "settings": "chosen (the module's)", "accuracy": a, "ratio": round(a / raw, 4)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
