"""``python -m tools bench-uploads``: does the upload path see photos as the model saw its training data?

Builds catalogue-style photos from test images (see
:func:`fashion_viz.upload_corpus.random_catalogue_photo`), saves each as PNG,
JPEG, WebP and transparent PNG, runs them through the upload pipeline, and
compares accuracy with the model's accuracy on the same images as raw arrays.
Then it tries the corpus of bad and awkward files.
"""

from __future__ import annotations

import json
import re
import time

import numpy as np

from fashion_viz.engine import Engine
from fashion_viz.preprocessing import ImageInputError, prepare_upload
from fashion_viz.storage import load_checked_model
from tools.upload_corpus import CONDITIONS, awkward_files, bad_files, condition_photo, photo_encodings, random_catalogue_photo

TARGET_RATIO = 0.99


def photo_accuracy(engine: Engine, images: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    raw_correct = engine.probabilities(images).argmax(axis=1) == labels
    per_format: dict[str, list[bool]] = {}
    start = time.perf_counter()
    for image, label in zip(images, labels):
        photo = random_catalogue_photo(image, rng)
        batch = []
        names = []
        for name, data in photo_encodings(photo):
            try:
                batch.append(prepare_upload(data).image)
                names.append(name)
            except ImageInputError:
                per_format.setdefault(name, []).append(False)
        predicted = engine.probabilities(np.stack(batch)).argmax(axis=1)
        for name, p in zip(names, predicted):
            per_format.setdefault(name, []).append(bool(p == label))
    seconds = time.perf_counter() - start
    raw = float(raw_correct.mean())
    by_format = {name: float(np.mean(v)) for name, v in per_format.items()}
    photos = float(np.mean([x for v in per_format.values() for x in v]))
    return {
        "images": int(len(labels)),
        "raw_accuracy": raw,
        "photo_accuracy": photos,
        "photo_to_raw_ratio": photos / raw if raw else 0.0,
        "per_format_accuracy": by_format,
        "ms_per_photo": seconds / max(1, sum(len(v) for v in per_format.values())) * 1000,
    }


def condition_accuracy(engine: Engine, images: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict:
    """Accuracy per photo condition (each image once per condition), and its ratio to the raw arrays'."""
    raw = float((engine.probabilities(images).argmax(axis=1) == labels).mean())
    out = {}
    for number, condition in enumerate(CONDITIONS):
        rng = np.random.default_rng([seed, number])
        correct = []
        for image, label in zip(images, labels):
            try:
                prepared = prepare_upload(condition_photo(image, condition, rng)).image
            except ImageInputError:
                correct.append(False)
                continue
            correct.append(int(engine.probabilities(prepared)[0].argmax()) == int(label))
        accuracy = float(np.mean(correct))
        out[condition] = {"accuracy": accuracy, "ratio": accuracy / raw if raw else 0.0}
    return {"condition_raw_accuracy": raw, "conditions": out}


def corpus_outcomes(engine: Engine, images: np.ndarray) -> dict:
    """How many bad files got the right refusal, and awkward files the plain PNG's answer."""
    bad_right = bad_total = awkward_right = awkward_total = 0
    failures = []
    for image in images:
        for name, data, pattern in bad_files(image):
            bad_total += 1
            try:
                prepare_upload(data)
                failures.append(f"{name}: accepted")
            except ImageInputError as exc:
                if re.search(pattern, str(exc)):
                    bad_right += 1
                else:
                    failures.append(f"{name}: {exc}")
        files = awkward_files(image)
        reference = engine.activations(prepare_upload(files[0][1]).image).predicted_class
        for name, data in files[1:]:
            awkward_total += 1
            try:
                same = engine.activations(prepare_upload(data).image).predicted_class == reference
            except ImageInputError as exc:
                failures.append(f"{name}: refused ({exc})")
                continue
            awkward_right += same
            if not same:
                failures.append(f"{name}: different class")
    return {
        "bad_files_right": f"{bad_right}/{bad_total}",
        "awkward_files_right": f"{awkward_right}/{awkward_total}",
        "corpus_failures": failures[:20],
    }


def run_upload_benchmark(count: int = 1000, as_json: bool = False, seed: int = 0, per_condition: int = 400) -> int:
    from fashion_viz.data import load_fashion_mnist

    data = load_fashion_mnist()
    loaded = load_checked_model()
    engine = Engine(loaded.model)
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(len(data.y_test), size=min(count, len(data.y_test)), replace=False))
    results = photo_accuracy(engine, data.x_test[indices], data.y_test[indices], seed)
    results.update(corpus_outcomes(engine, data.x_test[indices[:10]]))
    chosen = np.sort(np.random.default_rng(seed + 1).choice(len(data.y_test), size=min(per_condition, len(data.y_test)), replace=False))
    results.update(condition_accuracy(engine, data.x_test[chosen], data.y_test[chosen], seed))
    results["target_ratio"] = TARGET_RATIO
    results["target_met"] = results["photo_to_raw_ratio"] >= TARGET_RATIO and all(
        c["ratio"] >= TARGET_RATIO for c in results["conditions"].values()
    )
    if as_json:
        print(json.dumps(results))
    else:
        print(f"Catalogue-style photos of {results['images']} test images, 4 encodings each:")
        print(f"  raw arrays   {results['raw_accuracy']:.2%}")
        print(f"  photos       {results['photo_accuracy']:.2%}  (ratio {results['photo_to_raw_ratio']:.4f}, target >= {TARGET_RATIO})")
        for name, accuracy in results["per_format_accuracy"].items():
            print(f"    {name:<16}{accuracy:.2%}")
        print(f"  {results['ms_per_photo']:.1f} ms per photo through the pipeline")
        print(f"Photos as they really are, {per_condition} test images per condition (raw arrays {results['condition_raw_accuracy']:.2%}):")
        for name, c in results["conditions"].items():
            mark = "met" if c["ratio"] >= TARGET_RATIO else "NOT met"
            print(f"    {name:<18}{c['accuracy']:.2%}  ratio {c['ratio']:.3f} (target >= {TARGET_RATIO}: {mark})")
        print(f"Bad files refused with the right message: {results['bad_files_right']}")
        print(f"Awkward files given the plain PNG's answer: {results['awkward_files_right']}")
        for failure in results["corpus_failures"]:
            print(f"  {failure}")
    return 0 if results["target_met"] else 1
