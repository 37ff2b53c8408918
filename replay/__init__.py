"""comfy-replay: make ComfyUI jobs reproducible (fetch, archive, diff, rebuild)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
