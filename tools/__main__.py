"""``python -m tools``: the benchmarks, each figure beside a baseline measured in the same run.

They live here, outside the package, and import it (the package never imports ``tools``):

    python -m tools bench [--quick] [--json]          speed and size of every view
    python -m tools bench-browser [--cpu-slowdown 2]   what a person waits for in Chromium, beside a minimal app
    python -m tools bench-uploads [--per-condition N]  accuracy on catalogue-style photos vs raw arrays
    python -m tools bench-cold-start [--rounds N]      a new server under N browser sessions at once
    python -m tools bench-training [--seeds 42,1,2]    time to accuracy: the fast schedule vs plain model.fit
    python -m tools bench-replay [--epochs 5]          what recording a replay costs training; the Replay page's frames per second
"""

from __future__ import annotations

import argparse
import sys


def _bench(args) -> int:
    from tools.bench import run_benchmarks

    return run_benchmarks(quick=args.quick, as_json=args.json)


def _bench_browser(args) -> int:
    from tools.browser_bench import run_browser_benchmark

    return run_browser_benchmark(as_json=args.json, repeats=args.repeats, first_visits=args.first_visits, cpu_slowdown=args.cpu_slowdown)


def _bench_uploads(args) -> int:
    from tools.upload_bench import run_upload_benchmark

    return run_upload_benchmark(count=args.count, as_json=args.json, per_condition=args.per_condition)


def _bench_cold_start(args) -> int:
    from tools.cold_start_stress import main

    return main([f"--rounds={args.rounds}", f"--sessions={args.sessions}", *(["--json"] if args.json else [])])


def _bench_training(args) -> int:
    from tools.training_bench import run_training_benchmark

    return run_training_benchmark(
        as_json=args.json, epochs=args.epochs, plain_epochs=args.plain_epochs, train_limit=args.train_limit, seeds=args.seeds
    )


def _bench_replay(args) -> int:
    from tools.replay_bench import run_replay_benchmark

    return run_replay_benchmark(as_json=args.json, epochs=args.epochs, runs=args.runs, rounds=args.rounds)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="measure training, activation, figure, rerun and start-up speed")
    bench.add_argument("--quick", action="store_true", help="skip the training figures")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=_bench)

    browser = sub.add_parser("bench-browser", help="the browser figures alone: fashion-viz and a minimal app in turn, as ratios")
    browser.add_argument("--repeats", type=int, default=5, help="later visits per app (the layer step and upload take 9 and 6 each)")
    browser.add_argument("--first-visits", type=int, default=4, help="fresh servers per app")
    browser.add_argument(
        "--cpu-slowdown", type=float, default=1.0,
        help="slow Chromium's renderer this many times for both apps (as on a slower machine's browser; the servers run as they are)",
    )
    browser.add_argument("--json", action="store_true")
    browser.set_defaults(func=_bench_browser)

    uploads = sub.add_parser("bench-uploads", help="accuracy on catalogue-style photos vs raw arrays, and the bad-file corpus")
    uploads.add_argument("--count", type=int, default=1000, help="test images to turn into photos (4 files each)")
    uploads.add_argument("--per-condition", type=int, default=400, help="test images per real-photo condition (noise, shadow, vignette, gradient, touching the frame)")
    uploads.add_argument("--json", action="store_true")
    uploads.set_defaults(func=_bench_uploads)

    cold = sub.add_parser("bench-cold-start", help="a new server with an empty bytecode cache under N browser sessions at once: exceptions and tracebacks")
    cold.add_argument("--rounds", type=int, default=5)
    cold.add_argument("--sessions", type=int, default=6)
    cold.add_argument("--json", action="store_true")
    cold.set_defaults(func=_bench_cold_start)

    timing = sub.add_parser(
        "bench-training",
        help="time to accuracy: `train --schedule fast` and plain model.fit (15 epochs), each a whole process timed launch to saved model, in one run",
    )
    timing.add_argument("--json", action="store_true")
    timing.add_argument("--epochs", type=int, default=None, help="shorten the fast run (checks only: the figures then mean little)")
    timing.add_argument("--plain-epochs", type=int, default=15, help="the baseline's epochs (default 15)")
    timing.add_argument("--train-limit", type=int, default=None, help="both runs on the first N training images (checks only)")
    timing.add_argument(
        "--seeds",
        type=lambda text: [int(part) for part in text.split(",")],
        default=None,
        help="comma-separated seeds: train the fast schedule once per seed to see the spread (default: the schedule's own, once)",
    )
    timing.set_defaults(func=_bench_training)

    replay = sub.add_parser("bench-replay", help="recording's cost to training (with and without, interleaved) and the Replay page's playback in Chromium vs a minimal app")
    replay.add_argument("--epochs", type=int, default=5, help="epochs of the fast schedule per training run")
    replay.add_argument("--runs", type=int, default=2, help="training runs with and without recording, each")
    replay.add_argument("--rounds", type=int, default=3, help="playbacks of each app")
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(func=_bench_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
