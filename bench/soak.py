"""Soak: one long run with the whole GUI attached (offscreen) while the Playground is asked
every few seconds, as a user who tries the last model while the next one trains.

What it reports (one JSON object on stdout):
- RSS over time, sampled every ~10 s, and its growth after the first epoch (a leak shows as
  a steady slope; the first epoch is excluded because caches and allocator pools fill there);
- event-loop latency: how late a 10 ms QTimer fires in the GUI thread (p50/p99/max), i.e.
  how long the window was unresponsive;
- whether every step was logged: the step records in the run's metrics.jsonl against the
  log interval, and against the StepLogged events the GUI received (none dropped, none twice);
- the Playground's answers (how many, how fast) during training.

    python bench/soak.py                # 20 minutes (the soak)
    python bench/soak.py --minutes 2    # a smoke check that it works

The run trains the bundled model on a slice of the bundled sample (--rows), with many epochs;
it is stopped when the time is up (Stop, as a user would), so it ends "stopped".
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import psutil  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from workbench.resources import sample_data_path  # noqa: E402

QUERIES = [
    "great product, works well",
    "terrible, broke after a day",
    "the battery lasts all day and the sound is clear",
    "这个耳机音质很好",
    "not what I ordered, and support never answered",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="how long to train (20)")
    parser.add_argument("--data", help="a CSV with text,label (default: the bundled sample)")
    parser.add_argument("--rows", type=int, default=400, help="rows of it to train on (400)")
    parser.add_argument("--model", default="default", help="model folder (the bundled one)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--query-every", type=float, default=3.0, help="seconds (3)")
    parser.add_argument("--sample-every", type=float, default=10.0, help="RSS, seconds (10)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    return parser.parse_args(argv)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def slope_per_minute(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) in MB per minute."""
    if len(points) < 2:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def step_check(metrics_path: Path, log_every: int, received: list[int]) -> dict:
    """Every logged step once in metrics.jsonl, and the same steps in the GUI."""
    records = [json.loads(line) for line in metrics_path.read_text(encoding="utf-8").splitlines()]
    steps = [int(r["step"]) for r in records if r.get("kind") == "step"]
    finished = [r for r in records if r.get("kind") == "finished"]
    last = int(finished[-1].get("metrics", {}).get("train_steps", 0)) if finished else 0
    total = max(
        (int(r.get("total_steps", 0)) for r in records if r.get("kind") == "step"), default=0
    )
    expected = [s for s in range(log_every, last + 1, log_every)]
    if last and last == total and (not expected or expected[-1] != last):
        expected.append(last)  # the last step of a completed run is always logged
    missing = sorted(set(expected) - set(steps))
    duplicates = sorted({s for s in steps if steps.count(s) > 1})
    return {
        "log_every_steps": log_every,
        "last_step": last,
        "in_metrics_jsonl": len(steps),
        "expected": len(expected),
        "missing": missing[:20],
        "duplicates": duplicates[:20],
        "received_by_gui": len(received),
        "gui_matches_file": received == steps,
        "every_step_logged": bool(expected) and not missing and not duplicates,
    }


def prepare_playground_run(data: Path, model: str, home: Path) -> Path:
    """A quick first run (64 rows, one epoch) so the Playground has a model to answer with."""
    from workbench.config import RunConfig
    from workbench.engine import train

    frame = pd.read_csv(data).head(64)
    small = home / "playground.csv"
    frame.to_csv(small, index=False)
    result = train(
        RunConfig(
            data=str(small),
            model=model,
            output=str(home / "playground-run"),
            epochs=1,
            batch_size=16,
            max_length=32,
        )
    )
    if result.status != "completed":
        raise SystemExit(f"the Playground's run failed: {result.error}")
    return Path(result.run_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="workbench-soak-") as tmp:
        home = Path(tmp)
        os.environ["WORKBENCH_HOME"] = str(home)  # runs and settings stay out of the user's
        report = soak(args, home)
    print(json.dumps(report, indent=2))
    return 0 if report.get("status") == "stopped" else 1


def soak(args: argparse.Namespace, home: Path) -> dict:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName("WorkbenchSoak")
    app.setApplicationName(f"WorkbenchSoak-{os.getpid()}")

    from workbench import applog
    from workbench.gui import crash
    from workbench.gui.main_window import MainWindow

    applog.setup()
    reporter = crash.install(app)
    source = Path(args.data) if args.data else sample_data_path()
    data = home / "soak.csv"
    pd.read_csv(source).head(args.rows).to_csv(data, index=False)
    playground_run = prepare_playground_run(data, args.model, home)

    window = MainWindow(data_path=data)
    window.show()
    deadline_wait(app, lambda: window.data_panel.frame() is not None, 120)
    if args.model != "default":
        window.model_panel.set_model(args.model)
        deadline_wait(app, lambda: not window.model_panel.is_describing(), 120)
    window.hyperparams_panel.set_values(
        {
            "epochs": 1000,  # stopped when the time is up
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "eval_every_steps": 0,
            "precision": "fp32",
        }
    )
    playground = window.playground_panel
    playground.set_model(str(playground_run))
    deadline_wait(app, playground.is_ready, 120)

    process = psutil.Process()
    clock = time.perf_counter
    t0 = clock()
    rss: list[tuple[float, float]] = []
    lateness: list[float] = []
    received: list[int] = []
    epochs_at: dict[int, float] = {}  # whole epoch -> seconds since start
    queries = {"asked": 0, "answered": 0, "unanswered": 0, "skipped_busy": 0, "latencies_ms": []}
    asked_at: list[float] = []
    finished: list = []
    errors_before = len(reporter.shown)

    def sample_rss() -> None:
        rss.append((round(clock() - t0, 1), round(process.memory_info().rss / 2**20, 1)))

    tick = QElapsedTimer()

    def on_tick() -> None:
        lateness.append(max(0.0, tick.restart() - 10.0))

    def on_step(event) -> None:
        received.append(event.step)
        whole = int(event.epoch)
        if whole >= 1 and whole not in epochs_at:
            epochs_at[whole] = clock() - t0
            sample_rss()  # a sample at each epoch's end, for the growth after the first

    def ask() -> None:
        if asked_at and clock() - asked_at[0] > 60:  # no answer in a minute: count it lost
            asked_at.clear()
            queries["unanswered"] += 1
        if asked_at or not playground.is_ready():
            queries["skipped_busy"] += 1  # the last question is still being answered
            return
        edit = playground.text_edit
        edit.setPlainText(QUERIES[queries["asked"] % len(QUERIES)])
        asked_at.append(clock())
        queries["asked"] += 1
        playground.predict()

    def on_answer(_result) -> None:
        if asked_at:
            queries["latencies_ms"].append(round((clock() - asked_at.pop()) * 1000, 1))
            queries["answered"] += 1

    window.runner.sig_step_logged.connect(on_step)
    window.runner.sig_run_finished.connect(finished.append)
    playground.sig_prediction_shown.connect(on_answer)
    timers = []
    for interval, slot in ((10, on_tick), (args.sample_every * 1000, sample_rss)):
        timer = QTimer()
        timer.setInterval(int(interval))
        timer.timeout.connect(slot)
        timers.append(timer)
    asker = QTimer()
    asker.setInterval(int(args.query_every * 1000))
    asker.timeout.connect(ask)
    timers.append(asker)

    sample_rss()
    if not window.start_training():
        raise SystemExit("the run could not start (see the Train page's message)")
    tick.start()
    for timer in timers:
        timer.start()
    seconds = args.minutes * 60
    deadline_wait(app, lambda: bool(finished) or clock() - t0 >= seconds, seconds + 60)
    stopped_at = clock() - t0
    if not finished:
        window.runner.stop()
    deadline_wait(app, lambda: bool(finished), 600)
    for timer in timers:
        timer.stop()
    sample_rss()
    event = finished[0]
    run_dir = Path(event.run_dir)
    report = summarise(args, run_dir, event, rss, lateness, received, epochs_at, queries)
    report["stop_requested_at_s"] = round(stopped_at, 1)
    report["gui_errors"] = reporter.shown[errors_before:]
    report["app_log"] = str(applog.log_path())
    window.close()
    deadline_wait(app, lambda: window.closed, 120)
    reporter.uninstall()
    applog.shutdown()
    return report


def summarise(args, run_dir, event, rss, lateness, received, epochs_at, queries) -> dict:
    from workbench.config import RunConfig

    log_every = RunConfig.from_toml(run_dir / "config.toml").log_every_steps
    first_epoch = epochs_at.get(1)
    after = [p for p in rss if first_epoch is not None and p[0] >= first_epoch]
    latencies = queries.pop("latencies_ms")
    return {
        "benchmark": "bench/soak.py: one run with the GUI attached (offscreen), Playground asked",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "minutes": args.minutes,
        "rows": args.rows,
        "model": args.model,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "status": event.status,
        "error": event.error,
        "epochs_done": max(epochs_at, default=0),
        "epoch_ends_s": {str(k): round(v, 1) for k, v in sorted(epochs_at.items())},
        "rss_mb": rss,
        "rss_after_first_epoch": {
            "first_mb": after[0][1] if after else None,
            "last_mb": after[-1][1] if after else None,
            "max_mb": max((p[1] for p in after), default=None),
            "growth_mb": round(after[-1][1] - after[0][1], 1) if len(after) > 1 else None,
            "slope_mb_per_min": _round(slope_per_minute(after)),
            "note": None if first_epoch is not None else "the first epoch did not end",
        },
        "event_loop_lateness_ms": {
            "timer_interval_ms": 10,
            "ticks": len(lateness),
            "p50": percentile(lateness, 50),
            "p99": percentile(lateness, 99),
            "max": max(lateness, default=None),
        },
        "steps": step_check(run_dir / "metrics.jsonl", log_every, received),
        "playground": {
            **queries,
            "p50_ms": percentile(latencies, 50),
            "max_ms": max(latencies, default=None),
        },
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def deadline_wait(app: QApplication, done, seconds: float) -> None:
    """Run the real event loop (as app.exec does) until done() or the time is up (then fail
    loudly); done() is checked every 50 ms by a timer in that loop."""
    if done():
        return
    end = time.perf_counter() + seconds
    loop = QEventLoop()
    timed_out: list[bool] = []

    def check() -> None:
        if done():
            loop.quit()
        elif time.perf_counter() > end:
            timed_out.append(True)
            loop.quit()

    checker = QTimer()
    checker.setInterval(50)
    checker.timeout.connect(check)
    checker.start()
    loop.exec()
    checker.stop()
    if timed_out:
        raise SystemExit(f"timed out after {seconds:.0f} s waiting for the GUI")


if __name__ == "__main__":
    raise SystemExit(main())
