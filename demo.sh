#!/usr/bin/env bash
# `make demo`: the main loop of comfy-replay on the example jobs in recipes/examples, with no ComfyUI server.
# Run by `make demo` after it has created .venv; safe to run again (recipes already on disk stay untouched).
set -euo pipefail
cd "$(dirname "$0")"
CR=".venv/bin/comfy-replay"
EX="recipes/examples"
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "1. A failed job at a glance" "comfy-replay show $EX/fail_runtime_zerodiv.job.json"
$CR show "$EX/fail_runtime_zerodiv.job.json"

step "2. Archive the example jobs as recipes" "comfy-replay fetch $EX/*.json -o recipes/"
$CR fetch "$EX"/success_a.job.json "$EX"/fail_runtime_zerodiv.job.json "$EX"/interrupted_running.history.json \
  "$EX"/prompt_success_a.json "$EX"/ui_basic_datatype_conversion.json -o recipes/

step "3. Validate them (schemas and graphs)" "comfy-replay validate recipes/*.yaml"
$CR validate recipes/*.yaml

step "4. Lossless: the recipe gives back the job the server sent" \
  "comfy-replay export recipes/f7838b83-aab4-48ed-96a5-1e0cb6760bc6.yaml --job | diff - <(python -m json.tool ...)"
if diff <($CR export recipes/f7838b83-aab4-48ed-96a5-1e0cb6760bc6.yaml --job | .venv/bin/python -m json.tool --sort-keys) \
        <(.venv/bin/python -m json.tool --sort-keys "$EX/fail_runtime_zerodiv.job.json") >/dev/null; then
  echo "identical"
else
  echo "DIFFERENT"; exit 1
fi
