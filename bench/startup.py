"""Start-up cost: `comfy-replay --help` and `--version` next to `python -c "import requests, yaml"`.

Also checks that neither imports deepdiff or jsonschema (the heavy modules are imported by the commands that
need them).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15


def timed(argv: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    py = sys.executable
    base = timed([py, "-c", "import requests, yaml"])
    help_t = timed([py, "-m", "replay", "--help"])
    version_t = timed([py, "-m", "replay", "--version"])
    probe = (
        "import sys, io, contextlib\nfrom replay.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--help']); main(['--version'])\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('deepdiff','jsonschema'))))"
    )
    heavy = subprocess.run([py, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    print(f"python -c 'import requests, yaml': {base * 1000:7.1f} ms (median of {RUNS})")
    print(f"comfy-replay --help:               {help_t * 1000:7.1f} ms  ratio {help_t / base:.2f}x")
    print(f"comfy-replay --version:            {version_t * 1000:7.1f} ms  ratio {version_t / base:.2f}x")
    ok = heavy == ""
    print(f"deepdiff/jsonschema imported by --help/--version: {heavy or 'none'}  {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
