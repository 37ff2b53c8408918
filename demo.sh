#!/usr/bin/env bash
# `make demo`: the main loop of comfy-replay on the example jobs in recipes/examples, with no ComfyUI server: steps
# 1-7 work on files alone, the rest ask local ComfyUI doubles (tests/fakecomfy.py on 127.0.0.1, stopped at the end).
# Run by `make demo` after it has created .venv; safe to run again: the recipes in recipes/ come out byte for byte
# the same, everything else is written under demo-out/ (ignored by git), emptied first.
set -euo pipefail
cd "$(dirname "$0")"
CR=".venv/bin/comfy-replay"
EX="recipes/examples"
OUT="demo-out"  # everything the demo makes besides recipes/ (git ignores it); emptied at every run
unset COMFY_API_KEY COMFY_SERVER  # only the local servers below are ever asked anything
rm -rf "$OUT" && mkdir -p "$OUT"

# A heading, then the command it runs (when given; `cr` prints its own).
step() { printf '\n\033[1m== %s\033[0m\n' "$1"; if [ $# -gt 1 ]; then printf '$ %s\n' "$2"; fi; }
cr() { printf '$ comfy-replay %s\n' "$*"; "$CR" "$@"; }
# submit VAR ARGS...: submit a prompt to $COMFY_SERVER, wait for it, print its id and status, keep its id in VAR.
submit() {
  local var="$1"; shift
  printf '$ comfy-replay submit %s --wait\n' "$*"
  "$CR" submit "$@" --wait >"$OUT/submit.out" 2>"$OUT/submit.err" || { cat "$OUT/submit.err" >&2; exit 1; }
  paste -sd ' ' "$OUT/submit.out"
  printf -v "$var" '%s' "$(head -n 1 "$OUT/submit.out")"
}

# Local ComfyUI doubles (tests/fakecomfy.py): start_server NAME ARGS... starts one on a free port, sets SERVER.
PIDS=()
trap 'for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done' EXIT
start_server() {
  local name="$1"; shift
  .venv/bin/python tests/fakecomfy.py --dialect oss --port 0 "$@" >"$OUT/$name.url" 2>"$OUT/$name.log" &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$OUT/$name.url" ] && break; sleep 0.1; done
  SERVER="$(head -n 1 "$OUT/$name.url")"
  [ -n "$SERVER" ] || { echo "demo: the local server did not start (see $OUT/$name.log)" >&2; exit 1; }
}

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
  "comfy-replay archive --server http://127.0.0.1:PORT -o $OUT/archive"
start_server archive --jobs "$EX"/*.job.json "$EX"/*.history.json
echo "(server at $SERVER)"
$CR archive --server "$SERVER" -o "$OUT/archive"
step "9. Run it again: nothing new on the server, so nothing is written" \
  "comfy-replay archive --server $SERVER -o $OUT/archive"
$CR archive --server "$SERVER" -o "$OUT/archive"
step "10. What git diff shows for a recipe (comfy-replay git-setup makes it git's diff driver)" \
  "comfy-replay textconv $OUT/archive/cc3ee95d-....yaml (first 20 lines)"
$CR textconv "$OUT/archive/cc3ee95d-63a7-4daa-8072-651d053baf28.yaml" | sed -n 1,20p

# From here on: a double that runs prompts of image nodes into real PNG files (served by /api/view), caches nodes
# like ComfyUI, and fails ImageBlend on batches of different sizes as ComfyUI 0.33 does; it also serves a good and a
# bad job recorded from a real ComfyUI (tests/data/bisect/).
start_server images --caching --fail-rule blend-batch-mismatch --object-info tests/data/object_info.json.gz \
  --jobs tests/data/bisect/blend_good.job.json tests/data/bisect/blend_bad.job.json
export COMFY_SERVER="$SERVER"
P="$EX/prompt_success_a.json"

step "11. Run one prompt twice on a ComfyUI that caches (ComfyUI keeps the nodes of the latest prompt)"
echo "(server at $SERVER, as COMFY_SERVER; the prompt: a red EmptyImage, blurred, inverted, saved and previewed)"
submit FIRST "$P"
echo "# another prompt in between: it shares node 1 (the EmptyImage) with the first, so that node stays cached"
submit OTHER "$P" --set 2.blur_radius=6
submit SECOND "$P"

step "12. Fetch both runs with their output files, stored by content"
cr fetch "$FIRST" -o "$OUT/runs/first.yaml" --outputs
cr fetch "$SECOND" -o "$OUT/runs/second.yaml" --outputs

step "13. Same prompt, new file names: diff compares the outputs by content and names the cached nodes"
cr diff "$OUT/runs/first.yaml" "$OUT/runs/second.yaml"

step "14. A changed prompt (the red turned orange): every output is different, with the numbers"
submit CHANGED "$P" --set 1.color=16744448
cr fetch "$CHANGED" -o "$OUT/runs/orange.yaml" --outputs
cr diff "$OUT/runs/first.yaml" "$OUT/runs/orange.yaml"

step "15. The same comparison as one self-contained HTML report (images a, b and their difference)"
cr diff "$OUT/runs/first.yaml" "$OUT/runs/orange.yaml" --format html -o "$OUT/report.html"
echo "open $OUT/report.html in a browser"

step "16. A regression suite: verify re-runs recorded recipes and compares their new outputs by content"
cr fetch "$FIRST" -o "$OUT/suite/red.yaml" --outputs
cr fetch "$CHANGED" -o "$OUT/suite/orange.yaml" --outputs
cr verify "$OUT/suite" --junit "$OUT/junit.xml"

step "17. Someone nudges the red by one level (255 -> 254): invisible, and verify still catches it"
echo "$ sed -i.bak 's/color: 16711680/color: 16646144/' $OUT/suite/red.yaml"
sed -i.bak 's/color: 16711680/color: 16646144/' "$OUT/suite/red.yaml" && rm "$OUT/suite/red.yaml.bak"
status=0
cr verify "$OUT/suite" --junit "$OUT/junit.xml" || status=$?
echo "(exit $status; CI reads $OUT/junit.xml: one test case per recipe, the mismatch as a <failure> with the numbers)"
[ "$status" -eq 1 ] || { echo "demo: verify should have exited 1" >&2; exit 1; }

step "18. Bisect: which of the bad job's 7 changes makes the good job fail? (real jobs, re-run on the double)"
cr bisect 1a567a26-bc8d-43fa-ac59-6530fa6aead0 236fddc5-58cc-47dd-ba51-94740186d175 -o "$OUT/culprit.yaml"

step "19. Where a job ran: show prints the recipe's environment line (captured from the server at fetch time)"
cr show "$OUT/runs/first.yaml"

finish() {
  printf '\n\033[1m== Done\033[0m\n'
  cat <<'END'
Your files:
  recipes/*.yaml                 one recipe per example job (YAML you can read, diff and commit)
  recipes/*.repro.yaml           the rebuilt failed job, ready for `comfy-replay submit`
  recipes/examples/              the recorded server responses they were made from
  demo-out/                      the rest, made again at every run (git ignores it):
    runs/, suite/                recipes fetched with --outputs; their files in outputs/ beside them
    report.html                  the HTML report of step 15
    junit.xml                    verify's JUnit XML of step 17
    culprit.yaml                 the good job plus the culprit, from bisect (step 18)
Try next:
  comfy-replay show recipes/f7838b83-aab4-48ed-96a5-1e0cb6760bc6.yaml
  comfy-replay export recipes/cc3ee95d-63a7-4daa-8072-651d053baf28.yaml --prompt
  COMFY_SERVER=http://127.0.0.1:8188 comfy-replay archive -o recipes/   # your own ComfyUI
  COMFY_API_KEY=... comfy-replay fetch <job id> -o recipes/              # a Comfy Cloud job
  docs/cli.md (every command), docs/outputs.md, docs/verify.md, docs/bisect.md, docs/report.md, docs/repro.md,
  docs/git.md
END
}
finish
