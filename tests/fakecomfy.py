"""A real HTTP server on 127.0.0.1 that speaks Comfy Cloud and OSS ComfyUI and can be told to misbehave.

Use it from tests (`with FakeComfy(dialect="oss") as server: ...`) or as a process:
`python tests/fakecomfy.py --dialect oss --port 0 --jobs DIR_OR_FILES...` prints its URL on the first line of
stdout and serves until SIGTERM or SIGINT. Standard library only; independent of the `replay` package.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakecomfy_cache import ExecutionCache, JobClock, free_body_ok
from fakecomfy_http import (
    AIOHTTP_500,
    FAULT_KINDS,
    Fault,
    Logged,
    Response,
    ThreadedServer,
    json_response,
    phrase,
    serve_in_thread,
    stop_serving,
    take_fault,
    text_response,
)
from fakecomfy_jobs import (
    ANY,
    DEFAULT_OUTPUT_CLASSES,
    SECRET_EXTRA_KEYS,
    STATUSES,
    TERMINAL,
    JsonDict,
    history_from_detail,
    history_v2_entry,
    job_from_history,
    list_entry,
    natural_key,
    now_ms,
    queue_detail,
    to_cloud,
    to_oss,
)
from fakecomfy_outputs import OutputFiles, Storage, add_output_folder, cloud_view, oss_view, render_outputs
from fakecomfy_rules import NAMED_RULES
from fakecomfy_run import (
    FailRule,
    FileNamer,
    Outcome,
    bulk_jobs,
    history_entry,
    is_output_class,
    make_job,
    run_prompt,
    validate_prompt,
)

__all__ = ["ANY", "FakeComfy", "FailRule", "Fault", "Logged", "bulk_jobs", "make_job"]

DIALECTS = ("cloud", "oss", "oss-legacy")

OSS_SYSTEM_STATS: JsonDict = {
    "system": {"os": "linux", "ram_total": 25276502016, "ram_free": 24196820992, "comfyui_version": "0.33.0",
               "required_frontend_version": "1.49.6", "python_version": "3.11.7 (main) [GCC 12.2.0]",
               "pytorch_version": "2.14.1+cu130", "embedded_python": False, "argv": ["main.py", "--cpu"]},
    "devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": 25276502016,
                 "vram_free": 24196820992, "torch_vram_total": 25276502016, "torch_vram_free": 24196820992}],
}
CLOUD_SYSTEM_STATS: JsonDict = {
    "system": {"os": "linux", "python_version": "3.12.3", "embedded_python": False, "comfyui_version": "0.33.0",
               "comfyui_frontend_version": "1.49.6", "workflow_templates_version": "0.11.44",
               "cloud_version": "2026.11.1", "pytorch_version": "2.14.1+cu130", "argv": [], "ram_total": 0,
               "ram_free": 0},
    "devices": [{"name": "cloud", "type": "cuda", "vram_total": 0, "vram_free": 0}],
}
CLOUD_RAW_STATES = {"pending": "queued_waiting", "in_progress": "executing", "completed": "success",
                    "failed": "error", "cancelled": "cancelled"}
CLOUD_DEFAULT_CODES = {400: "invalid_request", 401: "unauthorized", 402: "insufficient_credits", 403: "forbidden",
                       404: "not_found", 429: "rate_limited", 500: "internal_error", 502: "bad_gateway",
                       503: "service_unavailable", 504: "gateway_timeout"}
_JOB_ID = r"([^/]+)"


@dataclass
class _Run:
    """A submitted prompt on its way from pending to a terminal state."""

    item: list[Any]
    outcome: Outcome
    submitted: float
    reads: int = 0
    started_ms: int | None = None
    finish_at: float | None = None  # with `job_seconds`: when this run ends (one job at a time)


@dataclass
class _Job:
    id: str
    detail: JsonDict
    history: JsonDict | None = None
    owner_ok: bool = True
    number: int = 0
    run: _Run | None = None
    cache: dict[str, bytes] = field(default_factory=dict)
    entries: dict[str, JsonDict] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.detail.get("status", ""))


def _is_canonical_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


class FakeComfy:
    """A ComfyUI server double: Cloud ("cloud"), OSS >= 0.6 ("oss") or OSS without the jobs API ("oss-legacy").

    What tests can read: `submissions` (every POST /prompt body, parsed), `requests` (every request as `Logged`),
    `hits` (requests per path, query left out), `connections` (TCP connections accepted), `errors` (tracebacks of
    crashes inside the fake; a test fixture should assert it is empty).
    What tests can set: `delay` (seconds before every response), `run_polls`, `run_seconds`, `never_finish`,
    `object_info`, `system_stats`, plus `add_job`, `fail_when`, `cancel_next` and `fault`. `caching` (OSS only) reuses nodes computed
    before until `POST /free`; `job_seconds` makes each job take that long, one at a time (tests/fakecomfy_cache.py).
    Output files (fakecomfy_outputs): `files.add(filename, data, subfolder=, type=)` serves a file at /api/view;
    submitted runs of image nodes serve real PNG/WebP files made from the prompt; on Cloud, /api/view redirects to
    `storage` (a second server on another port whose `requests` show what reached it).
    """

    def __init__(self, dialect: str = "cloud", api_key: str | None = "k", object_info: Mapping[str, Any] | None = None,
                 *, run_polls: int = 1, run_seconds: float | None = None, never_finish: bool = False,
                 delay: float = 0.0, output_classes: Iterable[str] = DEFAULT_OUTPUT_CLASSES,
                 cloud_error_shape: str = "oss", strip_secrets: bool = True, verbose: bool = False,
                 caching: bool = False, job_seconds: float | None = None) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
        if cloud_error_shape not in ("oss", "code"):
            raise ValueError("cloud_error_shape must be 'oss' or 'code'")
        self.dialect = dialect
        self.api_key = api_key
        self.object_info = dict(object_info) if object_info is not None else None
        self.run_polls = run_polls
        self.run_seconds = run_seconds
        self.never_finish = never_finish
        self.delay = delay
        self.output_classes = frozenset(output_classes)
        self.cloud_error_shape = cloud_error_shape
        self.strip_secrets = strip_secrets
        self.verbose = verbose
        self.system_stats: JsonDict | None = None  # served by /system_stats instead of the dialect's default
        self.cache = ExecutionCache(enabled=caching and dialect != "cloud")
        self.clock = JobClock(job_seconds) if job_seconds is not None else None
        self.submissions: list[Any] = []
        self.requests: list[Logged] = []
        self.hits: collections.Counter[str] = collections.Counter()
        self.errors: list[str] = []
        self.connections = 0
        self.rules: list[FailRule] = []
        self.faults: list[Fault] = []
        self._jobs: dict[str, _Job] = {}
        self._history_order: list[str] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._number = 0
        self._cancel_next = 0
        self._namer = FileNamer()
        self.files = OutputFiles()  # what /api/view serves: add(filename, data, subfolder=, type=)
        self.storage: Storage | None = None  # Cloud's signed storage, a second server (started with a cloud fake)
        self._httpd: ThreadedServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self, port: int = 0) -> FakeComfy:
        """Bind 127.0.0.1 (`port` 0: a free one) and serve in a daemon thread; return self."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        if self.dialect == "cloud":
            self.storage = Storage(self.files).start()
        self._httpd, self._thread = serve_in_thread(self, port, f"fakecomfy-{self.dialect}")
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; requests still sleeping in a delay are woken up."""
        self._stopping.set()
        stop_serving(self._httpd, self._thread)
        if self.storage is not None:
            self.storage.stop()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeComfy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:PORT`."""
        if self._httpd is None:
            raise RuntimeError("FakeComfy is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "stopped"
        return f"FakeComfy(dialect={self.dialect!r}, {where}, jobs={len(self._jobs)})"

    # ------------------------------------------------------------ test controls

    def add_job(self, detail: Mapping[str, Any], *, history: Mapping[str, Any] | None = None,
                owner_ok: bool = True) -> str:
        """Serve a job from its detail (Cloud or OSS) or from an OSS `/history/{id}` body; return its id."""
        detail = dict(detail)
        if "id" not in detail and len(detail) == 1:
            (job_id, entry), = detail.items()
            if isinstance(entry, dict) and isinstance(entry.get("prompt"), list):
                history, detail = entry, job_from_history(job_id, entry)
        if "id" not in detail or "status" not in detail:
            raise ValueError("add_job needs a job detail (with id and status) or a /history/{id} body")
        if detail["status"] not in STATUSES:
            raise ValueError(f"unknown job status {detail['status']!r}")
        if history is not None and len(history) == 1 and detail["id"] in history:
            history = history[detail["id"]]
        with self._lock:
            job = _Job(str(detail["id"]), detail, dict(history) if history is not None else None, owner_ok,
                       number=len(self._jobs))
            self._put(job)
        return job.id

    def add_jobs(self, details: Iterable[Mapping[str, Any]]) -> list[str]:
        """Serve many job details; return their ids."""
        return [self.add_job(detail) for detail in details]

    def fail_when(self, class_type: str | None = None, node_id: str | None = None, input_name: str | None = None,
                  equals: Any = ANY, exception_type: str = "ZeroDivisionError",
                  message: str = "division by zero") -> FailRule:
        """Make the first matching node of later submitted runs fail; return the rule."""
        rule = FailRule(class_type, node_id, input_name, equals, exception_type, message)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        """Forget every fail rule."""
        with self._lock:
            self.rules.clear()

    def cancel_next(self) -> None:
        """Make the next submitted run end `cancelled` (an `execution_interrupted` midway)."""
        with self._lock:
            self._cancel_next += 1

    def fault(self, path_re: str | None = None, kind: str = "status", times: int | None = None, *,
              method: str | None = None, job_id: str | None = None, **options: Any) -> Fault:
        """Misbehave on requests whose path (with query) matches `path_re` (re.search), `times` times or forever.

        Kinds and options: `delay` (seconds=1.0), `status` (code=503, retry_after=None, body=None: dict or str),
        `truncated` (keep=half the body: bytes sent before the connection closes), `html` (status=502; 200 gives
        a sign-in page), `reset` (the connection is closed with a TCP RST and no response).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        pattern = re.compile(path_re) if path_re is not None else None
        fault = Fault(kind, pattern, job_id, method.upper() if method else None, times, dict(options))
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Forget every fault."""
        with self._lock:
            self.faults.clear()

    def clear_log(self) -> None:
        """Forget recorded requests, hits and submissions."""
        with self._lock:
            self.requests.clear()
            self.hits.clear()
            self.submissions.clear()

    def job_ids(self) -> list[str]:
        """Return the ids of every job the server knows, in the order they arrived."""
        with self._lock:
            return list(self._jobs)

    def detail(self, job_id: str) -> JsonDict:
        """Return a job's detail as the server would serve it now, without counting a read."""
        with self._lock:
            return json.loads(self._detail_bytes(self._jobs[job_id]))  # type: ignore[no-any-return]

    # ------------------------------------------------------------ job state

    def _put(self, job: _Job) -> None:
        if job.id in self._history_order:
            self._history_order.remove(job.id)
        self._jobs.pop(job.id, None)
        self._jobs[job.id] = job
        if job.status in TERMINAL:
            self._history_order.append(job.id)

    def _advance(self, job: _Job, read: bool) -> None:
        """Move a submitted run along: a detail read counts one poll; time counts when `run_seconds` is set."""
        run = job.run
        if run is None or job.status in TERMINAL:
            return
        if read:
            run.reads += 1
            if run.started_ms is None:
                run.started_ms = max(now_ms(), int(job.detail.get("create_time", 0)) + 1)
        if self.never_finish:
            finished = False
        elif run.finish_at is not None:
            finished = time.monotonic() >= run.finish_at
        elif self.run_seconds is not None:
            finished = time.monotonic() - run.submitted >= self.run_seconds
        else:
            finished = run.reads > self.run_polls
        if finished:
            create = int(run.item[3]["create_time"])
            start = run.started_ms or create + 1
            entry = history_entry(run.item, run.outcome, start, max(now_ms(), start + 1))
            job.history = entry
            job.detail = job_from_history(job.id, entry)
            self._history_order.append(job.id)
        elif run.reads > 0 or self.run_seconds is not None or run.finish_at is not None:
            job.detail = queue_detail(run.item, "in_progress")
        job.cache.clear()
        job.entries.clear()

    def _output_nodes(self, prompt: Mapping[str, Any]) -> list[str]:
        return sorted((node_id for node_id, node in prompt.items() if isinstance(node, dict)
                       and is_output_class(str(node.get("class_type")), self.object_info, self.output_classes)),
                      key=natural_key)

    def _history_of(self, job: _Job) -> JsonDict | None:
        if job.status not in TERMINAL:
            return None
        if job.history is None:
            job.history = history_from_detail(job.detail, self._output_nodes, number=job.number)
        return job.history

    def _served(self, job: _Job) -> JsonDict:
        return to_cloud(job.detail) if self.dialect == "cloud" else to_oss(job.detail, number=job.number)

    def _detail_bytes(self, job: _Job) -> bytes:
        cached = job.cache.get("detail")
        if cached is None:
            cached = json.dumps(self._served(job)).encode()
            job.cache["detail"] = cached
        return cached

    def _entry(self, job: _Job) -> JsonDict:
        entry = job.entries.get(self.dialect)
        if entry is None:
            entry = list_entry(self._served(job), "cloud" if self.dialect == "cloud" else "oss")
            job.entries[self.dialect] = entry  # never mutated: only serialised
        return entry

    # ------------------------------------------------------------ routing

    def respond(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one request in the server's dialect."""
        split = urlsplit(target)
        path = split.path
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        if self.dialect == "cloud":
            return self._cloud(method, path, query, headers, body)
        return self._oss(method, path, query, headers, body)

    def _cloud(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        if path != "/api/system_stats" and self.api_key is not None and headers.get("x-api-key") != self.api_key:
            return self._cloud_error(401, "Invalid or missing API key")
        routes: list[tuple[str, str, Any]] = [
            ("GET", "/api/jobs", self._list_jobs),
            ("GET", f"/api/jobs/{_JOB_ID}", self._get_job),
            ("GET", f"/api/job/{_JOB_ID}/status", self._cloud_job_status),
            ("GET", "/api/history_v2", self._history_v2),
            ("GET", f"/api/history_v2/{_JOB_ID}", self._history_v2_one),
            ("POST", "/api/prompt", self._post_prompt),
            ("GET", "/api/prompt", self._queue_info),
            ("GET", "/api/object_info", self._get_object_info),
            ("GET", "/api/system_stats", lambda q, h, b: json_response(self.system_stats or CLOUD_SYSTEM_STATS)),
            ("GET", "/api/view", lambda q, h, b: cloud_view(self.files, self.storage, q)),  # type: ignore[arg-type]
        ]
        return self._dispatch(routes, method, path, query, headers, body)

    def _oss(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
             body: bytes) -> Response:
        routes: list[tuple[str, str, Any]] = []
        if self.dialect == "oss":
            # Declared with /api already, so also served at the quirk /api/api/... and never at bare /jobs.
            routes += [("GET", "/api(?:/api)?/jobs", self._list_jobs),
                       ("GET", f"/api(?:/api)?/jobs/{_JOB_ID}", self._get_job)]
        for verb, route, handler in [
            ("GET", "/history", self._history),
            ("GET", f"/history/{_JOB_ID}", self._history_one),
            ("POST", "/prompt", self._post_prompt),
            ("GET", "/prompt", self._queue_info),
            ("GET", "/queue", self._queue),
            ("GET", "/object_info", self._get_object_info),
            ("GET", "/object_info/([^/]+)", self._get_object_info_one),
            ("GET", "/system_stats", self._system_stats),
            ("GET", "/view", lambda q, h, b: oss_view(self.files, q)),
            ("POST", "/free", self._free),
        ]:
            routes.append((verb, f"(?:/api)?{route}", handler))
        return self._dispatch(routes, method, path, query, headers, body)

    def _dispatch(self, routes: list[tuple[str, str, Any]], method: str, path: str, query: dict[str, str],
                  headers: Mapping[str, str], body: bytes) -> Response:
        path_matched = False
        for verb, route, handler in routes:
            match = re.fullmatch(route, path)
            if match is None:
                continue
            path_matched = True
            if verb == method:
                return handler(*match.groups(), query, headers, body)  # type: ignore[no-any-return]
        if path_matched:
            return self.error_response(405)
        if self.dialect == "cloud":
            return self._cloud_error(404, "Not found")
        return self.error_response(404)

    def error_response(self, status: int) -> Response:
        """Return the dialect's plain error: aiohttp's text for OSS, `{code, message}` for Cloud."""
        if self.dialect == "cloud":
            return self._cloud_error(status, phrase(status))
        if status == 500:
            return text_response(500, AIOHTTP_500)
        return text_response(status, f"{status}: {phrase(status)}")

    def _cloud_error(self, status: int, message: str, code: str | None = None) -> Response:
        return json_response({"code": code or CLOUD_DEFAULT_CODES.get(status, "error"), "message": message}, status)

    def _bad_request(self, message: str) -> Response:
        if self.dialect == "cloud":
            return self._cloud_error(400, message)
        return json_response({"error": message}, 400)

    # ------------------------------------------------------------ jobs API

    def _list_jobs(self, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        cloud = self.dialect == "cloud"
        wanted = list(STATUSES)
        if query.get("status"):
            wanted = [s.strip().lower() for s in query["status"].split(",") if s.strip()]
            invalid = [s for s in wanted if s not in STATUSES]
            if invalid:
                return self._bad_request(f"Invalid status value(s): {', '.join(invalid)}. "
                                         f"Valid values: {', '.join(STATUSES)}")
        sort_by = query.get("sort_by", "create_time" if cloud else "created_at").lower()
        by_duration = {"create_time": False, "execution_time": True} if cloud else \
            {"created_at": False, "execution_duration": True}
        if sort_by not in by_duration:
            return self._bad_request(f"sort_by must be {' or '.join(repr(k) for k in by_duration)}")
        sort_order = query.get("sort_order", "desc").lower()
        if sort_order not in ("asc", "desc"):
            return self._bad_request("sort_order must be 'asc' or 'desc'")
        limit: int | None = 100 if cloud else None
        offset = 0
        for name in ("limit", "offset"):
            if name in query and not re.fullmatch(r"-?\d+", query[name]):
                return self._bad_request(f"{name} must be an integer")
        if "limit" in query:
            limit = int(query["limit"])
        if "offset" in query:
            offset = int(query["offset"])
        if cloud and (limit is None or not 1 <= limit <= 1000):
            return self._bad_request("limit must be between 1 and 1000")
        if not cloud and limit is not None and limit <= 0:
            return self._bad_request("limit must be a positive integer")
        if offset < 0:
            if cloud:
                return self._bad_request("offset must be >= 0")
            offset = 0
        workflow_id = query.get("workflow_id")
        with self._lock:
            entries = []
            for job in self._jobs.values():
                if cloud and not job.owner_ok:
                    continue
                self._advance(job, read=False)
                if job.status in wanted and (not workflow_id or job.detail.get("workflow_id") == workflow_id):
                    entries.append(self._entry(job))
        if by_duration[sort_by]:
            def key(entry: JsonDict) -> int:
                start, end = entry.get("execution_start_time"), entry.get("execution_end_time")
                return int(end - start) if start and end else 0
        else:
            def key(entry: JsonDict) -> int:
                return int(entry.get("create_time", 0))
        entries.sort(key=key, reverse=sort_order == "desc")
        page = entries[offset:] if limit is None else entries[offset:offset + limit]
        return json_response({"jobs": page, "pagination": {"offset": offset, "limit": limit, "total": len(entries),
                                                           "has_more": offset + len(page) < len(entries)}})

    def _find(self, job_id: str, read: bool) -> _Job | Response:
        job = self._jobs.get(job_id)
        if job is None:
            if self.dialect == "cloud":
                return self._cloud_error(404, "Job not found")
            return json_response({"error": "Job not found"}, 404)
        if self.dialect == "cloud" and not job.owner_ok:
            return self._cloud_error(403, "Job does not belong to user", "forbidden")
        self._advance(job, read)
        return job

    def _get_job(self, job_id: str, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        with self._lock:
            job = self._find(job_id, read=True)
            if isinstance(job, Response):
                return job
            return Response(200, self._detail_bytes(job))

    def _cloud_job_status(self, job_id: str, query: dict[str, str], headers: Mapping[str, str],
                          body: bytes) -> Response:
        with self._lock:
            job = self._find(job_id, read=True)
            if isinstance(job, Response):
                return job
            served = self._served(job)
        error = (served.get("execution_error") or {}).get("exception_message")
        return json_response({"id": job.id, "status": CLOUD_RAW_STATES[job.status],
                              "created_at": served.get("create_time"), "updated_at": served.get("update_time"),
                              "error_message": error})

    # ------------------------------------------------------------ history

    def _history(self, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        try:
            max_items = int(query["max_items"]) if "max_items" in query else None
            offset = int(query["offset"]) if "offset" in query else -1
        except ValueError:
            return self.error_response(500)
        with self._lock:
            for job in self._jobs.values():
                self._advance(job, read=False)
            ids = list(self._history_order)
            if offset < 0 and max_items is not None:
                offset = len(ids) - max_items
            chosen = ids[max(offset, 0):]
            if max_items is not None:
                chosen = chosen[:max(max_items, 0)]
            return json_response({job_id: self._history_of(self._jobs[job_id]) for job_id in chosen})

    def _history_one(self, job_id: str, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._advance(job, read=True)
            entry = self._history_of(job) if job is not None else None
            return json_response({job_id: entry} if entry is not None else {})

    def _history_v2(self, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        try:
            max_items = int(query.get("max_items", "100"))
            offset = max(int(query.get("offset", "0")), 0)
        except ValueError:
            return self._bad_request("max_items and offset must be integers")
        with self._lock:
            for job in self._jobs.values():
                self._advance(job, read=False)
            newest_first = [self._jobs[i] for i in reversed(self._history_order) if self._jobs[i].owner_ok]
            chosen = newest_first[offset:offset + max(max_items, 0)]
            items = [history_v2_entry(self._history_of(job) or {}, detail=False) for job in chosen]
        return json_response({"history": items})

    def _history_v2_one(self, job_id: str, query: dict[str, str], headers: Mapping[str, str],
                        body: bytes) -> Response:
        with self._lock:
            job = self._find(job_id, read=True)
            if isinstance(job, Response):
                return job
            entry = self._history_of(job)
        return json_response({job_id: history_v2_entry(entry, detail=True)} if entry is not None else {})

    # ------------------------------------------------------------ prompts and the rest

    def _post_prompt(self, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        with self._lock:
            self.submissions.append(data if data is not None else body.decode("utf-8", "replace"))
        if not isinstance(data, dict):
            return self._bad_request("Request body must be a JSON object") if self.dialect == "cloud" \
                else self.error_response(500)
        with self._lock:
            number: float | int = self._number
            if self.dialect != "cloud" and "number" in data:
                number = float(data["number"])
            else:
                number = -self._number if self.dialect != "cloud" and data.get("front") else self._number
                self._number += 1
        if "prompt" not in data:
            return self._prompt_rejected({"type": "no_prompt", "message": "No prompt provided",
                                          "details": "No prompt provided", "extra_info": {}}, {})
        prompt_id = str(uuid.uuid4())
        if self.dialect == "oss" and data.get("prompt_id") is not None:
            if not _is_canonical_uuid(data["prompt_id"]):
                return self._prompt_rejected({
                    "type": "invalid_prompt_id", "message": "prompt_id must be a valid UUID",
                    "details": "prompt_id must be a UUID string in canonical lowercase hyphenated form; omit it to "
                               "let the server generate one", "extra_info": {}}, {})
            prompt_id = data["prompt_id"]
        prompt = data["prompt"]
        targets = data.get("partial_execution_targets")
        result = validate_prompt(prompt, targets, self.object_info, self.output_classes)
        if not result.ok:
            assert result.error is not None
            return self._prompt_rejected(result.error, result.node_errors)
        extra_data = dict(data.get("extra_data") or {})
        if "client_id" in data:
            extra_data["client_id"] = data["client_id"]
        if "comfy_usage_source" not in extra_data and headers.get("comfy-usage-source"):
            extra_data["comfy_usage_source"] = headers["comfy-usage-source"]
        if self.strip_secrets:
            for key in SECRET_EXTRA_KEYS:
                extra_data.pop(key, None)
        extra_data["create_time"] = now_ms()
        with self._lock:
            cancel = self._cancel_next > 0
            self._cancel_next -= int(cancel)
            outcome = run_prompt(prompt_id, prompt, result.outputs, self.rules, self._namer, cancel=cancel)
            render_outputs(self.files, prompt, outcome.outputs, self._namer)
            outcome = self.cache.apply(prompt, outcome)
            item = [number, prompt_id, prompt, extra_data, result.outputs]
            run = _Run(item, outcome, time.monotonic(), finish_at=self.clock.finish_time() if self.clock else None)
            job = _Job(prompt_id, queue_detail(item, "pending"), run=run)
            self._put(job)
            self._advance(job, read=False)
        return json_response({"prompt_id": prompt_id, "number": number, "node_errors": result.node_errors})

    def _prompt_rejected(self, error: JsonDict, node_errors: JsonDict) -> Response:
        if self.dialect == "cloud" and self.cloud_error_shape == "code":
            message = error["message"] + (f": {error['details']}" if error.get("details") else "")
            return self._cloud_error(400, message, error["type"])
        return json_response({"error": error, "node_errors": node_errors}, 400)

    def _queue_items(self) -> tuple[list[Any], list[Any]]:
        running: list[Any] = []
        pending: list[Any] = []
        for job in self._jobs.values():
            self._advance(job, read=False)
            if job.status in TERMINAL:
                continue
            item = job.run.item if job.run is not None else [job.detail.get("priority", 0), job.id, {}, {}, []]
            (running if job.status == "in_progress" else pending).append(item)
        return running, pending

    def _queue_info(self, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        with self._lock:
            running, pending = self._queue_items()
        return json_response({"exec_info": {"queue_remaining": len(running) + len(pending)}})

    def _queue(self, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        with self._lock:
            running, pending = self._queue_items()
        return json_response({"queue_running": running, "queue_pending": pending})

    def _get_object_info(self, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        return json_response(self.object_info or {})

    def _get_object_info_one(self, name: str, query: dict[str, str], headers: Mapping[str, str],
                             body: bytes) -> Response:
        info = (self.object_info or {}).get(name)
        return json_response({name: info} if info is not None else {})

    def _free(self, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        if not free_body_ok(body):
            return self.error_response(500)  # aiohttp's answer when request.json() fails
        if json.loads(body or b"{}").get("free_memory"):
            self.cache.clear()
        return Response(200, b"")

    def _system_stats(self, query: dict[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        if self.system_stats is not None:
            return json_response(self.system_stats)
        stats = json.loads(json.dumps(OSS_SYSTEM_STATS))
        if self.dialect == "oss-legacy":
            stats["system"]["comfyui_version"] = "0.5.1"
        return json_response(stats)

    # ------------------------------------------------------------ called by the HTTP layer (fakecomfy_http.Backend)

    def record(self, method: str, target: str, headers: Mapping[str, str]) -> Fault | None:
        """Log one request and return the fault that applies to it, if any (using one of its times)."""
        with self._lock:
            self.requests.append(Logged(method, target, dict(headers)))
            self.hits[urlsplit(target).path] += 1
            return take_fault(self.faults, method, target)

    def pause(self, seconds: float) -> None:
        """Sleep `seconds`, waking up early when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def crashed(self, report: str) -> None:
        """Keep the traceback of a crash inside the fake."""
        with self._lock:
            self.errors.append(report)

    def connected(self) -> None:
        """Count one accepted TCP connection."""
        with self._lock:
            self.connections += 1


# ---------------------------------------------------------------- command line


def _read_json(path: Path) -> Any:
    raw = path.read_bytes()
    return json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)


def load_jobs(server: FakeComfy, paths: Iterable[str], log: Any = sys.stderr) -> int:
    """Add every job detail and `/history/{id}` body found in files and folders (`*.json`); return the count."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        files += sorted(path.glob("*.json")) if path.is_dir() else [path]
    details: dict[str, JsonDict] = {}
    histories: dict[str, JsonDict] = {}
    for path in files:
        document = _read_json(path)
        if isinstance(document, dict) and "id" in document and "status" in document:
            details[str(document["id"])] = document
        elif (isinstance(document, dict) and len(document) == 1
              and isinstance(next(iter(document.values())), dict)
              and isinstance(next(iter(document.values())).get("prompt"), list)):
            histories.update(document)
        else:
            print(f"fakecomfy: skipped {path} (neither a job detail nor a /history/{{id}} body)", file=log)
    for job_id, detail in details.items():
        server.add_job(detail, history=histories.pop(job_id, None))
    for job_id, entry in histories.items():
        server.add_job({job_id: entry})
    return len(details) + len(histories)


def main(argv: list[str] | None = None) -> int:
    """Run the fake server until SIGTERM or SIGINT; print its URL as the first line of stdout."""
    parser = argparse.ArgumentParser(prog="fakecomfy", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dialect", choices=DIALECTS, default="oss")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--jobs", nargs="*", default=[], metavar="PATH",
                        help="job detail / history JSON files, or folders of them")
    parser.add_argument("--api-key", default=None, help="the X-API-Key a Cloud server requires (default: none)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before every response")
    parser.add_argument("--bulk", type=int, default=0, metavar="N", help="also serve N generated jobs")
    parser.add_argument("--bulk-size-kb", type=float, default=20.0)
    parser.add_argument("--object-info", metavar="FILE", help="an /object_info dump (.json or .json.gz)")
    parser.add_argument("--run-polls", type=int, default=1, help="detail reads before a submitted job finishes")
    parser.add_argument("--job-seconds", type=float, default=None, help="each job takes this long, one at a time")
    parser.add_argument("--caching", action="store_true", help="reuse nodes computed before until POST /free")
    parser.add_argument("--outputs", metavar="DIR", help="serve DIR/<type>/<subfolder...>/<file> at /api/view")
    parser.add_argument("--fail-rule", action="append", default=[], choices=sorted(NAMED_RULES), metavar="NAME",
                        help=f"make submitted runs fail by a rule of fakecomfy_rules ({', '.join(sorted(NAMED_RULES))})")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request on stderr")
    args = parser.parse_args(argv)
    object_info = _read_json(Path(args.object_info)) if args.object_info else None
    server = FakeComfy(args.dialect, api_key=args.api_key, object_info=object_info, delay=args.delay,
                       run_polls=args.run_polls, verbose=args.verbose, caching=args.caching,
                       job_seconds=args.job_seconds)
    server.rules += [NAMED_RULES[name]() for name in args.fail_rule]
    load_jobs(server, args.jobs)
    if args.outputs:
        add_output_folder(server.files, Path(args.outputs))
    if args.bulk:
        server.add_jobs(bulk_jobs(args.bulk, args.bulk_size_kb))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start(args.port)
    print(server.url, flush=True)
    while not stop.wait(0.2):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
