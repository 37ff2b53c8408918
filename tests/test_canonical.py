"""The canonical YAML codec: exact bytes, lossless round trips, and a reader that refuses what recipes may not hold."""

from __future__ import annotations

import io
import math
import os

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from replay import canonical
from replay.errors import DocumentError


def nan_safe(value):
    """JSON values with NaN replaced by a marker, so equal documents compare equal."""
    if isinstance(value, float) and math.isnan(value):
        return "<NaN>"
    if isinstance(value, dict):
        return {k: nan_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_safe(v) for v in value]
    return value


def same(a, b) -> bool:
    """Equal as JSON: types too (1 is not 1.0, True is not 1), and -0.0 keeps its sign."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


def yaml12(text: str):
    """An independent YAML 1.2 reader (ruamel.yaml, pure Python)."""
    return YAML(typ="safe", pure=True).load(io.StringIO(text))


# Written by hand from SPEC §3: key order given, prompt ids natural, block style, `|` for multi-line text.
EXPECTED = """\
recipe: 1
source:
  server: "http://127.0.0.1:8188"
  job_id: "0b9e2f7c-0000-4000-8000-000000000001"
prompt:
  "2":
    class_type: CLIPTextEncode
    inputs:
      text: |
        a photo of a cat
        on a mat
      clip:
        - "10"
        - 1
  "10":
    class_type: CheckpointLoaderSimple
    inputs:
      ckpt_name: sd15.safetensors
  "10:3":
    class_type: KSampler
    inputs:
      seed: 42
      cfg: 7.0
      denoise: 1.0e-05
      steps: "012"
      tags: []
      extra: {}
"""


def test_recipe_like_document_gives_exactly_the_documented_bytes():
    doc = {
        "prompt": {
            "10:3": {"class_type": "KSampler", "inputs": {"seed": 42, "cfg": 7.0, "denoise": 1e-05, "steps": "012",
                                                          "tags": [], "extra": {}}},
            "10": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
            "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo of a cat\non a mat\n", "clip": ["10", 1]}},
        },
        "source": {"server": "http://127.0.0.1:8188", "job_id": "0b9e2f7c-0000-4000-8000-000000000001"},
        "recipe": 1,
    }
    text = canonical.dumps(doc, key_order=("recipe", "source", "prompt"), natural=("prompt",))
    assert text == EXPECTED
    assert canonical.loads(text) == doc


# Strings some YAML reader (1.1 or 1.2) would take for something else: each must come out quoted.
AMBIGUOUS = ["yes", "No", "on", "OFF", "y", "n", "true", "False", "null", "~", "", "012", "1e3", "0o12", "0x1F",
             "1_000", "0b101", "1:30", "2024-01-01", "2024-01-01 10:00:00", ".inf", "-.Inf", ".NaN", "+1", "-1",
             "1.5", ".5", "3.", "<<", "=", "- item", "key: value", "a #comment", "#hash", "&anchor", "*alias",
             "!tag", "%directive", "@at", "`tick", "[list]", "{map}", "'single'", '"double"', "|", ">", "?", ":",
             " leading", "trailing ", "tab\there", "---", "..."]
PLAIN = ["KSampler", "sd15.safetensors", "ComfyUI_00001_.png", "a photo of a cat", "models/vae/x.pt",
         "euler_ancestral", "Yes please", "nullable", "True Color", "é", "写真", "a=b", "save 50%"]


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_strings_a_yaml_reader_could_misread_are_quoted_and_read_back(text):
    out = canonical.dumps({"v": text})
    assert out.startswith('v: "'), out
    assert canonical.loads(out) == {"v": text}
    assert yaml.safe_load(out) == {"v": text}  # a YAML 1.1 reader
    assert yaml12(out) == {"v": text}


@pytest.mark.parametrize("text", PLAIN)
def test_ordinary_words_and_file_names_stay_plain(text):
    assert canonical.dumps({"v": text}) == f"v: {text}\n"
    assert yaml.safe_load(canonical.dumps({"v": text})) == {"v": text}


@pytest.mark.parametrize(("value", "written"), [
    (1, "1"), (1.0, "1.0"), (-0.0, "-0.0"), (1e16, "1.0e+16"), (2.5e-07, "2.5e-07"), (10**40, str(10**40)),
    (math.inf, ".inf"), (-math.inf, "-.inf"), (math.nan, ".nan"), (True, "true"), (None, "null"),
])
def test_numbers_keep_their_type(value, written):
    out = canonical.dumps({"v": value})
    assert out == f"v: {written}\n"
    assert same(canonical.loads(out)["v"], value)
    assert same(yaml.safe_load(out)["v"], value)


@pytest.mark.parametrize(("text", "header"), [
    ("a\nb", "|-"), ("a\nb\n", "|"), ("a\nb\n\n", "|+"), ("\nlead\n", "|"), ("x\n  indented\n\ty\n", "|"),
    ("line with trailing  \nnext", "|-"), ("a\n   \nb", "|-"), ("  File x.py\n    code\n", "|2"),
    ("\tstarts with tab\nx", "|2-"), ("\n  after a blank line\n\n", "|2+"),
])
def test_multi_line_text_is_a_literal_block_that_reads_back_exactly(text, header):
    out = canonical.dumps({"k": [text], "after": 1})
    assert out.splitlines()[1] == f"  - {header}"
    for pure in (False, True):
        assert canonical.loads(out, pure=pure) == {"k": [text], "after": 1}
    assert yaml.safe_load(out) == {"k": [text], "after": 1}
    assert yaml12(out) == {"k": [text], "after": 1}


@pytest.mark.parametrize("text", ["\n", "  \n ", "cr\r\nlf",
                                  "nel\x85x\ny", "bell\x07\nx"])
def test_multi_line_text_a_block_cannot_hold_is_quoted(text):
    out = canonical.dumps({"k": text})
    assert out.startswith('k: "') and out.count("\n") == 1
    assert canonical.loads(out) == {"k": text}


def test_long_keys_are_written_as_explicit_keys():
    key = "k" * 3000
    doc = {key: {"a": 1}, "short": [{key: 2}]}
    out = canonical.dumps(doc)
    assert f"? {key}" in out
    for pure in (False, True):
        assert canonical.loads(out, pure=pure) == doc


json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
                | st.text())
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(), inner, max_size=4), max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_any_json_value_survives_with_either_parser_and_any_reader(value):
    doc = {"v": value}
    out = canonical.dumps(doc)
    fast, pure = canonical.loads(out), canonical.loads(out, pure=True)
    assert same(fast, doc) and same(pure, doc)
    assert canonical.dumps(fast) == out  # byte-stable on a second write
    assert nan_safe(yaml.safe_load(out)) == nan_safe(doc)


node_ids = st.from_regex(r"[0-9]{1,4}(:[0-9]{1,3}){0,2}|[a-z]{1,3}[0-9]{0,2}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(node_ids, st.fixed_dictionaries({"class_type": st.text(min_size=1), "inputs": st.dictionaries(
    st.text(), json_scalars, max_size=3)}), max_size=8))
def test_prompt_node_ids_round_trip_in_natural_order_whatever_order_they_came_in(prompt):
    forward = canonical.dumps({"prompt": prompt}, natural=("prompt",))
    backward = canonical.dumps({"prompt": dict(reversed(list(prompt.items())))}, natural=("prompt",))
    assert forward == backward
    back = canonical.loads(forward)["prompt"]
    assert nan_safe(back) == nan_safe(prompt)
    numeric = [k for k in back if k.isdigit()]
    assert [int(k) for k in numeric] == sorted(int(k) for k in numeric)


@pytest.mark.parametrize(("text", "line", "column", "words"), [
    ("a: 1\nb:\n  c: 2\n  c: 3\n", 4, 3, "duplicate key 'c'"),
    ("a: &x [1]\nb: 2\n", 1, 4, "anchors"),
    ("a: [1]\nb: *x\n", 2, 4, "alias"),
    ("a: !!python/object/apply:os.system [echo]\n", 1, 4, "tags (!!python/object/apply:os.system)"),
    ("a: !!str 5\n", 1, 4, "tags"),
    ("1: x\n", 1, 1, "keys must be strings"),
    ("null: x\n", 1, 1, "keys must be strings"),
    ("a: {b: 1\n", 2, 1, "not valid YAML"),
    ("a: 1\n---\nb: 2\n", 2, 1, "not valid YAML"),
])
def test_what_a_recipe_may_not_hold_is_refused_at_its_line_and_column(text, line, column, words):
    for pure in (False, True):
        with pytest.raises(DocumentError) as caught:
            canonical.loads(text, file="r.yaml", pure=pure)
        assert (caught.value.line, caught.value.column) == (line, column)
        assert words in str(caught.value) and str(caught.value).startswith(f"r.yaml:{line}:{column}: ")


def test_an_alias_bomb_is_refused_at_once():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    with pytest.raises(DocumentError, match="anchors"):
        canonical.loads(bomb)


def test_yaml_1_1_surprises_read_as_strings():
    assert canonical.loads("a: yes\nb: 2024-01-01\nc: 1:30\nd: 012\ne: 0o12\nf: ~\n") == {
        "a": "yes", "b": "2024-01-01", "c": "1:30", "d": 12, "e": 10, "f": None}


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "r.yaml"
    target.write_bytes(b"old\n")
    with pytest.raises(TypeError):
        canonical.atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["r.yaml"]


def test_write_if_changed_leaves_an_identical_file_untouched(tmp_path):
    target = tmp_path / "r.yaml"
    assert canonical.write_if_changed(target, b"a: 1\n") is True
    os.utime(target, (1_000_000, 1_000_000))
    assert canonical.write_if_changed(target, b"a: 1\n") is False
    assert target.stat().st_mtime == 1_000_000
    assert canonical.write_if_changed(target, b"a: 2\n") is True
    assert target.read_bytes() == b"a: 2\n" and sorted(os.listdir(tmp_path)) == ["r.yaml"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(alphabet=" \t\na#:-", max_size=12), min_size=1, max_size=3))
def test_white_space_heavy_text_survives_in_blocks_and_quotes(texts):
    doc = {"k": texts, "m": {"x": texts[0]}}
    out = canonical.dumps(doc)
    for pure in (False, True):
        assert canonical.loads(out, pure=pure) == doc
    assert yaml.safe_load(out) == doc and yaml12(out) == doc
