"""The result model of a diff: `JobDiff` and the parts it is made of, and `MISSING` for a value one side lacks.

Built by `replay.diff.diff_jobs`; read by the renderers (`replay.diff_render`, the HTML report) and by bisect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from replay.environment_diff import EnvChange

if TYPE_CHECKING:
    from replay.outputs import OutputPair, OutputStore

COMPARED_PROMPT = "prompt"
COMPARED_UI = "ui"


class _Missing:
    """The value of an input that one side does not have (distinct from JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True)
class NodeRef:
    """A node that exists on one side only; `subgraph` is the definition id for a node inside a UI subgraph."""

    id: str
    class_type: str
    subgraph: str | None = None


@dataclass(frozen=True)
class Change:
    """One named value that differs: `a` or `b` is MISSING when that side lacks it; `line_diff` for text."""

    name: str
    a: Any = MISSING
    b: Any = MISSING
    line_diff: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeChange:
    """A node present on both sides whose inputs (prompt) or fields (UI) differ, or whose class changed."""

    id: str
    class_type: str
    inputs: tuple[Change, ...] = ()
    class_change: tuple[str, str] | None = None
    subgraph: str | None = None


@dataclass(frozen=True)
class TitleChange:
    """A node whose title changed: reported apart from behaviour changes because it does not alter what runs."""

    id: str
    class_type: str
    a: str | None
    b: str | None
    subgraph: str | None = None


@dataclass(frozen=True)
class NodesDiff:
    """Nodes added, removed and changed, each list in natural node-id order."""

    added: tuple[NodeRef, ...] = ()
    removed: tuple[NodeRef, ...] = ()
    changed: tuple[NodeChange, ...] = ()


@dataclass(frozen=True)
class SubgraphChange:
    """A UI subgraph definition present on both sides whose own fields (name, inputs, widgets, ...) differ."""

    id: str
    name: str
    fields: tuple[Change, ...]


@dataclass(frozen=True)
class SubgraphsDiff:
    """UI subgraph definitions added, removed and changed (their inner nodes are reported under `nodes`)."""

    added: tuple[NodeRef, ...] = ()
    removed: tuple[NodeRef, ...] = ()
    changed: tuple[SubgraphChange, ...] = ()


@dataclass(frozen=True)
class OutputNodeDiff:
    """How one output node's results differ: files by (filename, subfolder, type), texts and other values."""

    id: str
    class_type: str
    count_a: int
    count_b: int
    added: tuple[dict[str, Any], ...] = ()
    removed: tuple[dict[str, Any], ...] = ()
    changed: tuple[tuple[dict[str, Any], dict[str, Any]], ...] = ()
    values: tuple[Change, ...] = ()


@dataclass(frozen=True)
class OutputsDiff:
    """Output item counts of each side and the output nodes whose results differ."""

    count_a: int
    count_b: int
    nodes: tuple[OutputNodeDiff, ...] = ()


@dataclass(frozen=True)
class ErrorInfo:
    """The part of an execution error that tells two failures apart."""

    node_id: str
    node_type: str
    exception_type: str
    message: str


@dataclass(frozen=True)
class Side:
    """What one side of the comparison is: document kind, job id, status and execution time in seconds."""

    kind: str
    id: str | None
    status: str | None
    duration: float | None


@dataclass(frozen=True)
class JobDiff:
    """Everything that differs between two jobs; `identical` ignores timing, ids and (by default) layout."""

    compared: str
    a: Side
    b: Side
    nodes: NodesDiff = field(default_factory=NodesDiff)
    titles: tuple[TitleChange, ...] = ()
    graph: tuple[Change, ...] = ()
    subgraphs: SubgraphsDiff = field(default_factory=SubgraphsDiff)
    outputs: OutputsDiff | None = None
    status: tuple[str | None, str | None] | None = None
    error: tuple[ErrorInfo | None, ErrorInfo | None] | None = None
    pairs: tuple[OutputPair, ...] | None = None
    """Outputs compared by content (SPEC §7) when both sides have artifacts; None otherwise."""
    cached: tuple[list[str] | None, list[str] | None] | None = None
    """The nodes each side took from ComfyUI's cache (None for a side that does not say); None for non-runs."""
    outputs_cached: tuple[bool, bool] = (False, False)
    """Whether every output node of a (of b) came from ComfyUI's cache: that run recomputed none of its outputs."""
    stores: tuple[OutputStore | None, OutputStore | None] = field(default=(None, None), compare=False, repr=False)
    """Where a's and b's output files are (for renderers that show them, e.g. an HTML report); not in `to_json`."""
    environment: tuple[EnvChange, ...] = ()
    """Where the two ran, when both record it (SPEC §9); shown, but not counted by `identical`."""

    @property
    def identical(self) -> bool:
        """True when nothing but timing, ids or ignored layout differs (and outputs agree within tolerance)."""
        nodes, subgraphs = self.nodes, self.subgraphs
        return not (
            nodes.added or nodes.removed or nodes.changed or self.titles or self.graph
            or subgraphs.added or subgraphs.removed or subgraphs.changed
            or (self.outputs is not None and self.outputs.nodes)
            or self.status is not None or self.error is not None
            or (self.pairs is not None and not all(pair.within_tolerance for pair in self.pairs))
        )


__all__ = [
    "COMPARED_PROMPT",
    "COMPARED_UI",
    "MISSING",
    "Change",
    "ErrorInfo",
    "JobDiff",
    "NodeChange",
    "NodeRef",
    "NodesDiff",
    "OutputNodeDiff",
    "OutputsDiff",
    "Side",
    "SubgraphChange",
    "SubgraphsDiff",
    "TitleChange",
]
