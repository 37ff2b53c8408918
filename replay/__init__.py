"""comfy-replay: make ComfyUI jobs reproducible (fetch, archive, diff and rebuild jobs as YAML recipes).

The public API is listed in ``__all__``; names are imported on first use so that ``import replay`` (and the
CLI's ``--help``) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Client": "replay.client",
    "Job": "replay.jobs",
    "ExecutionError": "replay.jobs",
    "detect_kind": "replay.jobs",
    "job_from_document": "replay.jobs",
    "check_job_id": "replay.jobs",
    "load_job": "replay.sources",
    "read_document": "replay.sources",
    "build_recipe": "replay.recipe",
    "dumps_recipe": "replay.recipe",
    "loads_recipe": "replay.recipe",
    "write_recipe": "replay.recipe",
    "export_job": "replay.recipe",
    "export_document": "replay.recipe",
    "job_from_recipe": "replay.recipe",
    "fetch": "replay.fetching",
    "archive_jobs": "replay.archive",
    "ArchiveResult": "replay.archive",
    "FetchResult": "replay.fetching",
    "summarize": "replay.summary",
    "validate_document": "replay.validate",
    "validate_files": "replay.validate",
    "Problem": "replay.validate",
    "diff_jobs": "replay.diff",
    "JobDiff": "replay.diff",
    "convert_workflow": "replay.convert",
    "Conversion": "replay.convert",
    "NodeDefs": "replay.nodedefs",
    "load_object_info": "replay.nodedefs",
    "Graph": "replay.workflow",
    "parse_set": "replay.workflow",
    "build_repro": "replay.repro",
    "write_repro": "replay.repro",
    "rerun": "replay.repro",
    "verdict": "replay.repro",
    "bisect_jobs": "replay.bisect",
    "plan_bisect": "replay.bisect",
    "find_changes": "replay.changeset",
    "write_bisect": "replay.bisect",
    "BisectResult": "replay.bisect",
    "submit_prompt": "replay.submit",
    "submit_job": "replay.submit",
    "wait_for_job": "replay.submit",
    "run_preflight": "replay.preflight",
    "PreflightReport": "replay.preflight",
    "Finding": "replay.preflight",
    "capture_environment": "replay.environment",
    "environment_drift": "replay.environment_diff",
    "diff_environments": "replay.environment_diff",
    "Drift": "replay.environment_diff",
    "EnvChange": "replay.environment_diff",
    "render_diff_report": "replay.report",
    "render_verify_report": "replay.report",
    "ReportLimits": "replay.report",
    "git_setup": "replay.gitdiff",
    "textconv": "replay.gitdiff",
    "download_outputs": "replay.outputs",
    "compare_artifacts": "replay.outputs",
    "OutputStore": "replay.outputs",
    "OutputPair": "replay.outputs",
    "Thresholds": "replay.outputs",
    "verify_recipes": "replay.verify",
    "VerifyRun": "replay.verify",
    "VerifyResult": "replay.verify",
    "download_job_outputs": "replay.artifacts",
    "compare_job_outputs": "replay.artifacts",
    "cached_nodes": "replay.jobs",
    "ReplayError": "replay.errors",
    "InputError": "replay.errors",
    "DocumentError": "replay.errors",
    "GraphError": "replay.errors",
    "JobStateError": "replay.errors",
    "TargetExistsError": "replay.errors",
    "EnvironmentDrift": "replay.errors",
    "SubmitRejected": "replay.errors",
    "ServerError": "replay.errors",
    "JobNotFound": "replay.errors",
    "NotFound": "replay.errors",
    "ServerUnreachable": "replay.errors",
    "MalformedResponse": "replay.errors",
    "WaitTimeout": "replay.errors",
    "AuthError": "replay.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'replay' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
