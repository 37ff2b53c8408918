"""HTTP client for Comfy Cloud and open-source ComfyUI: one method per endpoint, retries, auth, error dialects.

One `requests.Session` per client, a timeout on every request, GETs retried with exponential backoff and
jitter (honouring `Retry-After`), POSTs never retried. `requests` errors are translated into `replay.errors`
here and nowhere else; the API key is never part of a message.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError

from replay.errors import (
    AuthError,
    InputError,
    JobNotFound,
    MalformedResponse,
    NotFound,
    ReplayError,
    ServerError,
    ServerUnreachable,
    SubmitRejected,
)
from replay.jobs import check_job_id, history_to_detail
from replay.urls import CLOUD_SERVER, LOCAL_SERVER, default_server, origin_for_message, server_origin

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
QUICK_TIMEOUT = 5.0  # seconds for an optional lookup (node definitions for extra checks): one attempt, no retries
CLOUD_PAGE_MAX = 1000
VIEW_CHUNK = 1 << 18  # read from the socket in large pieces: fewer trips through urllib3's Python code
WRITE_PIECE = 1 << 16  # but write in 64 KB pieces: larger writes cost this kernel several times more per byte
MAX_REDIRECTS = 5


class ViewResponse(NamedTuple):
    """What `Client.view` wrote: the byte count, the server's Content-Type and the SHA-256 of the bytes."""

    size: int
    content_type: str | None
    sha256: str = ""


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_text(response: requests.Response) -> str:
    """The server's own words from an error body: Cloud `{code, message}`, OSS `{error}` or `{error: {message}}`."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().splitlines()
        first = text[0][:200] if text else ""
        return "" if first.lstrip().startswith("<") else first
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("type") or "")
        if isinstance(err, str):
            return err
        if "message" in body:
            code = body.get("code")
            return f"{body['message']}" + (f" ({code})" if code else "")
    return ""


class Client:
    """A connection to one ComfyUI server (Comfy Cloud or open-source), safe to share between threads.

    `retries` bounds the attempts of a GET after the first; `retry_budget` bounds the total seconds spent
    waiting between attempts. `sleep` is injectable so callers (and Ctrl-C handling) stay in control.
    """

    def __init__(
        self,
        server: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        retry_budget: float = 60.0,
        pool_size: int = 16,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        address = server or default_server(api_key)
        self.server = server_origin(address)
        # Keep a path prefix (a server behind a reverse proxy at /comfy); drop credentials and query.
        self._base = self.server + urlsplit(address).path.rstrip("/")
        self._api_key = api_key or None
        self.timeout = timeout
        self.retries = retries
        self.retry_budget = retry_budget
        self._sleep = sleep
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["User-Agent"] = "comfy-replay"
        self._read_environment_once()
        if self._api_key:
            self._session.headers["X-API-Key"] = self._api_key
        self._jobs_api: bool | None = None
        self._lock = threading.Lock()
        # Server-wide answers that do not change during a run (/object_info, /system_stats): one GET each.
        self._cache: dict[str, dict[str, Any] | ReplayError] = {}
        self._refused: str | None = None  # set when the server refused a connection: later requests fail at once
        self._answered = False  # the server answered once: a refusal after that is a restart, worth retrying
        self._pool_size = pool_size
        self._storage: requests.Session | None = None

    def _read_environment_once(self) -> None:
        """Apply proxies, CA bundle and .netrc from the environment now, for our one server, instead of on every
        request (requests re-reads them per call, which costs more than parsing a job)."""
        session = self._session
        session.proxies.update(requests.utils.get_environ_proxies(self._base))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        netrc = requests.utils.get_netrc_auth(self._base)
        if netrc and not self._api_key:
            session.auth = netrc
        session.trust_env = False

    def __repr__(self) -> str:
        return f"Client(server={self.server!r}, api_key={'***' if self._api_key else None})"

    def close(self) -> None:
        """Close the connection pools."""
        self._session.close()
        if self._storage is not None:
            self._storage.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------ plumbing

    def _url(self, path: str) -> str:
        return self._base + path

    def _redact(self, text: str) -> str:
        if self._api_key and self._api_key in text:
            text = text.replace(self._api_key, "***")
        return text

    def _where(self) -> str:
        """The server as the user gave it, path included (`http://host:8188/comfy`), for messages."""
        return self._base

    def _path_hint(self) -> str:
        path = self._base[len(self.server) :]
        return f"; the path {path} in the server address may be wrong" if path else ""

    def _send(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        url = self._url(path)
        if self._refused is not None:
            raise ServerUnreachable(self._refused, url=url)
        limit = self.timeout if timeout is None else timeout
        try:
            response = self._session.request(method, url, timeout=limit, **kwargs)
        except requests.Timeout as exc:
            raise ServerUnreachable(
                f"{self.server} did not answer {method} {path} within {limit:g} s; "
                "check the server or raise --timeout",
                url=url,
            ) from exc
        except requests.exceptions.ChunkedEncodingError as exc:
            raise ServerUnreachable(
                f"{self.server} cut off its answer to {method} {path} (the body ended early); "
                "the server may be restarting or overloaded",
                url=url,
            ) from exc
        except requests.ConnectionError as exc:
            if _refused(exc) and not self._answered:
                # Nothing listens there (or the name does not resolve): retrying cannot help, so say it once.
                self._refused = (
                    f"cannot reach {self._where()} (connection refused: no server is listening there); "
                    "check --server / COMFY_SERVER and that the server is running"
                )
                raise ServerUnreachable(self._refused, url=url) from exc
            raise ServerUnreachable(
                f"cannot reach {self.server} ({type(exc).__name__}: connection failed or was cut off); "
                "check --server / COMFY_SERVER and that the server is running",
                url=url,
            ) from exc
        except requests.RequestException as exc:
            raise ServerError(self._redact(f"request to {self.server} failed: {exc}"), url=url) from exc
        self._answered = True
        return response

    def _get(self, path: str, params: dict[str, Any] | None = None, *, quick: bool = False) -> requests.Response:
        """GET with retries on connection errors, timeouts and 429/5xx; returns the final response.

        A refused connection is not retried. `quick`: one attempt within QUICK_TIMEOUT (an optional lookup).
        """
        if quick:
            return self._send("GET", path, params=params, timeout=min(self.timeout, QUICK_TIMEOUT))
        waited = 0.0
        attempt = 0
        while True:
            try:
                response = self._send("GET", path, params=params)
            except ServerUnreachable:
                wait = None if self._refused is not None else self._next_wait(attempt, waited, None)
                if wait is None:
                    raise
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                wait = self._next_wait(attempt, waited, _retry_after(response))
                if wait is None:
                    return response
            self._sleep(wait)
            waited += wait
            attempt += 1

    def _next_wait(self, attempt: int, waited: float, asked: float | None) -> float | None:
        """How long to wait before retry number `attempt + 1`, or None when the attempts or the time budget are
        spent: the server's Retry-After when it `asked`, else full jitter, a random wait up to an exponentially
        growing cap (0.5 s, 1 s, 2 s, ... 8 s)."""
        if attempt >= self.retries:
            return None
        wait = asked if asked is not None else random.uniform(0, min(8.0, 0.5 * 2**attempt))
        return None if waited + wait > self.retry_budget else wait

    def _json(self, response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise MalformedResponse(
                f"{self.server} answered {what} with a body that is not valid JSON "
                f"(HTTP {response.status_code}, {len(response.content)} bytes); the server may be overloaded or not ComfyUI",
                url=response.url,
                status=response.status_code,
            ) from exc

    def _raise_for_status(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        said = self._redact(_error_text(response))
        detail = f": {said}" if said else ""
        if status in (401, 403):
            hint = (
                "set COMFY_API_KEY (or --api-key) to a valid Comfy Cloud API key"
                if status == 401 or not self._api_key
                else "this API key's account may not own it; check COMFY_API_KEY"
            )
            raise AuthError(f"{self.server} refused {what} (HTTP {status}{detail}); {hint}", url=response.url, status=status)
        if status == 429:
            raise ServerError(
                f"{self.server} is rate limiting {what} (HTTP 429{detail}); try again later", url=response.url, status=status
            )
        raise ServerError(f"{self.server} failed {what} (HTTP {status}{detail})", url=response.url, status=status)

    # ------------------------------------------------------------------------------------ endpoints

    def has_jobs_api(self) -> bool:
        """GET /api/jobs?limit=1 once: False on servers older than the jobs API (404 on the list route)."""
        with self._lock:
            known = self._jobs_api
        if known is not None:
            return known
        response = self._get("/api/jobs", params={"limit": 1})
        if response.status_code == 404:
            available = False
        else:
            self._raise_for_status(response, "the job list")
            available = True
        with self._lock:
            self._jobs_api = available
        return available

    def get_job(self, job_id: str) -> dict[str, Any]:
        """GET /api/jobs/{job_id}: the job detail as the server returned it.

        On servers without the jobs API, GET /history/{job_id} and build the same shape from the entry.
        """
        job_id = check_job_id(job_id)
        what = f"job {job_id}"
        if self._jobs_api is not False:
            response = self._get(f"/api/jobs/{job_id}")
            if response.status_code != 404:
                self._raise_for_status(response, what)
                body = self._json(response, what)
                if not isinstance(body, dict) or not isinstance(body.get("status"), str):
                    raise MalformedResponse(
                        f"{self.server} answered {what} without a job object (no 'status')", url=response.url
                    )
                return body
            if self.has_jobs_api():
                raise JobNotFound(
                    f"job {job_id} not found at {response.url}; check the id and the server (--server / "
                    f"COMFY_SERVER){self._path_hint()}",
                    url=response.url,
                    status=404,
                )
        return self._get_job_from_history(job_id)

    def _get_job_from_history(self, job_id: str) -> dict[str, Any]:
        what = f"job {job_id}"
        response = self._get(f"/history/{job_id}")
        if response.status_code == 404:
            raise JobNotFound(
                f"job {job_id} not found at {response.url} (no /api/jobs and no history){self._path_hint()}",
                url=response.url,
            )
        self._raise_for_status(response, what)
        body = self._json(response, what)
        if not isinstance(body, dict):
            raise MalformedResponse(f"{self.server} answered history of {what} with a non-object", url=response.url)
        entry = body.get(job_id)
        if entry is None and len(body) == 1:
            (key, value), = body.items()
            entry = value if str(key).lower() == job_id else None
        if not isinstance(entry, dict):
            raise JobNotFound(
                f"job {job_id} not found on {self._where()} (the history has no entry: unknown, still running, "
                "or lost when the server restarted)",
                url=response.url,
                status=404,
            )
        try:
            return history_to_detail(job_id, entry)
        except InputError as exc:
            raise MalformedResponse(f"{self.server} answered a malformed history entry for {what}: {exc}") from exc

    def list_jobs(
        self,
        *,
        status: list[str] | None = None,
        workflow_id: str | None = None,
        page_size: int = 100,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """GET /api/jobs, every page (always sending `limit`), newest first; falls back to GET /history.

        Yields list entries (at least `id` and `status`); stops after `limit` entries when given.
        """
        page_size = max(1, min(page_size, CLOUD_PAGE_MAX))
        if not self.has_jobs_api():
            yield from self._list_history(status=status, workflow_id=workflow_id, limit=limit)
            return
        offset = 0
        seen = 0
        listed: set[str] = set()
        while True:
            params: dict[str, Any] = {"limit": page_size, "offset": offset}
            if status:
                params["status"] = ",".join(status)
            if workflow_id:
                params["workflow_id"] = workflow_id
            response = self._get("/api/jobs", params=params)
            self._raise_for_status(response, "the job list")
            body = self._json(response, "the job list")
            jobs = body.get("jobs") if isinstance(body, dict) else None
            if not isinstance(jobs, list):
                raise MalformedResponse(f"{self.server} answered the job list without a 'jobs' list", url=response.url)
            fresh = 0
            for entry in jobs:
                if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                    raise MalformedResponse(f"{self.server} listed a job without an id", url=response.url)
                if entry["id"] in listed:
                    continue
                listed.add(entry["id"])
                fresh += 1
                yield entry
                seen += 1
                if limit is not None and seen >= limit:
                    return
            pagination = body.get("pagination") if isinstance(body.get("pagination"), dict) else {}
            has_more = pagination.get("has_more")
            if not jobs or not fresh or has_more is False or (has_more is None and len(jobs) < page_size):
                return  # (a page with nothing new: a server that ignores `offset` would otherwise loop forever)
            offset += len(jobs)

    def _list_history(
        self, *, status: list[str] | None, workflow_id: str | None, limit: int | None
    ) -> Iterator[dict[str, Any]]:
        response = self._get("/history")
        self._raise_for_status(response, "the history")
        body = self._json(response, "the history")
        if not isinstance(body, dict):
            raise MalformedResponse(f"{self.server} answered the history with a non-object", url=response.url)
        # /history is oldest first; list newest first like /api/jobs.
        seen = 0
        for job_id, entry in reversed(list(body.items())):
            if not isinstance(entry, dict):
                continue
            try:
                detail = history_to_detail(str(job_id), entry)
            except InputError:
                continue
            if status and detail["status"] not in status:
                continue
            if workflow_id and detail.get("workflow_id") != workflow_id:
                continue
            yield {key: value for key, value in detail.items() if key not in ("workflow", "outputs")}
            seen += 1
            if limit is not None and seen >= limit:
                return

    def object_info(self, *, refresh: bool = False, quick: bool = False) -> dict[str, Any]:
        """GET /api/object_info: every node class's definition (asked once per client unless `refresh`).

        `quick`: one short attempt, for optional checks; its failure is not kept, so a later required ask tries again.
        """
        return self._server_wide("object_info", "/api/object_info", "the node definitions (/api/object_info)",
                                 refresh=refresh, quick=quick)

    def system_stats(self, *, refresh: bool = False) -> dict[str, Any]:
        """GET /api/system_stats: versions, OS and devices (both families; no auth on Cloud), asked once per client.

        The body is returned as the server sent it, `argv` included: keep it out of files and logs
        (`replay.environment` records an allow-list of its keys).
        """
        body = self._server_wide("system_stats", "/api/system_stats", "the system stats (/api/system_stats)",
                                 refresh=refresh)
        if not isinstance(body.get("system", {}), dict):
            raise MalformedResponse(f"{self.server} answered /api/system_stats without a 'system' object")
        return body

    def _server_wide(self, key: str, path: str, what: str, *, refresh: bool, quick: bool = False) -> dict[str, Any]:
        """GET an answer that does not change during a run, once: the body, or the same error, is kept."""
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and not refresh:
            if isinstance(cached, ReplayError):
                raise cached
            return cached
        try:
            response = self._get(path, quick=quick)
            self._raise_for_status(response, what)
            body = self._json(response, what)
            if not isinstance(body, dict):
                raise MalformedResponse(f"{self.server} answered {path} with a non-object", url=response.url)
        except (ServerError, AuthError) as exc:
            if not quick:
                with self._lock:
                    self._cache[key] = exc
            raise
        with self._lock:
            self._cache[key] = body
        return body

    def redact(self, text: str) -> str:
        """`text` with this client's API key replaced by `***`: for what a server sent back (an error message)."""
        return self._redact(text)

    def free(self, *, free_memory: bool = True) -> None:
        """POST /api/free `{"free_memory": true}` once: an open-source server drops its node cache (and models)
        before the next job, so that job recomputes every node. Comfy Cloud has no such route."""
        data = json.dumps({"free_memory": free_memory}).encode()
        response = self._send("POST", "/api/free", data=data, headers={"Content-Type": "application/json"})
        self._raise_for_status(response, "the request to clear the cache (/api/free)")

    def view(self, filename: str, subfolder: str, type: str, dest: BinaryIO) -> ViewResponse:
        """GET /api/view?filename=&subfolder=&type= (never `preview=`), the file streamed into `dest` (a seekable
        binary file).

        A redirect (Comfy Cloud sends one to signed storage) is followed by hand: to another origin with a
        session that carries no credentials at all (requests would keep a custom X-API-Key header). The byte
        count is checked against Content-Length. Connection failures, cut-off bodies and 429/5xx are retried
        like any GET, rewinding `dest` to where it started. Raises NotFound on 404 (and on 400/403 when the
        server refuses the file reference itself, e.g. a `../` path), AuthError on 401/403 from our server;
        a refusal by the storage (an expired signed link) is a ServerError.
        """
        what = f"output {filename!r}"
        params = {"filename": filename, "subfolder": subfolder, "type": type}
        start = dest.tell()
        waited = 0.0
        attempt = 0
        while True:
            try:
                return self._view_once(params, what, dest)
            except ServerUnreachable:
                wait = self._next_wait(attempt, waited, None)
                if wait is None:
                    raise
            except ServerError as exc:
                asked = exc.retry_after if isinstance(exc, _Retryable) else None
                wait = self._next_wait(attempt, waited, asked) if exc.status in RETRY_STATUSES else None
                if wait is None:
                    raise
            dest.seek(start)
            dest.truncate()
            self._sleep(wait)
            waited += wait
            attempt += 1

    def _storage_session(self) -> requests.Session:
        """A session for other origins (signed storage): no API key, no auth, no cookies of ours."""
        with self._lock:
            if self._storage is None:
                session = requests.Session()
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self._pool_size, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                session.headers["User-Agent"] = "comfy-replay"
                session.proxies.update(self._session.proxies)
                session.verify = self._session.verify
                session.trust_env = False
                self._storage = session
            return self._storage

    def _view_once(self, params: dict[str, str], what: str, dest: BinaryIO) -> ViewResponse:
        url = self._url("/api/view")
        session = self._session
        query: dict[str, str] | None = params
        for _ in range(MAX_REDIRECTS + 1):
            response = self._stream(session, url, query)
            with response:
                if response.is_redirect:
                    location = response.headers.get("Location", "")
                    url = urljoin(response.url, location)
                    if urlsplit(url).scheme not in ("http", "https"):
                        raise MalformedResponse(f"{self.server} redirected {what} to a non-http address")
                    query = None
                    session = self._session if _origin(url) == self.server else self._storage_session()
                    continue
                return self._receive(response, what, dest)
        raise MalformedResponse(f"{self.server} redirected {what} more than {MAX_REDIRECTS} times", url=url)

    def _stream(self, session: requests.Session, url: str, params: dict[str, str] | None) -> requests.Response:
        headers = {"Accept-Encoding": "identity"}  # the bytes as stored, so Content-Length counts them
        try:
            return session.get(url, params=params, headers=headers, stream=True, allow_redirects=False,
                               timeout=self.timeout)
        except requests.Timeout as exc:
            raise ServerUnreachable(f"no answer for an output file within {self.timeout:g} s; raise --timeout",
                                    url=origin_for_message(url)) from exc
        except requests.ConnectionError as exc:
            raise ServerUnreachable(
                f"cannot reach {_origin(url)} for an output file ({type(exc).__name__})", url=origin_for_message(url)
            ) from exc
        except requests.RequestException as exc:
            raise ServerError(self._redact(f"request for an output file failed: {exc}")) from exc

    def _receive(self, response: requests.Response, what: str, dest: BinaryIO) -> ViewResponse:
        status = response.status_code
        where = origin_for_message(response.url)  # signed URLs carry their signature in the query: never shown
        if status == 404 or (status in (400, 403) and not (status == 403 and self._api_key)):
            said = self._redact(_error_text(response))
            raise NotFound(
                f"{self.server} does not have {what} (HTTP {status}{': ' + said if said else ''})",
                url=where, status=status,
            )
        if status in RETRY_STATUSES:
            raise _Retryable(f"{self.server} failed {what} (HTTP {status})", url=where, status=status,
                             retry_after=_retry_after(response))
        if status >= 300:
            if _origin(response.url) != self.server:  # signed storage: its answers say nothing about our key
                raise ServerError(f"the storage {self.server} sent us to refused {what} (HTTP {status}); "
                                  "its signed link may have expired: try again", url=where, status=status)
            if status in (401, 403):
                hint = "set COMFY_API_KEY (or --api-key) to a valid Comfy Cloud API key"
                raise AuthError(f"{self.server} refused {what} (HTTP {status}); {hint}", url=where, status=status)
            raise MalformedResponse(f"{self.server} answered {what} with HTTP {status}", url=where, status=status)
        # A server that compresses anyway (we ask for identity) is decoded; only then is Content-Length not ours.
        encoded = response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
        declared = None if encoded else response.headers.get("Content-Length")
        digest = hashlib.sha256()
        size = 0
        try:
            for chunk in response.raw.stream(VIEW_CHUNK, decode_content=encoded):
                view = memoryview(chunk)
                for start in range(0, len(view), WRITE_PIECE):
                    dest.write(view[start:start + WRITE_PIECE])
                digest.update(chunk)
                size += len(chunk)
        except (Urllib3Error, requests.RequestException) as exc:  # cut off, reset or timed out mid-body
            raise ServerUnreachable(f"{self.server} cut off {what} after {size} bytes", url=where) from exc
        if declared is not None and declared.strip().isdigit() and int(declared) != size:
            raise ServerUnreachable(
                f"{self.server} sent {size} bytes of {what} but announced {int(declared)} (Content-Length)", url=where
            )
        return ViewResponse(size, response.headers.get("Content-Type"), digest.hexdigest())

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/prompt once (never retried: a retry could queue the job twice); returns `{prompt_id, ...}`."""
        data = json.dumps(body, allow_nan=False).encode()
        response = self._send("POST", "/api/prompt", data=data, headers={"Content-Type": "application/json"})
        status = response.status_code
        if status == 400:
            raise _rejection(response, self._redact)
        if status == 402:
            said = self._redact(_error_text(response))
            raise ServerError(
                f"{self.server} refused the job: insufficient credits (HTTP 402{': ' + said if said else ''}); "
                "add credits to the account",
                url=response.url,
                status=status,
            )
        if status == 429:
            said = self._redact(_error_text(response))
            raise ServerError(
                f"{self.server} refused the job (HTTP 429{': ' + said if said else ''}): the subscription may be "
                "inactive or the queue full; the job was not queued",
                url=response.url,
                status=status,
            )
        self._raise_for_status(response, "the submitted prompt")
        result = self._json(response, "the submitted prompt")
        if not isinstance(result, dict) or not isinstance(result.get("prompt_id"), str):
            raise MalformedResponse(f"{self.server} accepted the prompt but sent no prompt_id", url=response.url)
        return result




def _refused(exc: requests.ConnectionError) -> bool:
    """True when the connection was never made (refused, unresolvable name), as opposed to cut off midway."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


class _Retryable(ServerError):
    """A 429/5xx answer to a streamed GET, raised so the retry loop can see it; carries Retry-After."""

    def __init__(self, message: str, *, url: str | None, status: int, retry_after: float | None) -> None:
        super().__init__(message, url=url, status=status)
        self.retry_after = retry_after


def _origin(url: str) -> str:
    try:
        return server_origin(url)
    except InputError:
        return ""


def _rejection(response: requests.Response, redact: Callable[[str], str]) -> SubmitRejected:
    """Turn a 400 from POST /api/prompt (OSS `{error, node_errors}` or Cloud `{code, message}`) into SubmitRejected."""
    try:
        body = response.json()
    except ValueError:
        body = None
    lines: list[str] = []
    node_errors: dict[str, Any] = {}
    headline = "the server rejected the prompt (HTTP 400)"
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or err.get("type") or "")
            details = str(err.get("details") or "")
            headline = f"the server rejected the prompt: {message}" + (f" ({details})" if details and "\n" not in details else "")
            info = err.get("extra_info")
            if err.get("type") == "missing_node_type" and isinstance(info, dict):
                lines.append(f"node {info.get('node_id')} ({info.get('class_type')}): class type not installed on the server")
        elif isinstance(err, str):
            headline = f"the server rejected the prompt: {err}"
        elif "message" in body:
            headline = f"the server rejected the prompt: {body['message']}" + (f" ({body['code']})" if body.get("code") else "")
        raw_nodes = body.get("node_errors")
        if isinstance(raw_nodes, dict):
            node_errors = raw_nodes
            for node_id, node in raw_nodes.items():
                if not isinstance(node, dict):
                    continue
                for item in node.get("errors") or []:
                    if isinstance(item, dict):
                        det = item.get("details")
                        lines.append(
                            f"node {node_id} ({node.get('class_type', '?')}): {item.get('message', '')}"
                            + (f": {det}" if det else "")
                        )
    return SubmitRejected(redact(headline), node_errors=node_errors, lines=[redact(line) for line in lines])


__all__ = ["CLOUD_SERVER", "LOCAL_SERVER", "Client", "ViewResponse", "default_server", "server_origin"]
