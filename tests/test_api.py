"""The public API is pinned: adding or removing a name is a deliberate change to this list."""

from __future__ import annotations

import subprocess
import sys

import replay

PUBLIC = {
    "__version__", "AuthError", "Client", "DocumentError", "ExecutionError", "FetchResult", "GraphError", "InputError",
    "Job", "JobNotFound", "JobStateError", "MalformedResponse", "ReplayError", "ServerError", "ServerUnreachable",
    "SubmitRejected", "TargetExistsError", "WaitTimeout", "build_recipe", "check_job_id", "detect_kind",
    "dumps_recipe", "export_document", "export_job", "fetch", "job_from_document", "job_from_recipe", "load_job",
    "loads_recipe", "read_document", "summarize", "write_recipe",
    "validate_document", "validate_files", "Problem", "diff_jobs", "JobDiff", "convert_workflow", "Conversion",
    "NodeDefs", "load_object_info", "Graph", "parse_set", "build_repro", "write_repro", "rerun", "verdict",
    "submit_prompt", "submit_job", "wait_for_job", "git_setup", "textconv", "archive_jobs", "ArchiveResult",
    "bisect_jobs", "plan_bisect", "find_changes", "write_bisect", "BisectResult",
    "verify_recipes", "VerifyRun", "VerifyResult",
    "render_diff_report", "render_verify_report", "ReportLimits",
    "download_outputs", "compare_artifacts", "OutputStore", "OutputPair", "Thresholds", "NotFound",
    "download_job_outputs", "compare_job_outputs", "cached_nodes",
    "run_preflight", "PreflightReport", "Finding", "capture_environment", "environment_drift", "diff_environments",
    "Drift", "EnvChange", "EnvironmentDrift",
}


def test_public_names_are_exactly_the_pinned_list():
    assert set(replay.__all__) == PUBLIC


def test_every_public_name_resolves():
    for name in replay.__all__:
        assert getattr(replay, name) is not None


def test_help_and_version_do_not_import_heavy_modules():
    code = (
        "import sys, io, contextlib\n"
        "from replay.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help']); main(['--version']); main(['fetch', '--help'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('deepdiff', 'jsonschema')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_python_dash_m_replay_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "replay", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"comfy-replay {replay.__version__}"


def test_fetch_stays_the_function_after_every_module_is_imported():
    code = (
        "import replay, replay.archive, replay.cli, replay.repro\n"
        "print(callable(replay.fetch), replay.fetch.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "replay.fetching"]
