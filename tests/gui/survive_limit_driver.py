"""A GUI run (TrainingRunner + Train page, offscreen) under a file size limit that its first
checkpoint exceeds (EFBIG from the OS): prints the question's text as JSON, raises the limit
(as a user would, `ulimit -f`), presses Save again and prints how the run ended. Run by
test_gui_full_disk.py in a child process whose soft RLIMIT_FSIZE was lowered."""

from __future__ import annotations

import json
import os
import resource
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from workbench import engine  # noqa: E402
from workbench.config import RunConfig  # noqa: E402
from workbench.gui.panels.train import TrainPanel  # noqa: E402
from workbench.gui.worker import TrainingRunner  # noqa: E402


def main() -> int:
    app = QApplication([])
    config = RunConfig.from_dict(json.loads(sys.argv[1]))
    panel = TrainPanel()
    panel.show_error = lambda *a: print(json.dumps({"error": a[2]}), flush=True)
    runner = TrainingRunner(engine.train, parent=panel)
    panel.connect_runner(runner)
    panel.show()

    def answer() -> None:
        dialog = panel.save_dialog
        failure = dialog.question.failure
        print(json.dumps({"what": failure.what, "errno": failure.errno, "text": dialog.text()}))
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # the limit is raised
        dialog.again_button.click()

    runner.sig_save_failed.connect(lambda question: QTimer.singleShot(0, answer))
    runner.sig_run_finished.connect(
        lambda event: (
            print(json.dumps({"status": event.status, "run_dir": event.run_dir}), flush=True),
            app.quit(),
        )
    )
    runner.start(config)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
