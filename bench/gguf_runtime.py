"""Our GGUF export of a real decoder, run in llama.cpp (llama-cpp-python): SmolLM2-135M-Instruct
(the bundled GGUF, dequantised) after a few LoRA steps, merged, exported to f16 and q8_0.
For each: the prompts' token ids in llama.cpp vs ours, 20 greedy new tokens (llama.cpp's own
run through its KV cache vs Workbench's `generate`), how often llama.cpp picks our greedy
token along our continuation, the largest logit difference (relative to the largest logit),
and greedy tokens/s in llama.cpp vs ours (same thread count). Prints one JSON object.

    .venv/bin/python bench/gguf_runtime.py [--steps 4] [--threads 2] [--out result.json]

Timings on a shared machine are only comparable as ratios within one run.

Measured 2026-12-02 00:17 UTC, llama-cpp-python 0.3.36 (built here from its sdist, llama.cpp
0c1e57098), 1 thread, the loaded 2-core Xeon, 4 LoRA steps (rank 8): f16 (258 MB): prompts
tokenised alike 4/4, greedy runs identical 4/4, llama.cpp picks our token at 100 % of the
steps, logits within 0.18 % of the largest; q8_0 (138 MB): 4/4, 3/4 (one run parts at token
19), 98.0 %, 7.2 %. Greedy time for the 4 prompts: llama.cpp 23.5 s (f16) / 14.7 s (q8_0),
ours 11.0 s (fp32, KV cache) — llama-cpp-python's per-token Python path with every logit
copied out, on one thread; not a measure of llama.cpp's own speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPTS = [
    "The capital of France is",
    "Question: Do you have the red trail sneakers in size 42?\nAnswer:",
    "def fibonacci(n):\n    ",
    "Once upon a time, in 1887, a café in Zürich",
]
TRAIN = [
    "Q: Do you have the blue rain jacket in M? A: yes, the blue rain jacket comes in M.",
    "Q: How much are the wool socks? A: the wool socks cost 12 euros.",
    "Q: Can I return the linen shirt? A: yes, within 30 days.",
    "Q: When will the hiking boots arrive? A: in 2 to 4 working days.",
] * 4
NEW_TOKENS = 20


def _load(llama_cpp, path: Path, threads: int):
    """llama.cpp without its weight repacking (as tests/engine/test_gguf_runtime.py: its AMX
    q8_0 kernels crashed there on this Xeon)."""
    low = llama_cpp.llama_cpp
    default = low.llama_model_default_params

    def without_repacking():
        params = default()
        params.use_extra_bufts = False
        return params

    low.llama_model_default_params = without_repacking
    try:
        return llama_cpp.Llama(
            str(path), n_ctx=256, n_batch=256, n_threads=threads, logits_all=True, verbose=False
        )
    finally:
        low.llama_model_default_params = default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="LoRA steps before the export")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import llama_cpp
    import numpy as np
    import torch

    from workbench.config import RunConfig
    from workbench.engine import export_model, train
    from workbench.engine.generation.generate import GenerationSettings, generate
    from workbench.engine.models.loading import build_model
    from workbench.engine.tokenizer import TextTokenizer

    torch.set_num_threads(args.threads)
    result: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {args.threads} threads",
        "llama_cpp_python": llama_cpp.__version__,
        "model": "SmolLM2-135M-Instruct (bundled Q4_1 GGUF, dequantised)",
        "lora_steps": args.steps,
    }
    with tempfile.TemporaryDirectory(prefix="gguf-runtime-") as tmp:
        root = Path(tmp)
        data = root / "train.txt"
        data.write_text("\n".join(TRAIN) + "\n", encoding="utf-8")
        started = time.perf_counter()
        run = train(
            RunConfig(
                task="causal-lm",
                data=str(data),
                model="smollm2",
                output=str(root / "run"),
                epochs=1,
                max_steps=args.steps,
                batch_size=4,
                max_length=48,
                lora_rank=8,
                precision="fp32",
                seed=0,
            )  # fmt: skip
        )
        if run.status != "completed":
            raise SystemExit(f"training failed: {run.error}")
        result["train_s"] = round(time.perf_counter() - started, 1)
        folder = run.run_dir / "model"
        model = build_model(folder, "causal-lm", 0).model.eval()
        tokenizer = TextTokenizer.from_folder(folder, 1 << 20)
        settings = GenerationSettings(max_new_tokens=NEW_TOKENS)
        ours_all, ours_s = [], 0.0
        for prompt in PROMPTS:
            ids = tokenizer.encode_prompt(prompt)
            started = time.perf_counter()
            ours_all.append(list(generate(model, tokenizer, ids, settings)))
            ours_s += time.perf_counter() - started
        for format in ("gguf-f16", "gguf-q8_0"):
            started = time.perf_counter()
            path = export_model(folder, root / f"{format}.gguf", format)
            entry: dict = {"export_s": round(time.perf_counter() - started, 1)}
            entry["file_mb"] = round(path.stat().st_size / 2**20, 1)
            llm = _load(llama_cpp, path, args.threads)
            same_ids, equal, picked, steps, worst, theirs_s = 0, 0, 0, 0, 0.0, 0.0
            generations = []
            for prompt, ours in zip(PROMPTS, ours_all, strict=True):
                ids = tokenizer.encode_prompt(prompt)
                same_ids += llm.tokenize(prompt.encode(), add_bos=True, special=True) == ids
                llm.reset()
                started = time.perf_counter()
                llm.eval(ids)
                theirs: list[int] = []
                for _ in range(NEW_TOKENS):
                    token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
                    if token == tokenizer.eos_id:
                        break
                    theirs.append(token)
                    llm.eval([token])
                theirs_s += time.perf_counter() - started
                equal += theirs == ours
                text = ids + ours
                llm.reset()
                llm.eval(text)
                got = np.array(llm.scores[: len(text)], dtype=np.float32)
                with torch.no_grad():
                    mask = torch.ones(1, len(text), dtype=torch.long)
                    expected = model(torch.tensor([text]), mask)[0].float().numpy()
                worst = max(worst, float(np.abs(got - expected).max() / np.abs(expected).max()))
                chosen = got[len(ids) - 1 : len(text) - 1].argmax(-1)
                picked += int((chosen == np.array(ours)).sum())
                steps += len(ours)
                generations.append(
                    {"prompt": prompt, "ours": tokenizer.decode(ours),
                     "llama_cpp": tokenizer.decode(theirs), "same_ids": theirs == ours}
                )  # fmt: skip
            llm.close()
            entry.update(
                prompts_tokenised_alike=f"{same_ids}/{len(PROMPTS)}",
                greedy_runs_identical=f"{equal}/{len(PROMPTS)}",
                teacher_forced_agreement=round(picked / max(steps, 1), 4),
                max_logit_difference_relative=round(worst, 5),
                greedy_seconds_llama_cpp=round(theirs_s, 2),
                greedy_seconds_ours=round(ours_s, 2),
                speed_ratio_llama_cpp_over_ours=round(ours_s / max(theirs_s, 1e-9), 2),
                generations=generations,
            )
            result[format] = entry
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
