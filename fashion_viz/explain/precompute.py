"""The per-model work the Units and Map pages show, done once and stored beside the model.

``prepare_views`` computes the unit atlas (statistics, exemplars, votes and one
activation-maximisation picture per unit, 234 in the seed; about 20 s on 2 cores) and the 2-D map of
the test set (openTSNE, about 35 s), and writes ``<stem>.units.npz`` and
``<stem>.embedding.npz``. Both files carry the model file's SHA-256, so a
replaced model never shows another model's pictures. Training runs it after
saving; the app starts it in the background for a model that lacks it
(:class:`fashion_viz.jobs.PreparationJobs`), so no visitor waits for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fashion_viz.explain.embedding import EmbeddingMap, build_map, embedding_path, load_map, save_map
from fashion_viz.explain.units import STEPS, UnitAtlas, build_atlas, load_atlas, save_atlas, unit_atlas_path

# The replay's views first (a freshly trained model's replay is ready within seconds; fashion_viz.replay.views),
# the layer trials last (fashion_viz.trials.prepare).
STAGES = ("replay", "statistics", "visualisations", "map", "trials")
STAGE_WEIGHTS = {"replay": 0.08, "statistics": 0.03, "visualisations": 0.16, "map": 0.27, "trials": 0.46}  # share of the total time, measured


@dataclass(frozen=True)
class StoredViews:
    """What is stored for one model file (None where missing or stale)."""

    atlas: UnitAtlas | None
    embedding: EmbeddingMap | None
    trials: dict | None = None  # the Layers page's measurements (fashion_viz.trials.prepare)

    @property
    def complete(self) -> bool:
        return self.atlas is not None and self.embedding is not None and self.trials is not None


def stored_views(model_path: Path, model_sha256: str) -> StoredViews:
    from fashion_viz.trials.prepare import load_trials

    return StoredViews(
        load_atlas(unit_atlas_path(model_path), model_sha256), load_map(embedding_path(model_path), model_sha256), load_trials(model_path, model_sha256)
    )


def overall_share(stage: str, share: float) -> float:
    """Progress of the whole preparation from one stage's own progress."""
    done = sum(STAGE_WEIGHTS[s] for s in STAGES[: STAGES.index(stage)])
    return min(1.0, done + STAGE_WEIGHTS[stage] * share)


def prepare_views(
    engine,
    model_path: Path,
    model_sha256: str,
    images,
    labels,
    method: str = "tsne",
    steps: int = STEPS,
    progress: Callable[[str, float], None] | None = None,
    force: bool = False,
) -> StoredViews:
    """Compute and store whatever is missing (everything with ``force``) for this model file.

    Args:
        engine: the model's :class:`fashion_viz.engine.Engine` (one pass over the test set serves both).
        images, labels: the test set (the exemplars, statistics and the map are over it).
        progress: called with (stage, share of the stage done).
    """
    report = progress or (lambda stage, share: None)
    existing = StoredViews(None, None) if force else stored_views(model_path, model_sha256)
    atlas = existing.atlas
    if atlas is None:
        atlas = build_atlas(engine, images, labels, model_sha256, steps=steps, progress=report)
        save_atlas(atlas, unit_atlas_path(model_path))
    embedding = existing.embedding
    if embedding is None:
        report("map", 0.0)
        embedding = build_map(engine, images, model_sha256, method)
        save_map(embedding, embedding_path(model_path))
    report("map", 1.0)
    return StoredViews(atlas, embedding, existing.trials)
