"""A UI graph's fields as compared (by `diff` and `textconv`): layout left out, link ids resolved to `[node, slot]`."""

from __future__ import annotations

from typing import Any

from replay.diff_values import without_keys

# UI keys that only place or paint things; ignored unless include_layout. `order` is recomputed by the frontend.
NODE_LAYOUT_KEYS = frozenset({"pos", "size", "order", "color", "bgcolor", "flags"})
SLOT_LAYOUT_KEYS = frozenset({"pos", "color_on", "color_off", "dir", "shape"})
GRAPH_LAYOUT_KEYS = frozenset({"groups", "reroutes", "floatingLinks"})
EXTRA_LAYOUT_KEYS = frozenset({"ds", "linkExtensions", "reroutes"})
# Counters the frontend bumps on every edit; a change in them is a consequence of another reported change.
GRAPH_DERIVED_KEYS = frozenset({"last_node_id", "last_link_id", "revision", "state"})


def link_table(links: Any) -> dict[Any, tuple[Any, Any]]:
    """Map link id -> (origin node id, origin slot) for v0.4 tuples and v1 link objects."""
    table: dict[Any, tuple[Any, Any]] = {}
    for link in links if isinstance(links, list) else []:
        if isinstance(link, list) and len(link) >= 3:
            table[link[0]] = (link[1], link[2])
        elif isinstance(link, dict) and "id" in link:
            table[link["id"]] = (link.get("origin_id"), link.get("origin_slot"))
    return table


def ui_node_fields(node: dict[str, Any], links: dict[Any, tuple[Any, Any]], include_layout: bool) -> dict[str, Any]:
    """A UI node as compared: layout dropped, inputs keyed by name, link ids replaced by `[node, slot]`.

    Each input becomes `{"link": [origin node, slot] | None, ...its other slot fields}`; the links lists of
    outputs are dropped (they repeat the inputs' links from the other end).
    """
    slot_drop = frozenset({"link", "links"}) | (frozenset() if include_layout else SLOT_LAYOUT_KEYS)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "id" or (not include_layout and key in NODE_LAYOUT_KEYS):
            continue
        if key == "inputs" and isinstance(value, list):
            inputs: dict[str, Any] = {}
            for index, slot in enumerate(value):
                name = str(slot.get("name", index)) if isinstance(slot, dict) else str(index)
                name = name if name not in inputs else f"{name}#{index}"
                link_id = slot.get("link") if isinstance(slot, dict) else None
                if link_id is None:
                    source: Any = None
                elif link_id in links:
                    origin, origin_slot = links[link_id]
                    source = [str(origin), origin_slot]
                else:
                    source = f"dangling link {link_id}"
                inputs[name] = {"link": source, **without_keys(slot, slot_drop | {"name"})}
            out["inputs"] = inputs
        elif key == "outputs" and isinstance(value, list):
            out["outputs"] = [without_keys(slot, slot_drop) for slot in value]
        else:
            out[key] = value
    return out


def graph_fields(graph: dict[str, Any], include_layout: bool, *, subgraph: bool) -> dict[str, Any]:
    """The graph's own fields as compared: nodes, links and counters out; layout out unless asked for."""
    drop = {"nodes", "links", "definitions", "id"} | GRAPH_DERIVED_KEYS
    if not include_layout:
        drop |= GRAPH_LAYOUT_KEYS
    out = {k: v for k, v in graph.items() if k not in drop}
    if subgraph:
        out["name"] = graph.get("name")
    if include_layout:
        return out
    if isinstance(out.get("extra"), dict):
        out["extra"] = without_keys(out["extra"], EXTRA_LAYOUT_KEYS)
    for key in ("inputNode", "outputNode"):
        if isinstance(out.get(key), dict):
            out[key] = without_keys(out[key], frozenset({"bounding"}))
    for key in ("inputs", "outputs"):  # subgraph boundary slots: linkIds are derived, pos is layout
        if isinstance(out.get(key), list):
            out[key] = [without_keys(slot, frozenset({"linkIds", "pos"})) for slot in out[key]]
    return out


__all__ = [
    "EXTRA_LAYOUT_KEYS",
    "GRAPH_DERIVED_KEYS",
    "GRAPH_LAYOUT_KEYS",
    "NODE_LAYOUT_KEYS",
    "SLOT_LAYOUT_KEYS",
    "graph_fields",
    "link_table",
    "ui_node_fields",
]
