"""Commands for keeping recipes in git: git-setup, textconv."""

from __future__ import annotations

import argparse

from replay.cli._base import (
    EXIT_OK,
    Context,
    arguments,
    command,
)


def _git_setup_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pattern", metavar="GLOB", default="recipes/**/*.yaml",
                   help="which files get the diff driver, as a .gitattributes pattern (default recipes/**/*.yaml)")


@command("git-setup", "make git diff and git log -p of recipes show node inputs, not YAML",
         "Inside a git repository: add '<pattern> diff=comfy-replay' to the top-level .gitattributes (once) and\n"
         "set diff.comfy-replay.textconv to 'comfy-replay textconv' in the repository's config.\n"
         "Example: cd my-workflows && comfy-replay git-setup --pattern 'recipes/**/*.yaml'")
@arguments(_git_setup_args)
def cmd_git_setup(ctx: Context) -> int:
    from replay.gitdiff import git_setup  # noqa: PLC0415

    done = git_setup(ctx.args.pattern)
    if ctx.as_json:
        ctx.emit_json(done.to_json())
        return EXIT_OK
    verb = "added" if done.line_added else "already present"
    ctx.print(f"{done.gitattributes}: {verb}: {done.line}")
    verb = "set" if done.config_changed else "already set"
    ctx.print(f"git config diff.comfy-replay.textconv: {verb}: {done.textconv}")
    return EXIT_OK


def _textconv_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a recipe, or a job/history/prompt/UI JSON file, or -")


@command("textconv", "print a recipe as stable lines for line diffs (git's textconv)",
         "Print one line per prompt node input ('node 3 KSampler seed: 42', links as node[slot]), prompts as\n"
         "text blocks, the UI graph's widget values, links and modes without layout. git-setup makes git use it.\n"
         "Example: comfy-replay textconv recipes/f7838b83-aab4-48ed-96a5-1e0cb6760bc6.yaml")
@arguments(_textconv_args)
def cmd_textconv(ctx: Context) -> int:
    from replay.gitdiff import textconv  # noqa: PLC0415
    from replay.terminal import printable  # noqa: PLC0415

    ctx.check_references(ctx.args.file, job_ids=False)
    ctx.stdout.write(printable(textconv(ctx.args.file, stdin=ctx.stdin)))  # git shows it in a terminal
    return EXIT_OK


