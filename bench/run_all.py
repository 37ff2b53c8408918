"""Run every benchmark in bench/ in turn (`make bench`); each prints its own ratios and PASS/FAIL lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("*.py")):
        if script.name in ("run_all.py",) or script.name.startswith("_"):
            continue
        print(f"\n=== {script.name}", flush=True)
        # -P keeps bench/ off this script's sys.path (bench/bisect.py would hide the standard `bisect` that
        # `random` imports); only for the script itself, not for the servers it starts (Python 3.11+).
        safe = ["-P"] if sys.version_info >= (3, 11) else []
        if subprocess.run([sys.executable, *safe, str(script)], cwd=HERE.parent).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nbenchmarks that missed a target or failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
