"""Job references: turn an id, a JSON or YAML file, a recipe or `-` (stdin) into a Job.

The kind of a document is detected from its shape (`replay.jobs.detect_kind`), never from its file name.
Reading and parsing bytes is `replay.documents` (re-exported here: `parse_document`, `read_bytes`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from replay.documents import parse_document, read_bytes
from replay.errors import InputError
from replay.jobs import KIND_RECIPE, Job, detect_kind, is_job_id, job_from_detail, job_from_document
from replay.recipe import check_outline, job_from_recipe

if TYPE_CHECKING:
    from replay.client import Client


@dataclass
class Document:
    """A parsed input document: its data, the name to show in messages, and its detected kind."""

    data: Any
    name: str
    kind: str


def read_document(ref: str, stdin: BinaryIO | None = None) -> Document:
    """Read and parse a file or `-`, and detect its kind; InputError/DocumentError when unusable."""
    raw, name = read_bytes(ref, stdin)
    data = parse_document(raw, name)
    try:
        kind = detect_kind(data)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from exc
    if kind == KIND_RECIPE:
        check_outline(data, file=name)
    return Document(data=data, name=name, kind=kind)


def job_from_parsed(doc: Document) -> Job:
    """Build the Job of a parsed document of any kind (recipe included); its prompt must be a runnable graph."""
    job = job_from_recipe(doc.data) if doc.kind == KIND_RECIPE else job_from_document(doc.data)
    if job.prompt is not None:
        from replay.validate import require_runnable_graph  # noqa: PLC0415

        require_runnable_graph(job.prompt, doc.name)
    return job


def check_references(refs: Sequence[str], *, job_ids: bool = True) -> None:
    """Refuse, before any request is made, a reference that is neither `-`, an existing path nor a job id.

    `job_ids=False` accepts files only (for commands that never fetch a job). Raises InputError.
    """
    for ref in refs:
        if ref == "-" or Path(ref).exists():
            continue
        if job_ids and is_job_id(ref):
            continue
        shown = ref if len(ref) <= 80 else repr(ref)[:80]
        if not job_ids:
            raise InputError(f"{shown}: no such file")
        raise InputError(
            f"{shown}: no such file, and not a job id (a UUID like f7838b83-aab4-48ed-96a5-1e0cb6760bc6)"
        )


def load_job(
    ref: str,
    client_factory: Callable[[], Client] | None = None,
    *,
    stdin: BinaryIO | None = None,
) -> Job:
    """Resolve a job reference: a job id (fetched with a client from `client_factory`), a file, or `-`."""
    if is_job_id(ref) and not Path(ref).exists():
        if client_factory is None:
            raise InputError(f"{ref} is a job id, but no server is configured to fetch it from")
        client = client_factory()
        job = job_from_detail(client.get_job(ref))
        job.source = {"server": client.server}
        return job
    return job_from_parsed(read_document(ref, stdin))


__all__ = [
    "Document",
    "check_references",
    "job_from_parsed",
    "load_job",
    "parse_document",
    "read_bytes",
    "read_document",
]
