"""Docs are part of the feature: every command and option of the CLI is described in docs/cli.md."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from replay.cli import build_parser

DOCS = Path(__file__).parent.parent / "docs"
COMMON = {"--server", "--api-key", "--timeout", "--json", "--quiet", "--verbose", "--help"}


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def _section(name: str) -> str:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/cli.md has no '## {name}' section"
    return match.group(1)


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_command_has_a_section_with_an_example(name):
    section = _section(name)
    assert "```console" in section and f"comfy-replay {name}" in section


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_option_of_a_command_is_in_its_section(name):
    section = _section(name)
    for action in _subcommands()[name]._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and not set(longs) & COMMON:
            assert any(o in section for o in action.option_strings), f"{name}: {longs} not in docs/cli.md"


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_help_of_a_command_mentions_an_example(name):
    assert "comfy-replay" in (_subcommands()[name].description or "")


def test_every_doc_file_named_in_the_readme_exists():
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    for link in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)", readme):
        assert (DOCS.parent / link).exists(), link
