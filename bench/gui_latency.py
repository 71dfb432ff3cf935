"""GUI fluidity while training: event-loop lateness, plot cost, throughput, start-up time.

One invocation measures, with the whole main window attached (offscreen):
- **start-up**: a fresh `python -m workbench` (the GUI entry: cli.main → gui/app.py) timed
  from before the process is spawned until its main window's first Expose event, median of
  `--startups`; beside it the same for a bare Qt window (PySide6 alone: the floor on this
  machine) and `workbench --help`. Target: window < 1 s after start.
- **event-loop lateness** during a real short training: how late a 10 ms QTimer fires in
  the GUI thread (p50/p99/max ms). Target: p99 < 50 ms.
- **plot update cost**: the wall time of each CurvePlotWidget.refresh during that run (the
  timer-coalesced setData + ranges), and of one refresh plus repaint of the plot with 10,000
  points, each refresh adding one point inside the run's total steps (as in training; the
  plot is built and laid out before the timing). A refresh runs at most every
  CurvePlotWidget.REFRESH_MS.
- **throughput**: training examples/s of that GUI run next to `workbench train --config`
  of the same run's config.toml in a fresh process (the CLI), back to back, `--rounds` times.
  Target: GUI within 5 % of the CLI.

    python bench/gui_latency.py                  # 256 rows of the bundled sample, 1 epoch
    python bench/gui_latency.py --rows 512 --rounds 2

Prints one JSON object. On a shared machine the absolute times move with the load; compare
the ratios, which are measured back to back.

Measured 2026-12-01 20:43 UTC, 2-core x86_64 shared by ~8 engineers (load average 10-15),
`--rows 64 --startups 2`: window shown 32.0 s median (49.5, 14.5) against 3.8 s for a bare
Qt window; --help 4.4 s; event-loop lateness p50 1 ms, p99 45 ms, max 1157 ms; plot refresh
during the run p50 35 ms, 10,000-point refresh + repaint p50 134 ms; GUI 2.37 vs CLI 2.21
examples/s (1.07). Holding the panels' background tasks until the first Expose (gui/tasks.py,
gui/app.py), A/B interleaved 3 times: window shown 13.1 s median without, 6.7 s with.

Issue 17's start-up and plot work, measured 2026-12-02 00:04-00:09 UTC on the same shared
machine (load average 12-15 throughout, so only the ratios mean much), before (the tree at
101dcf3) and after (the tree at 31139cb: lazy pandas, lazy pyqtgraph plots, cheap refresh)
interleaved in one driver, 3 rounds each, this file's start-up probe and plot_cost (medians):
window shown 10.72 s before, 6.33 s after (0.59x; bare Qt window 0.86 / 0.76 s); --help
3.82 s, 1.61 s (0.42x); 10,000-point plot refresh p50 12.45 ms, 1.34 ms; refresh + repaint
p50 97.8 ms, 29.1 ms (0.30x; p99 of 20 is the load's worst: 183, 162 ms). An earlier
interleaved run at 23:45 (load 14): window 13.34 / 8.49 s, --help 4.42 / 2.54 s, refresh +
repaint p50 125.8 / 32.8 ms. The quiet 22:53 measurement before this work was window 2.89 s,
--help 1.05 s, refresh + repaint 95 ms p50: by these ratios about 1.7 s, 0.45 s and 28 ms
now; the 1 s window target is not met yet (what is left: numpy and every task module for
the CLI parser's task defaults and the Model page's task list, and all eight pages built
before the first frame).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from soak import deadline_wait, percentile  # noqa: E402

# The child of the start-up measurement: a QApplication with an event filter that reports
# the first Expose of a window and quits, then `python -m workbench` exactly (runpy). The
# app reuses the QApplication that exists, so the child pays for Qt as the real app does.
PROBE = """
import runpy, sys
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([sys.argv[0]])
class Probe(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Expose and obj.isWindowType() and obj.isVisible():
            app.removeEventFilter(self)
            print("WINDOW-SHOWN", flush=True)
            QTimer.singleShot(0, app.quit)
        return False
probe = Probe()
app.installEventFilter(probe)
if sys.argv[1:] == ["bare"]:
    window = QMainWindow()
    window.show()
    app.exec()
else:
    sys.argv = ["workbench"]
    runpy.run_module("workbench", run_name="__main__", alter_sys=True)
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="a CSV with text,label (default: the bundled sample)")
    parser.add_argument("--rows", type=int, default=256, help="rows to train on (256)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="GUI + CLI pairs (1)")
    parser.add_argument("--startups", type=int, default=3, help="start-up repeats (3)")
    parser.add_argument("--skip-training", action="store_true", help="start-up and plot only")
    return parser.parse_args(argv)


def summary_ms(values: list[float]) -> dict:
    return {
        "count": len(values),
        "p50": _r(percentile(values, 50)),
        "p99": _r(percentile(values, 99)),
        "max": _r(max(values, default=None)),
    }


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# ---- start-up -----------------------------------------------------------------------------
def time_to_window(home: Path, bare: bool) -> float:
    """Seconds from spawning the process to its first window's Expose."""
    env = {**os.environ, "WORKBENCH_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, "-c", PROBE, *(["bare"] if bare else [])]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    shown = None
    for line in process.stdout:
        if line.strip() == "WINDOW-SHOWN":
            shown = time.perf_counter() - start
            break
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
    if shown is None:
        raise SystemExit(f"the {'bare' if bare else 'workbench'} window never showed")
    return shown


def time_help(home: Path) -> float:
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "workbench", "--help"], env=env, check=True, capture_output=True
    )
    return time.perf_counter() - start


def startup(home: Path, repeats: int) -> dict:
    ours, bare, helps = [], [], []
    for _ in range(repeats):  # interleaved, so load drifts hit both alike
        bare.append(time_to_window(home / "bare", bare=True))
        ours.append(time_to_window(home / "startup", bare=False))
        helps.append(time_help(home / "startup"))
    median = statistics.median(ours)
    return {
        "repeats": repeats,
        "window_shown_s": _r(median),
        "window_shown_all_s": [_r(v) for v in ours],
        "bare_qt_window_s": _r(statistics.median(bare)),
        "over_bare_qt_s": _r(median - statistics.median(bare)),
        "help_s": _r(statistics.median(helps)),
        "target_s": 1.0,
        "met": median < 1.0,
    }


# ---- plot ---------------------------------------------------------------------------------
def plot_cost(app, points: int = 10_000, repeats: int = 20) -> dict:
    """One refresh (setData + ranges) and one refresh + repaint of a full plot."""
    from workbench.gui.widgets.curve_plot import CurvePlotWidget

    plot = CurvePlotWidget()
    plot.resize(900, 400)
    plot.show()
    app.processEvents()
    plot._timer.stop()  # refreshed by hand here
    plot.graphics  # noqa: B018 (built now if it builds lazily, not inside the timing)
    app.processEvents()  # laid out and drawn once
    plot.set_total_steps(points + repeats)  # the new points fall inside the run, as in training
    for step in range(1, points + 1):
        plot.add_train_loss(step, 1.0 / step**0.3)
        if step % 500 == 0:
            plot.add_eval(step, 0.9 / step**0.3, 0.5 + step / points / 3)
    refresh, paint = [], []
    for i in range(repeats):
        plot.add_train_loss(points + i + 1, 0.1)
        start = time.perf_counter()
        plot.refresh()
        middle = time.perf_counter()
        plot.graphics.viewport().repaint()
        end = time.perf_counter()
        refresh.append((middle - start) * 1000)
        paint.append((end - start) * 1000)
    plot.close()
    plot.deleteLater()
    return {
        "points": points,
        "refresh_ms": summary_ms(refresh),
        "refresh_and_repaint_ms": summary_ms(paint),
        "refresh_interval_ms": CurvePlotWidget.REFRESH_MS,
    }


# ---- training with the window attached ----------------------------------------------------
def gui_run(app, data: Path, args: argparse.Namespace) -> dict:
    from PySide6.QtCore import QElapsedTimer, QTimer

    from workbench.gui.main_window import MainWindow

    window = MainWindow(data_path=data)
    window.show()
    deadline_wait(app, lambda: window.data_panel.frame() is not None, 300)
    window.hyperparams_panel.set_values(
        {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "eval_every_steps": 0,
            "precision": "fp32",  # auto may choose differently between the two sides
        }
    )
    lateness: list[float] = []
    refreshes: list[float] = []
    finished: list = []
    plot = window.train_panel.findChild(_curve_plot_class())
    if plot is not None:  # time each refresh the plot's timer makes
        original = plot.refresh

        def timed_refresh() -> None:
            start = time.perf_counter()
            dirty = plot._dirty
            original()
            if dirty:
                refreshes.append((time.perf_counter() - start) * 1000)

        plot.refresh = timed_refresh
    tick = QElapsedTimer()

    def on_tick() -> None:
        lateness.append(max(0.0, tick.restart() - 10.0))

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(on_tick)
    window.runner.sig_run_finished.connect(finished.append)
    if not window.start_training():
        raise SystemExit("the run could not start (see the Train page's message)")
    tick.start()
    timer.start()
    deadline_wait(app, lambda: bool(finished), 3600)
    timer.stop()
    event = finished[0]
    if event.status != "completed":
        raise SystemExit(f"the GUI run ended {event.status}: {event.error}")
    run_dir = Path(event.run_dir)
    window.close()
    deadline_wait(app, lambda: window.closed, 120)
    metrics = json.loads((run_dir / "eval_results.json").read_text(encoding="utf-8"))
    return {
        "run_dir": run_dir,
        "examples_per_s": float(metrics["train_examples_per_second"]),
        "lateness": lateness,
        "refreshes": refreshes,
    }


def _curve_plot_class():
    from workbench.gui.widgets.curve_plot import CurvePlotWidget

    return CurvePlotWidget


def cli_run(config: Path, output: Path, home: Path) -> float:
    """`workbench train --config` of the GUI run's own config, in a fresh process."""
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    command = [sys.executable, "-m", "workbench", "train", "--config", str(config)]
    command += ["--output", str(output)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the CLI run failed: {done.stderr.strip()[-2000:]}")
    metrics = json.loads((output / "eval_results.json").read_text(encoding="utf-8"))
    return float(metrics["train_examples_per_second"])


def training(app, home: Path, args: argparse.Namespace) -> dict:
    import pandas as pd

    from workbench.resources import sample_data_path

    source = Path(args.data) if args.data else sample_data_path()
    data = home / "gui-latency.csv"
    pd.read_csv(source).head(args.rows).to_csv(data, index=False)
    rounds, lateness, refreshes = [], [], []
    for index in range(args.rounds):
        gui = gui_run(app, data, args)
        cli = cli_run(gui["run_dir"] / "config.toml", home / f"cli-{index}", home)
        lateness += gui["lateness"]
        refreshes += gui["refreshes"]
        rounds.append(
            {
                "gui_examples_per_s": _r(gui["examples_per_s"]),
                "cli_examples_per_s": _r(cli),
                "gui_over_cli": _r(gui["examples_per_s"] / cli, 3),
            }
        )
    ratio = statistics.median(r["gui_over_cli"] for r in rounds)
    late = summary_ms(lateness)
    return {
        "rows": args.rows,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "precision": "fp32",
        "event_loop_lateness_ms": {
            "timer_interval_ms": 10,
            **late,
            "target_p99": 50,
            "met": late["p99"] is not None and late["p99"] < 50,
        },
        "plot_refresh_during_run_ms": summary_ms(refreshes),
        "throughput": {
            "rounds": rounds,
            "gui_over_cli_median": ratio,
            "target": ">= 0.95",
            "met": ratio >= 0.95,
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="workbench-gui-latency-") as tmp:
        home = Path(tmp)
        os.environ["WORKBENCH_HOME"] = str(home)  # runs and settings stay out of the user's
        report: dict = {
            "benchmark": "bench/gui_latency.py: the main window while it trains (offscreen)",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        }
        report["startup"] = startup(home, args.startups)  # before this process loads much
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([sys.argv[0]])
        app.setOrganizationName("WorkbenchGuiLatency")
        app.setApplicationName(f"WorkbenchGuiLatency-{os.getpid()}")
        report["plot_update"] = plot_cost(app)
        if not args.skip_training:
            report["training"] = training(app, home, args)
            import torch

            report["torch_threads"] = torch.get_num_threads()
        report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
