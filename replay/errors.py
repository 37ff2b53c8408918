"""The exception tree of comfy-replay: every failure the library raises is a ReplayError.

    ReplayError                      base; ``exit_code`` says how the CLI ends
    ├── InputError          (2)      bad input: unreadable, malformed or the wrong kind of document
    │   ├── DocumentError   (2)      a file that cannot be parsed; carries ``file``, ``line``, ``column``
    │   ├── GraphError      (2)      a prompt graph that cannot run: dangling link, cycle, no class_type
    │   ├── JobStateError   (2)      a job not in the state the command needs (``status``)
    │   ├── TargetExistsError (2)    refusing to overwrite a file that holds something else
    │   └── SubmitRejected  (2)      the server refused a prompt (400); carries ``node_errors``
    ├── ServerError         (3)      the server failed or could not be reached; carries ``url``, ``status``
    │   ├── NotFound        (3)      404 for something the server does not have (an output file)
    │   │   └── JobNotFound (3)      404 for a job id
    │   ├── ServerUnreachable (3)    connection refused, DNS, reset, timeout after retries
    │   ├── MalformedResponse (3)    a body that is not the JSON we expected
    │   └── WaitTimeout     (3)      a submitted job did not finish in time; carries ``job_id``
    └── AuthError           (4)      401/403: the API key is missing, wrong or not allowed

Messages say what failed, where, and what to do next. They never contain a secret: the client
redacts its API key from every text it puts into an exception.
"""

from __future__ import annotations

from typing import Any


class ReplayError(Exception):
    """Base of every error comfy-replay raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(ReplayError):
    """The user's input cannot be used: bad arguments, a bad file, the wrong kind of document."""

    exit_code = 2


class DocumentError(InputError):
    """A file (or stdin) that cannot be read or parsed; the location is part of the message."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, column: int | None = None
    ) -> None:
        where = file or ""
        if file and line is not None:
            where += f":{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {message}" if where else message)
        self.detail = message
        self.file = file
        self.line = line
        self.column = column


class GraphError(InputError):
    """A prompt graph that cannot be run (a link to a missing node, a cycle, a node without class_type)."""

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class JobStateError(InputError):
    """A job that is not in the state a command needs (for example `repro` of a completed job)."""

    def __init__(self, message: str, *, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


class TargetExistsError(InputError):
    """Refusing to overwrite a file that holds something other than what we would write."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class SubmitRejected(InputError):
    """The server answered 400 to a submitted prompt; ``node_errors`` holds its per-node details."""

    def __init__(self, message: str, *, node_errors: dict[str, Any] | None = None, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.node_errors = node_errors or {}
        self.lines = lines or []


class ServerError(ReplayError):
    """The server failed, answered something unusable, or could not be reached."""

    exit_code = 3

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class NotFound(ServerError):
    """The server does not have what was asked for (404), for example an output file it cleaned up."""


class JobNotFound(NotFound):
    """The server does not know the job id (404)."""


class ServerUnreachable(ServerError):
    """Connection refused, reset, DNS failure, or a timeout after every retry."""


class MalformedResponse(ServerError):
    """The server answered, but not with the JSON shape we expected (truncated body, HTML page, ...)."""


class WaitTimeout(ServerError):
    """A submitted job did not reach a terminal state within the wait budget."""

    def __init__(self, message: str, *, job_id: str, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.job_id = job_id


class AuthError(ReplayError):
    """The server refused our credentials (401) or the job is not ours (403)."""

    exit_code = 4

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


__all__ = [
    "AuthError",
    "DocumentError",
    "GraphError",
    "InputError",
    "JobNotFound",
    "JobStateError",
    "MalformedResponse",
    "NotFound",
    "ReplayError",
    "ServerError",
    "ServerUnreachable",
    "SubmitRejected",
    "TargetExistsError",
    "WaitTimeout",
]
