"""Small API prompts shared by the graph and repro tests, each drawn in its comment."""

from __future__ import annotations

from typing import Any


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    """A prompt node."""
    return {"class_type": class_type, "inputs": inputs}


def link(node_id: str, slot: int = 0) -> list[Any]:
    """A link to output `slot` of node `node_id`."""
    return [node_id, slot]


# 1 feeds a saved branch (2 -> 3 SaveImage) and a second branch (4 -> 5 -> 6 PreviewImage); 7 is fed by 4 but
# nothing consumes it, and 8 stands alone.
BRANCHES = {
    "1": node("LoadImage", image="a.png"),
    "2": node("ImageBlur", image=link("1")),
    "3": node("SaveImage", images=link("2"), filename_prefix="x"),
    "4": node("ImageInvert", image=link("1")),
    "5": node("ImageScale", image=link("4"), width=64),
    "6": node("PreviewImage", images=link("5")),
    "7": node("ImageToMask", image=link("4"), channel="red"),
    "8": node("PrimitiveInt", value=3),
}

# A diamond: 1 feeds 2 and 3, both feed 4, which feeds the output 5; 3 also feeds the output 6.
DIAMOND = {
    "1": node("A"),
    "2": node("B", x=link("1")),
    "3": node("C", x=link("1")),
    "4": node("D", left=link("2"), right=link("3", 1)),
    "5": node("SaveImage", images=link("4")),
    "6": node("SaveImage", images=link("3")),
}

# Subgraph-path ids: the nodes of subgraph 12 flattened to "12:5", "12:7", "12:10", beside top-level nodes.
SUBGRAPH = {
    "2": node("Loader"),
    "12:5": node("Inner", x=link("2")),
    "12:7": node("Inner2", x=link("12:5")),
    "10": node("SaveImage", images=link("12:7")),
    "12:10": node("PreviewImage", images=link("12:5")),
}
