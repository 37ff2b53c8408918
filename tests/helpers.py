"""Small helpers shared by the tests: paths to test data and the real-world template corpus."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from replay.cli import main

DATA = Path(__file__).parent / "data"


def load(name: str) -> Any:
    """Load a JSON file from tests/data (e.g. "oss/success_a.job.json")."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def corpus_files() -> list[Path]:
    """Every JSON file of the comfyui-workflow-templates-json package (workflows and index files)."""
    import comfyui_workflow_templates_json as pkg

    folder = Path(pkg.__file__).parent / "templates"
    return sorted(folder.glob("*.json"))


def corpus_workflows() -> list[tuple[str, dict[str, Any]]]:
    """(name, UI workflow) for every workflow in the corpus; index files are left out by shape, not by name."""
    found = []
    for path in corpus_files():
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("nodes"), list):
            found.append((path.name, data))
    return found


def env_for(fake: Any) -> dict[str, str]:
    """The environment a CLI run needs to talk to a FakeComfy (its API key only on the Cloud dialect)."""
    env = {"COMFY_SERVER": fake.url}
    if fake.dialect == "cloud" and fake.api_key:
        env["COMFY_API_KEY"] = fake.api_key
    return env


def run_cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdout=out, stderr=err, env=env)
    return code, out.getvalue(), err.getvalue()
