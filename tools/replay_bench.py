"""``python -m tools bench-replay``: what recording a replay costs training, and how fast the Replay page plays.

- **Recording:** the fast schedule's first ``epochs`` epochs on the whole training set, with the replay's
  recording and without it, interleaved in ABBA order (``runs`` each), same process; and the recorder's own time
  (inside its callback, waiting for the device included). A short run takes its snapshots
  closer together than a whole one (about 25 in 5 epochs against 30 in 20), so the cost is overstated, not
  hidden. The views' preparation (after training, in the background) is timed on its own.
- **Playback:** in Chromium, the Replay page's player against a minimal Streamlit app's player of as many
  frames (one small picture, nothing else), in the same run: moments shown per second from the start of play to
  the last moment, at the page's own pace (12.5 a second) and as fast as the browser draws.
"""

from __future__ import annotations

import json
import statistics
import time

from tools.appserver import CHROMIUM, CHROMIUM_ARGS, ROOT, AppServer

TARGETS = {"recording_overhead_pct": 5.0, "replay_fps": 10.0}
MINIMAL = ROOT / "tools" / "minimal_app"
# In the player's frame: play from the start at ``frameMs`` a moment (the page's own pace by default, 0: as fast as
# the browser draws) and resolve with the moments shown and the seconds it took, from the call to the last moment.
PLAY_AND_COUNT_JS = """frameMs => new Promise(resolve => {
    const before = window.replayShown.frames, started = performance.now();
    window.addEventListener("replay-ended", () => resolve({frames: window.replayShown.frames - before, seconds: (performance.now() - started) / 1000}), {once: true});
    window.replayPlay(frameMs === null ? undefined : frameMs);
})"""


def player_frame(page):
    """The Replay page's player (its iframe), once it has drawn its first moment."""
    page.wait_for_function("() => [...document.querySelectorAll('iframe')].some(f => f.contentWindow && f.contentWindow.replayShown)")
    return next(f for f in page.frames if f.evaluate("() => !!window.replayShown"))


def bench_recording(epochs: int = 5, runs: int = 2) -> dict:
    import dataclasses

    from fashion_viz.data import load_fashion_mnist
    from fashion_viz.engine import Engine
    from fashion_viz.replay.store import Replay
    from fashion_viz.replay.views import compute_views
    from fashion_viz.training import schedule_config, train

    data = load_fashion_mnist(allow_download=False)
    config = dataclasses.replace(schedule_config("fast"), epochs=epochs)
    times = {True: [], False: []}
    recording = None
    for run in range(runs):
        for record in ((False, True) if run % 2 == 0 else (True, False)):  # ABBA: a drift over the runs cancels
            result = train(data, config, evaluate_on_test=False, record_replay=record)
            times[record].append(sum(r.seconds for r in result.history))
            recording = result.recording or recording
    with_s, without_s = statistics.median(times[True]), statistics.median(times[False])
    replay = Replay("", [s.step for s in recording.snapshots], recording.steps_per_epoch, [list(s.weights) for s in recording.snapshots])
    started = time.perf_counter()
    compute_views(Engine(result.model), replay, data, config)
    return {
        "recording_epochs": epochs,
        "recording_snapshots": len(recording.snapshots),
        "training_without_recording_s": round(without_s, 2),
        "training_with_recording_s": round(with_s, 2),
        "recording_overhead_pct": round((with_s / without_s - 1) * 100, 2),
        "training_runs_s": {"with": [round(t, 2) for t in times[True]], "without": [round(t, 2) for t in times[False]]},
        "recording_callback_s": round(recording.seconds, 3),  # the recorder's own time in the last recorded run
        "recording_callback_pct": round(recording.seconds / with_s * 100, 2),
        "replay_views_s": round(time.perf_counter() - started, 2),
        "replay_views_per_snapshot_s": round((time.perf_counter() - started) / len(recording.snapshots), 3),
    }


def _play(browser, url: str, ready_text: str, frame_ms: int | None) -> float:
    """Moments shown per second by the player at ``url`` (its own pace, or ``frame_ms``)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(120_000)
    page.goto(url)
    page.get_by_text(ready_text).first.wait_for()
    frame = player_frame(page)
    page.wait_for_timeout(500)
    played = frame.evaluate(PLAY_AND_COUNT_JS, frame_ms)
    page.close()
    return played["frames"] / played["seconds"]


def bench_playback(rounds: int = 3) -> dict:
    """The Replay page's player at its own pace and as fast as it can, beside a minimal app's player of as many frames."""
    from playwright.sync_api import sync_playwright

    from fashion_viz.replay.store import load_replay
    from fashion_viz.storage import SHIPPED_MODEL, load_checked_model

    shipped = load_checked_model(SHIPPED_MODEL)
    frames = len(load_replay(SHIPPED_MODEL, shipped.card.model_sha256))
    app, minimal = AppServer().start(), AppServer(script="app.py", cwd=MINIMAL).start()
    measured = {key: [] for key in ("paced", "fastest", "minimal_paced", "minimal_fastest")}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(rounds):
                for prefix, url, ready in (("minimal_", f"{minimal.url}/?view=animation&frames={frames}", "Minimal app"), ("", f"{app.url}/replay", "Which classes are learnt first")):
                    measured[prefix + "paced"].append(_play(browser, url, ready, None))
                    measured[prefix + "fastest"].append(_play(browser, url, ready, 0))
            browser.close()
    finally:
        app.stop()
        minimal.stop()
    median = {key: statistics.median(values) for key, values in measured.items()}
    return {
        "replay_frames": frames,
        "replay_fps": round(median["paced"], 1),
        "minimal_player_fps": round(median["minimal_paced"], 1),
        "replay_fastest_fps": round(median["fastest"], 1),
        "minimal_player_fastest_fps": round(median["minimal_fastest"], 1),
        "replay_fastest_ratio_to_minimal": round(median["fastest"] / median["minimal_fastest"], 2),
    }


def run_replay_benchmark(as_json: bool = False, epochs: int = 5, runs: int = 2, rounds: int = 3) -> int:
    results = {"date": time.strftime("%Y-%m-%d")}
    for section in (lambda: bench_playback(rounds), lambda: bench_recording(epochs, runs)):
        try:
            results.update(section())
        except Exception as exc:  # noqa: BLE001 - report the failure, keep the other figures
            results.setdefault("errors", []).append(f"{type(exc).__name__}: {exc}"[:300])
    results["targets_met"] = {
        "recording_overhead_pct": results.get("recording_overhead_pct", 1e9) <= TARGETS["recording_overhead_pct"],
        "replay_fps": results.get("replay_fps", 0) >= TARGETS["replay_fps"],
    }
    print(json.dumps(results) if as_json else "\n".join(f"{k}: {v}" for k, v in results.items()))
    return 0
