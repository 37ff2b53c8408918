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

step "2. Archive the example jobs as recipes" "comfy-replay fetch $EX/*.json -o recipes/ --object-info tests/data/object_info.json.gz"
$CR fetch "$EX"/success_a.job.json "$EX"/fail_runtime_zerodiv.job.json "$EX"/interrupted_running.history.json \
  "$EX"/prompt_success_a.json "$EX"/ui_basic_datatype_conversion.json -o recipes/ \
  --object-info tests/data/object_info.json.gz

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

step "5. Why did these two runs differ? Node by node" \
  "comfy-replay diff recipes/cc3ee95d-....yaml recipes/f7838b83-....yaml"
$CR diff recipes/cc3ee95d-63a7-4daa-8072-651d053baf28.yaml recipes/f7838b83-aab4-48ed-96a5-1e0cb6760bc6.yaml

step "6. Rebuild the failed job as the smallest workflow that still hits the failure" \
  "comfy-replay repro recipes/f7838b83-....yaml --minimal"
$CR repro recipes/f7838b83-aab4-48ed-96a5-1e0cb6760bc6.yaml --minimal

step "7. Convert a UI workflow to an API prompt, offline, with recorded node definitions" \
  "comfy-replay convert $EX/ui_basic_datatype_conversion.json --object-info tests/data/object_info.json.gz"
$CR convert "$EX/ui_basic_datatype_conversion.json" --object-info tests/data/object_info.json.gz -o recipes/ui_basic_datatype_conversion.prompt.json

step "8. Archive a whole server's history: a local ComfyUI double serving the example jobs" \
  "comfy-replay archive --server http://127.0.0.1:PORT -o \$TMP/archive"
WORK="$(mktemp -d)"
.venv/bin/python tests/fakecomfy.py --dialect oss --port 0 --jobs "$EX"/*.job.json "$EX"/*.history.json \
  >"$WORK/url" 2>"$WORK/server.log" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do [ -s "$WORK/url" ] && break; sleep 0.1; done
SERVER="$(head -n 1 "$WORK/url")"
echo "(server at $SERVER)"
$CR archive --server "$SERVER" -o "$WORK/archive"
step "9. Run it again: nothing new on the server, so nothing is written" \
  "comfy-replay archive --server $SERVER -o \$TMP/archive"
$CR archive --server "$SERVER" -o "$WORK/archive"
step "10. What git diff shows for a recipe (comfy-replay git-setup makes it git's diff driver)" \
  "comfy-replay textconv \$TMP/archive/cc3ee95d-....yaml (first 20 lines)"
$CR textconv "$WORK/archive/cc3ee95d-63a7-4daa-8072-651d053baf28.yaml" | sed -n 1,20p

finish() {
  printf '\n\033[1m== Done\033[0m\n'
  cat <<'END'
Your files:
  recipes/*.yaml                 one recipe per example job (YAML you can read, diff and commit)
  recipes/*.repro.yaml           the rebuilt failed job, ready for `comfy-replay submit`
  recipes/examples/              the recorded server responses they were made from
Try next:
  comfy-replay show recipes/f7838b83-aab4-48ed-96a5-1e0cb6760bc6.yaml
  comfy-replay export recipes/cc3ee95d-63a7-4daa-8072-651d053baf28.yaml --prompt
  COMFY_SERVER=http://127.0.0.1:8188 comfy-replay archive -o recipes/   # your own ComfyUI
  COMFY_API_KEY=... comfy-replay fetch <job id> -o recipes/              # a Comfy Cloud job
  docs/cli.md (every command), docs/repro.md, docs/git.md
END
}
finish
