"""Widget values of a UI node by name: ``widgets_values`` read as the frontend creates the widgets.

A node stores its widget values by position (or, for some custom nodes, as an object keyed by name);
the definitions from ``/object_info`` (`replay.nodedefs`) say which input each value belongs to and
which companion values (a control mode, a filter, an upload button) sit between them. Widgets that
frontend extensions add beyond the definitions come from one table, `FRONTEND_WIDGETS`. When the
definitions were saved with sorted keys, the order of each dynamic-combo option's inputs is inferred
from the values (`_fit_order`). `replay.convert` names a node's values with these readers;
`widget_slot` says where a value is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from replay.nodedefs import CONTROL_MODES, UPLOAD_FLAGS, InputDef, NodeDefs
from replay.workflow import natural_key


@dataclass(frozen=True)
class FrontendWidgets:
    """Widgets that a frontend extension adds to a node class, beyond what its definition lists.

    Each takes one ``widgets_values`` slot and is submitted under its name, like a definition's
    widget. ``after`` is the definition input they follow (None: after the last one); ``grow``
    names a list that takes every value left (``option{}`` → ``option1``, ``option2``, …);
    ``replaces_upload`` says the extension's buttons stand in for the generic upload button.
    """

    after: str | None
    names: tuple[str, ...] = ()
    grow: str | None = None
    replaces_upload: bool = False


# What the frontend's per-class extensions add (ComfyUI_frontend 1.49, `src/extensions/core/`):
# the custom combo's index and growing option list (`customCombo`), the 3D loader's buttons and
# the 3D viewers' preview image (`load3d`). Everything else follows from the definitions.
FRONTEND_WIDGETS: Mapping[str, FrontendWidgets] = {
    "CustomCombo": FrontendWidgets(after="choice", names=("index",), grow="option{}"),
    "Load3D": FrontendWidgets(
        after="model_file",
        names=("upload 3d model", "upload extra resources", "clear"),
        replaces_upload=True,
    ),
    "Preview3D": FrontendWidgets(after=None, names=("image",)),
    "SaveGLB": FrontendWidgets(after=None, names=("image",)),
}


class PositionalValues:
    """Reads a list of widget values in widget-creation order, skipping companion values."""

    def __init__(self, values: list[Any], *, usual_positions: Mapping[str, float] | None = None) -> None:
        self.values = values
        self.position = 0
        self.missing: list[str] = []
        self.usual_positions = usual_positions
        """Given when the definitions lost the order of dynamic-combo inputs: recover it (`_fit_order`)."""
        self.inferred: list[str] = []
        """The dynamic combos whose inputs were put in order by `_fit_order`."""

    def fill(
        self, specs: tuple[InputDef, ...], out: dict[str, Any], extension: FrontendWidgets | None = None
    ) -> None:
        values = self.values
        for spec in specs:
            if extension is not None and extension.after == spec.name:
                self._fill_extension(spec, out, extension)
                continue
            if not spec.is_widget:
                continue
            if not spec.is_stored:
                out[spec.name] = spec.default
                continue
            if self.position < len(values):
                value = values[self.position]
                self.position += 1
            else:
                value = spec.default
                self.missing.append(spec.name)
            if value is not None:
                out[spec.name] = value
            # The frontend only takes the next value as a control mode when it is one.
            if spec.has_control and self.position < len(values) and values[self.position] in CONTROL_MODES:
                self.position += 1
                if (
                    spec.has_filter_list
                    and self.position < len(values)
                    and isinstance(values[self.position], str)
                ):
                    self.position += 1
            if spec.has_upload and self.position < len(values):
                self.position += 1
            if spec.variants and isinstance(value, str) and value in spec.variants:
                children = spec.variants[value]
                if self.usual_positions is not None and sum(1 for c in children if c.is_stored) > 1:
                    children = _fit_order(children, values, self.position, self.usual_positions)
                    self.inferred.append(spec.name)
                self.fill(children, out)
        if extension is not None and extension.after is None:
            self._fill_extension(None, out, extension)

    def _fill_extension(self, spec: InputDef | None, out: dict[str, Any], extension: FrontendWidgets) -> None:
        """The definition's widget ``spec`` (if any), then the widgets the extension adds after it."""
        if spec is not None:
            self.fill((_no_upload(spec) if extension.replaces_upload else spec,), out)
        values = self.values
        for name in extension.names:
            if self.position < len(values):
                out[name] = values[self.position]
                self.position += 1
        if extension.grow is not None:
            for number, value in enumerate(values[self.position :], start=1):
                out[extension.grow.format(number)] = value
            self.position = len(values)


def _fit_order(
    specs: tuple[InputDef, ...], values: list[Any], start: int, usual: Mapping[str, float]
) -> tuple[InputDef, ...]:
    """The order of a dynamic-combo option's inputs that best explains the stored values.

    Used when the definitions were saved with sorted keys, which loses the order the server gave
    the inputs of each option (the frontend creates their widgets in that order). Required inputs
    come before optional ones, as the server sends them; within a group, the order is the one in
    which every value fits its widget (a combo's list, a number's type and range, a boolean, a
    string) and the most values equal their widget's default; ties go to the order in which inputs
    of those names usually stand in the definitions (``width`` before ``height``), then to natural
    order (``prompt2`` before ``prompt10``). When no order fits, the given one is kept.
    """
    stored = sorted(
        (spec for spec in specs if spec.is_stored),
        key=lambda spec: (usual.get(spec.name.rsplit(".", 1)[-1], 0.5), natural_key(spec.name)),
    )
    if len(stored) < 2:
        return specs
    # Inputs that no value can tell apart (same widget, limits and default) are taken in the order
    # above, so the search only decides how many of each kind come first: a few hundred states
    # even for an option with nine prompts and nine durations.
    kinds = [_fit_kind(spec) for spec in stored]

    @cache
    def best(remaining: frozenset[int], position: int) -> tuple[int, tuple[int, ...]] | None:
        if not remaining:
            return 0, ()
        if position >= len(values):  # a file older than the definition: the rest take defaults
            return 0, tuple(sorted(remaining))
        required = [i for i in remaining if stored[i].required]
        found: tuple[int, tuple[int, ...]] | None = None
        tried: set[str] = set()
        for index in sorted(required) if required else sorted(remaining):
            if kinds[index] in tried:
                continue
            tried.add(kinds[index])
            spec, value = stored[index], values[position]
            if not _fits(spec, value):
                continue
            rest = best(remaining - {index}, _skip(spec, values, position, usual))
            if rest is None:
                continue
            score = rest[0] + (1 if _same(value, spec.default) else 0)
            if found is None or score > found[0]:
                found = score, (index, *rest[1])
        return found

    result = best(frozenset(range(len(stored))), start)
    if result is None:
        return specs
    return tuple(stored[i] for i in result[1]) + tuple(spec for spec in specs if not spec.is_stored)


def _fit_kind(spec: InputDef) -> str:
    """What `_fits` and the default score can see of an input (a dynamic combo is always its own kind)."""
    options = spec.options
    seen = (spec.widget_type, spec.required, spec.default, options.get("min"), options.get("max"), spec.choices)
    return repr((*seen, spec.has_control, spec.has_upload, spec.name if spec.variants else None))


def _fits(spec: InputDef, value: Any) -> bool:
    """True when ``value`` could be the stored value of the widget of ``spec``."""
    kind = spec.widget_type
    if spec.variants:
        return isinstance(value, str) and value in spec.variants
    if kind == "COMBO":
        return not spec.choices or value in spec.choices
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    if kind in ("INT", "FLOAT"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if kind == "INT" and isinstance(value, float) and not value.is_integer():
            return False
        low, high = spec.options.get("min"), spec.options.get("max")
        return not (isinstance(low, (int, float)) and value < low) and not (
            isinstance(high, (int, float)) and value > high
        )
    if kind in ("STRING", "TEXTAREA", "MARKDOWN"):
        return isinstance(value, str)
    return True


def _skip(spec: InputDef, values: list[Any], position: int, usual: Mapping[str, float]) -> int:
    """The position after the value of ``spec`` at ``position`` and its companion values."""
    reader = PositionalValues(values, usual_positions=usual)
    reader.position = position
    reader.fill((spec,), {})
    return reader.position


def _same(value: Any, default: Any) -> bool:
    """Equal and of the same kind (``True`` is not ``1``)."""
    return isinstance(value, bool) == isinstance(default, bool) and bool(value == default)


class NamedValues:
    """Reads widget values stored as an object keyed by widget name."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.missing: list[str] = []

    def fill(
        self, specs: tuple[InputDef, ...], out: dict[str, Any], extension: FrontendWidgets | None = None
    ) -> None:
        if extension is not None:
            out.update((n, v) for n, v in self.values.items() if n in extension.names)
            if extension.grow is not None:
                prefix = extension.grow.format("")
                out.update(
                    (n, v)
                    for n, v in self.values.items()
                    if n.startswith(prefix) and n[len(prefix) :].isdecimal()
                )
        for spec in specs:
            if not spec.is_widget:
                continue
            if spec.name in self.values:
                value = self.values[spec.name]
            else:
                value = spec.default
                self.missing.append(spec.name)
            if value is not None:
                out[spec.name] = value
            if spec.variants and isinstance(value, str) and value in spec.variants:
                self.fill(spec.variants[value], out)


def _no_upload(spec: InputDef) -> InputDef:
    """The same input without its upload flags (an extension brings its own buttons)."""
    options = {k: v for k, v in spec.options.items() if k not in UPLOAD_FLAGS}
    return replace(spec, options=options)


def input_slots(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A UI node's input slots: the objects of its ``inputs`` list."""
    slots = node.get("inputs")
    return [s for s in slots if isinstance(s, dict)] if isinstance(slots, list) else []


def widget_slot(node: Mapping[str, Any], input_name: str, defs: NodeDefs) -> int | str | None:
    """Where a UI node stores the value the prompt sends as input `input_name`.

    The index in a ``widgets_values`` list, or the key in a ``widgets_values`` object; None when the node
    stores no value for it (not a widget, fed by a link, a default the file lacks, an unknown class, values that
    do not fit the definition). Uses the same reading as the conversion, so the answer is the slot it reads.
    """
    definition = defs.get(node.get("type", ""))
    raw = node.get("widgets_values")
    if definition is None or any(s.get("name") == input_name and s.get("link") is not None for s in input_slots(node)):
        return None
    if isinstance(raw, Mapping):
        return input_name if input_name in raw else None
    if not isinstance(raw, list):
        return None
    reads: list[int] = []

    class Recorded(list[Any]):
        def __getitem__(self, index: Any) -> Any:
            reads.append(index)
            return super().__getitem__(index)

    slots: dict[str, int] = {}

    class Named(dict[str, Any]):
        def __setitem__(self, name: str, value: Any) -> None:
            if reads:
                slots[name] = reads[-1]
            reads.clear()
            super().__setitem__(name, value)

    usual = None if defs.nested_order_known else defs.usual_positions()
    reader = PositionalValues(Recorded(raw), usual_positions=usual)
    reader.fill(definition.inputs, Named(), FRONTEND_WIDGETS.get(definition.name))
    spec = definition.input(input_name)
    if spec is None or not spec.is_stored or input_name in reader.missing or reader.position < len(raw):
        return None
    return slots.get(input_name)


__all__ = ["FRONTEND_WIDGETS", "FrontendWidgets", "NamedValues", "PositionalValues", "input_slots", "widget_slot"]
