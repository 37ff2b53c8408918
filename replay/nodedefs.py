"""Node definitions from a ComfyUI `/object_info` dump, and checks of API prompts against them.

`/object_info` maps each node class to its inputs (``required``/``optional``/``hidden``, ordered by
``input_order``), outputs and flags. What the UI → API converter needs from it is which inputs are
*widgets* (their values live positionally in a UI node's ``widgets_values``) and which widgets
carry extra, never-submitted companion values (the "control after generate" mode, a combo's filter
list, an upload button). The rules follow the ComfyUI frontend (``ComfyWidgets`` in
``src/scripts/widgets.ts``, ``useIntWidget``, ``addValueControlWidgets``, ``dynamicWidgets.ts``).
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from replay.errors import DocumentError
from replay.workflow import is_link, natural_key

# Input types for which the frontend creates a widget (`ComfyWidgets` plus the dynamic combo).
# Every other type is a socket that only takes a link.
CORE_WIDGET_TYPES = frozenset(
    {
        "INT", "FLOAT", "BOOLEAN", "STRING", "COMBO", "MARKDOWN", "IMAGEUPLOAD", "COLOR",
        "IMAGECOMPARE", "BOUNDING_BOX", "CHART", "GALLERIA", "PAINTER", "COMPOSITOR", "TEXTAREA",
        "CURVE", "RANGE", "VIDEO_EDIT", "RESOLUTION_PREVIEW", "BOUNDING_BOXES", "COLORS",
        "COMFY_DYNAMICCOMBO_V3",
    }
)  # fmt: skip

# Widget types registered by extensions that ship with the frontend (webcam capture, 3D viewers,
# audio recording). They take a place in ``widgets_values`` like any other widget.
EXTENSION_WIDGET_TYPES = frozenset({"WEBCAM", "LOAD_3D", "LOAD_3D_ANIMATION", "AUDIO_RECORD"})

# Widgets the frontend never saves in ``widgets_values`` (``widget.serialize = false``), with the
# value they submit: the image-compare view starts as a pair of empty image URLs.
UNSTORED_WIDGET_TYPES: Mapping[str, Any] = {"IMAGECOMPARE": ["", ""]}

# Option flags that make the frontend add an upload button after a combo; the button's value
# ("image", "video", ...) is stored in ``widgets_values`` but never submitted.
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "file_upload")

CONTROL_MODES = frozenset({"fixed", "increment", "decrement", "randomize", "increment-wrap"})

DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
MATCH_TYPE = "COMFY_MATCHTYPE_V3"
AUTOGROW = "COMFY_AUTOGROW_V3"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (a JSON path like ``$["3"].inputs.seed``) and what."""

    location: str
    message: str


@dataclass(frozen=True)
class InputDef:
    """One input of a node class, as the frontend sees it."""

    name: str
    type: str
    options: Mapping[str, Any]
    required: bool
    choices: tuple[Any, ...] | None = None
    """The allowed values of a combo (legacy list form or ``"COMBO"`` + ``options``); None otherwise."""
    variants: Mapping[str, tuple[InputDef, ...]] = field(default_factory=dict)
    """For a dynamic combo: the inputs each choice adds, already named ``<combo>.<input>``."""

    @cached_property
    def widget_type(self) -> str:
        """The widget the frontend renders: ``widgetType`` when given (for multi-type inputs), else the type."""
        override = self.options.get("widgetType")
        return override if isinstance(override, str) else self.type

    @cached_property
    def force_input(self) -> bool:
        return bool(self.options.get("forceInput"))

    @cached_property
    def is_widget(self) -> bool:
        """True when the input has a widget, so a value for it sits in ``widgets_values``."""
        if self.force_input:
            return False
        kind = self.widget_type
        return kind in CORE_WIDGET_TYPES or kind in EXTENSION_WIDGET_TYPES

    @cached_property
    def is_stored(self) -> bool:
        """True when the widget's value is saved in ``widgets_values`` (the image-compare view is not)."""
        return self.is_widget and self.widget_type not in UNSTORED_WIDGET_TYPES

    @cached_property
    def is_combo(self) -> bool:
        return self.widget_type in ("COMBO", DYNAMIC_COMBO)

    @cached_property
    def has_control(self) -> bool:
        """True when a "control after generate" mode value follows this widget's value.

        INT widgets get one when the flag is set or, with no flag at all, when the input is called
        ``seed``/``noise_seed`` (`useIntWidget`); FLOAT and COMBO widgets only when the flag is set.
        """
        if not self.is_widget:
            return False
        flag = self.options.get("control_after_generate")
        kind = self.widget_type
        if kind == "INT":
            return bool(flag) if flag is not None else self.name in ("seed", "noise_seed")
        return kind in ("FLOAT", "COMBO") and bool(flag)

    @cached_property
    def has_filter_list(self) -> bool:
        """True when a combo's control value is followed by a filter-list string (`control_filter_list`)."""
        return self.has_control and self.widget_type == "COMBO"

    @cached_property
    def has_upload(self) -> bool:
        """True when an upload button's value follows this combo's value (`LoadImage`: ``["x.png", "image"]``)."""
        return self.widget_type == "COMBO" and any(self.options.get(flag) for flag in UPLOAD_FLAGS)

    @cached_property
    def default(self) -> Any:
        """The value a new widget starts with (None when the definition gives no way to tell)."""
        if "default" in self.options:
            return self.options["default"]
        if self.widget_type in UNSTORED_WIDGET_TYPES:
            return UNSTORED_WIDGET_TYPES[self.widget_type]
        if self.choices:
            return self.choices[0]
        if self.variants:
            return next(iter(self.variants))
        kind = self.widget_type
        if kind in ("INT", "FLOAT"):
            low = self.options.get("min")
            return low if isinstance(low, (int, float)) and low > 0 else 0
        if kind == "BOOLEAN":
            return False
        if kind in ("STRING", "TEXTAREA", "MARKDOWN"):
            return ""
        return None


@dataclass(frozen=True)
class NodeDef:
    """The definition of one node class."""

    name: str
    display_name: str
    inputs: tuple[InputDef, ...]
    """Required then optional inputs, each group in ``input_order`` when the server sent it."""
    output_types: tuple[str, ...]
    output_names: tuple[str, ...]
    output_node: bool

    def input(self, name: str) -> InputDef | None:
        """The input called ``name`` (dynamic-combo children included), or None."""
        for spec in self.inputs:
            if spec.name == name:
                return spec
            for child in _descendants(spec):
                if child.name == name:
                    return child
        return None

    @property
    def widgets(self) -> tuple[InputDef, ...]:
        """The top-level inputs that have widgets, in the order their values are stored."""
        return tuple(spec for spec in self.inputs if spec.is_widget)


class NodeDefs(Mapping[str, NodeDef]):
    """All node classes a server offers, by class name (read-only mapping)."""

    def __init__(self, classes: Mapping[str, NodeDef], *, nested_order_known: bool = True) -> None:
        self._classes = dict(classes)
        self.nested_order_known = nested_order_known
        """False when the file was saved with its keys sorted: then the order of the inputs inside
        dynamic-combo options (which, unlike a class's own inputs, have no ``input_order``) is lost."""
        self._positions: dict[str, float] | None = None

    def usual_positions(self) -> Mapping[str, float]:
        """Input name → where inputs of that name usually stand among their class's inputs (0 first, 1 last).

        Averaged over every class's top-level inputs, whose order the server always gives; used to
        guess the order of inputs whose own order was lost (`nested_order_known`).
        """
        if self._positions is None:
            sums: dict[str, list[float]] = {}
            for definition in self._classes.values():
                names = [spec.name for spec in definition.inputs]
                for index, name in enumerate(names):
                    entry = sums.setdefault(name, [0.0, 0.0])
                    entry[0] += index / (len(names) - 1) if len(names) > 1 else 0.5
                    entry[1] += 1
            self._positions = {name: total / count for name, (total, count) in sums.items()}
        return self._positions

    def __getitem__(self, name: str) -> NodeDef:
        return self._classes[name]

    def get(self, name: str, default: Any = None) -> Any:  # the Mapping mixin's goes through KeyError
        return self._classes.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __repr__(self) -> str:
        return f"NodeDefs({len(self._classes)} classes)"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeDefs:
        """Build from a parsed ``/object_info`` body; raise DocumentError when it has the wrong shape."""
        if not isinstance(data, Mapping):
            raise DocumentError("object_info must be a JSON object mapping node classes to definitions")
        classes: dict[str, NodeDef] = {}
        for name, raw in data.items():
            if not isinstance(raw, Mapping):
                raise DocumentError(f"object_info: the definition of {name!r} is not an object")
            classes[name] = _parse_class(name, raw)
        return cls(classes, nested_order_known=not _keys_sorted(data))


def load_object_info(path: str | Path) -> NodeDefs:
    """Read a saved ``/object_info`` response (plain or gzipped JSON) and return its node definitions."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read node definitions: {exc.strerror or exc}", file=file) from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DocumentError(f"not a valid gzip file: {exc}", file=file) from exc
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text: {exc.reason}", file=file) from exc
    except json.JSONDecodeError as exc:
        raise DocumentError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno, column=exc.colno) from exc
    try:
        return NodeDefs.from_dict(data)
    except DocumentError as exc:
        raise DocumentError(exc.message, file=file) from exc


def _keys_sorted(data: Mapping[str, Any]) -> bool:
    """True when every class lists its inputs alphabetically although ``input_order`` shows that the
    server sent another order: the dump was re-saved with sorted keys (``json.dump(sort_keys=True)``)."""
    reordered = False
    for raw in data.values():
        section, order = raw.get("input"), raw.get("input_order")
        if not isinstance(section, Mapping) or not isinstance(order, Mapping):
            continue
        for group, names in order.items():
            listed = section.get(group)
            if not isinstance(listed, Mapping) or not isinstance(names, list):
                continue
            keys = list(listed)
            if keys != sorted(keys):
                return False
            reordered = reordered or [n for n in names if n in listed] != keys
    return reordered


def _parse_class(name: str, raw: Mapping[str, Any]) -> NodeDef:
    section = raw.get("input")
    order = raw.get("input_order")
    inputs = _parse_inputs(
        section if isinstance(section, Mapping) else {}, order if isinstance(order, Mapping) else None, ""
    )
    outputs = raw.get("output")
    output_types = (
        tuple("COMBO" if isinstance(o, list) else str(o) for o in outputs)
        if isinstance(outputs, list)
        else ()
    )
    names = raw.get("output_name")
    output_names = tuple(
        str(names[i]) if isinstance(names, list) and i < len(names) and names[i] else output_types[i]
        for i in range(len(output_types))
    )
    display = raw.get("display_name")
    return NodeDef(
        name=name,
        display_name=display if isinstance(display, str) and display else name,
        inputs=inputs,
        output_types=output_types,
        output_names=output_names,
        output_node=bool(raw.get("output_node")),
    )


def _parse_inputs(
    section: Mapping[str, Any], order: Mapping[str, Any] | None, prefix: str
) -> tuple[InputDef, ...]:
    result: list[InputDef] = []
    for group in ("required", "optional"):
        specs = section.get(group)
        if not isinstance(specs, Mapping):
            continue
        names: list[str] = list(specs)
        wanted = order.get(group) if order else None
        if isinstance(wanted, list):
            names = [n for n in wanted if n in specs] + [n for n in specs if n not in wanted]
        for input_name in names:
            spec = _parse_input(prefix + input_name, specs[input_name], group == "required")
            if spec is not None:
                result.append(spec)
    return tuple(result)


def _parse_input(name: str, raw: Any, required: bool) -> InputDef | None:
    if isinstance(raw, str):  # a bare type name instead of [type, options]
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        return None
    head = raw[0]
    options = raw[1] if len(raw) > 1 and isinstance(raw[1], Mapping) else {}
    if isinstance(head, list):
        return InputDef(name, "COMBO", options, required, choices=tuple(head))
    kind = str(head)
    if kind == "COMBO":
        listed = options.get("options")
        choices = tuple(listed) if isinstance(listed, list) else None
        return InputDef(name, kind, options, required, choices=choices)
    if kind == DYNAMIC_COMBO:
        variants: dict[str, tuple[InputDef, ...]] = {}
        for option in options.get("options") or []:
            if isinstance(option, Mapping) and isinstance(option.get("key"), str):
                sub = option.get("inputs")
                variants[option["key"]] = _parse_inputs(
                    sub if isinstance(sub, Mapping) else {}, None, name + "."
                )
        return InputDef(name, kind, options, required, choices=tuple(variants), variants=variants)
    return InputDef(name, kind, options, required)


def _descendants(spec: InputDef) -> Iterator[InputDef]:
    for children in spec.variants.values():
        for child in children:
            yield child
            yield from _descendants(child)


# --- checking prompts against definitions -------------------------------------------------------


def types_match(output_type: str, input_type: str) -> bool:
    """True when a link from an output of ``output_type`` may feed an input of ``input_type``.

    ``*`` (and an empty type) matches anything; comma-separated types match when any pair agrees;
    the comparison ignores case, like litegraph's ``isValidConnection``.
    """
    a = _wildcard(output_type)
    b = _wildcard(input_type)
    if a is None or b is None:
        return True
    return bool(a & b)


def _wildcard(kind: str) -> frozenset[str] | None:
    if kind in ("", "*", MATCH_TYPE):
        return None
    parts = frozenset(p.strip().lower() for p in kind.split(",") if p.strip())
    return None if not parts or "*" in parts else parts


def check_prompt(
    prompt: Mapping[str, Any], defs: NodeDefs, *, check_file_lists: bool = True
) -> list[Problem]:
    """Check an API prompt against node definitions; return every problem found (empty when none).

    Checks: unknown class types, missing required inputs, combo values outside their list, numbers
    outside min/max (and non-numbers), links to missing nodes or output slots, and links whose source
    output type cannot feed the input. ``check_file_lists=False`` skips the membership check of
    combos that list files on the server (uploads, empty lists, and values that look like file
    names): definitions recorded on another machine do not list the same files.
    """
    problems: list[Problem] = []
    for node_id in sorted(prompt, key=natural_key):
        node = prompt[node_id]
        where = f"$[{json.dumps(node_id)}]"
        if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str):
            problems.append(Problem(where, "node has no class_type"))
            continue
        definition = defs.get(node["class_type"])
        if definition is None:
            problems.append(Problem(f"{where}.class_type", f"unknown node type {node['class_type']!r}"))
            continue
        inputs = node.get("inputs")
        inputs = inputs if isinstance(inputs, Mapping) else {}
        for spec in _active_inputs(definition.inputs, inputs):
            location = f"{where}.inputs{_key_path(spec.name)}"
            if spec.name not in inputs:
                # An autogrow group is submitted as its members ("values.a", ...), never by its own name.
                if spec.required and spec.type != AUTOGROW:
                    problems.append(Problem(location, "required input is missing"))
                continue
            value = inputs[spec.name]
            if is_link(value):
                problems.extend(_check_link(location, value, spec, prompt, defs))
            else:
                problems.extend(_check_value(location, value, spec, check_file_lists))
    return problems


def _active_inputs(specs: tuple[InputDef, ...], inputs: Mapping[str, Any]) -> Iterator[InputDef]:
    """The inputs in force: top-level ones plus the children of each dynamic combo's chosen variant."""
    for spec in specs:
        yield spec
        chosen = inputs.get(spec.name)
        if spec.variants and isinstance(chosen, str) and chosen in spec.variants:
            yield from _active_inputs(spec.variants[chosen], inputs)


def _check_link(
    location: str, link: list[Any], spec: InputDef, prompt: Mapping[str, Any], defs: NodeDefs
) -> list[Problem]:
    source_id, slot = link
    source = prompt.get(source_id)
    if not isinstance(source, Mapping):
        return [Problem(location, f"link to node {source_id!r}, which is not in the prompt")]
    source_def = defs.get(source.get("class_type", ""))
    if source_def is None:
        return []  # reported at the source node
    if not 0 <= slot < len(source_def.output_types):
        return [
            Problem(
                location,
                f"link to output {slot} of node {source_id!r} ({source_def.name}), which has {len(source_def.output_types)} outputs",
            )
        ]
    output_type = source_def.output_types[slot]
    accepted = spec.type
    if spec.type == MATCH_TYPE:
        template = spec.options.get("template")
        allowed = template.get("allowed_types") if isinstance(template, Mapping) else None
        accepted = allowed if isinstance(allowed, str) else "*"
    if not types_match(output_type, accepted):
        return [
            Problem(
                location,
                f"link from {source_def.name} output {slot} gives {output_type}, input takes {accepted}",
            )
        ]
    return []


_FILE_NAME = re.compile(r"\.[A-Za-z0-9]{2,12}$")


def _check_value(location: str, value: Any, spec: InputDef, check_file_lists: bool) -> list[Problem]:
    if isinstance(value, Mapping) and "__value__" in value:
        value = value["__value__"]
    kind = spec.widget_type
    if spec.is_combo:
        return _check_choice(location, value, spec, check_file_lists)
    if kind in ("INT", "FLOAT"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                return [Problem(location, f"{value!r} is not a number ({kind})")]
        if isinstance(value, float) and not math.isfinite(value):
            return [Problem(location, f"{value!r} is not a finite number")]
        problems: list[Problem] = []
        low, high = spec.options.get("min"), spec.options.get("max")
        if isinstance(low, (int, float)) and value < low:
            problems.append(Problem(location, f"{value!r} is below the minimum {low!r}"))
        if isinstance(high, (int, float)) and value > high:
            problems.append(Problem(location, f"{value!r} is above the maximum {high!r}"))
        return problems
    return []


def _check_choice(location: str, value: Any, spec: InputDef, check_file_lists: bool) -> list[Problem]:
    choices = spec.choices
    if choices is None or spec.options.get("multiselect") or isinstance(value, list):
        return []  # remote or multi-select lists cannot be checked offline
    if not check_file_lists and (
        not choices or spec.has_upload or (isinstance(value, str) and _FILE_NAME.search(value))
    ):
        return []
    try:
        if value in choices:
            return []
    except TypeError:
        pass
    shown = ", ".join(repr(c) for c in choices[:8]) + (", ..." if len(choices) > 8 else "")
    return [Problem(location, f"{value!r} is not one of the allowed values [{shown}]")]


def _key_path(name: str) -> str:
    return f".{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"[{json.dumps(name)}]"


__all__ = [
    "CONTROL_MODES",
    "InputDef",
    "NodeDef",
    "NodeDefs",
    "Problem",
    "check_prompt",
    "load_object_info",
    "types_match",
]
