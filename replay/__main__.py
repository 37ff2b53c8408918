"""Run the command-line tool as ``python -m replay``."""

from replay.cli import main

if __name__ == "__main__":  # also keeps helper processes (archive) from running the CLI again
    raise SystemExit(main())
