"""Child process for tests/engine/test_guard_state.py: real allocation failures (RLIMIT_AS)
in the places oom_driver.py does not reach, and a resume after one.

    python guard_oom_driver.py MODE FOLDER HEADROOM_MIB

MODE:
- optimizer: the address space is capped just before the first optimizer step, so AdamW
  cannot allocate its running averages;
- eval: capped when the first evaluation begins, on 64 long validation texts;
- stop: capped at the first step (as oom_driver.py), then stopped after it (2 epochs of one
  step), so the checkpoint holds the halved micro-batch;
- resume: resumes the folder `stop` left, capped again at its first step.

Prints one JSON line: the run's status, error and notices. Test-only instrumentation: the cap
is set from outside the engine, which sees nothing but the failing allocations.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: model_folders
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/engine: oom_driver

from oom_driver import _vm_size, write_long_reviews  # noqa: E402


def cap(headroom_mib: int) -> int:
    limit = _vm_size() + headroom_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    return limit


def uncap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def main(mode: str, folder: Path, headroom_mib: int) -> None:
    from model_folders import tiny_bert

    from workbench.config import RunConfig
    from workbench.engine.training import guards
    from workbench.engine.training import run as run_module
    from workbench.engine.training.fit import FitHooks

    capped: list[int] = []

    def cap_once() -> None:
        if not capped:  # everything is loaded: cap what follows may add
            capped.append(cap(headroom_mib))

    hooks = None
    settings: dict = {}
    if mode == "optimizer":
        model = folder / "wide-bert"
        if not model.exists():  # 64 wide: AdamW's averages of the embeddings are 2 x 7.5 MB
            tiny_bert(model, hidden_size=64, intermediate_size=128)
        hooks = FitHooks(before_optimizer_step=lambda state, m: cap_once())
        data = write_long_reviews(folder / "short.csv", rows=20, words=10)
        settings = dict(batch_size=16, max_length=32)
    elif mode == "eval":
        model = folder / "eval-bert"
        if not model.exists():  # evaluation attends without the (B, H, T, T) scores: the
            # (B, T, 1024) feed-forward activations dominate (64 MB for 64 x 256 tokens)
            tiny_bert(
                model,
                hidden_size=256,
                intermediate_size=1024,
                num_attention_heads=4,
                max_position_embeddings=256,
            )
        data = write_long_reviews(folder / "short.csv", rows=20, words=10)
        long = write_long_reviews(folder / "long.csv", rows=64, words=300)
        # oneDNN's matmuls fail to create their primitives under the cap and go on failing
        # (seen: even batches of 1 then); without it, a failed allocation is the allocator's.
        import torch

        torch.backends.mkldnn.enabled = False
        real = run_module.run_model

        def run_model(*args, **kwargs):
            cap_once()
            return real(*args, **kwargs)

        run_module.run_model = run_model
        settings = dict(batch_size=16, max_length=256, eval_data=str(long))
    elif mode in ("stop", "resume"):
        model = folder / "tiny-bert"
        if not model.exists():
            tiny_bert(model, max_position_embeddings=256, num_attention_heads=8)
        data = folder / "long.csv"
        if not data.exists():
            write_long_reviews(data)
        real_backward = guards.MicroBatches.backward

        def backward(self, *args, **kwargs):
            cap_once()
            return real_backward(self, *args, **kwargs)

        guards.MicroBatches.backward = backward
        settings = dict(batch_size=32, max_length=256, epochs=2)
    else:
        raise SystemExit(f"unknown mode {mode}")

    notices: list[str] = []
    steps: list[int] = []

    def on_event(event) -> None:
        if event.kind == "notice":
            notices.append(event.message)
        elif event.kind == "step":
            steps.append(event.step)

    run_dir = folder / f"run-{'stop' if mode == 'resume' else mode}"
    if mode == "resume":
        result = run_module.resume(run_dir, on_event=on_event)
    else:
        config = RunConfig(
            data=str(data),
            model=str(model),
            **{"epochs": 1, **settings},
            dropout=0.1,  # the CPU path that materialises the attention scores
            device="cpu",
            precision="fp32",
            log_every_steps=1,
            output=str(run_dir),
        )
        result = run_module.train(
            config,
            on_event=on_event,
            should_stop=(lambda: bool(steps)) if mode == "stop" else None,
            hooks=hooks,
        )
    uncap()
    print(
        json.dumps(
            {
                "status": result.status,
                "error": result.error,
                "notices": notices,
                "steps": steps,
                "capped": bool(capped),
                "train_steps": result.metrics.get("train_steps"),
                "accuracy": result.metrics.get("accuracy"),
                "num_examples": result.metrics.get("num_examples"),
                "run_dir": str(result.run_dir),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
