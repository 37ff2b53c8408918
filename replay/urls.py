"""Server addresses: the default server, the origin recorded in recipes, and URL forms safe to show.

Pure string work with no HTTP, so that storage (`replay.recipe`) can record where a job came from without
depending on the client.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from replay.errors import InputError

CLOUD_SERVER = "https://cloud.comfy.org"
LOCAL_SERVER = "http://127.0.0.1:8188"


def default_server(api_key: str | None) -> str:
    """Return Comfy Cloud when an API key is set, else the local ComfyUI address."""
    return CLOUD_SERVER if api_key else LOCAL_SERVER


def server_origin(url: str) -> str:
    """Return `scheme://host[:port]` of a server URL: no credentials, path, query or fragment."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"server address {origin_for_message(url)!s} is not an http(s) URL like http://127.0.0.1:8188")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def origin_for_message(url: str) -> str:
    """A form of a URL safe to show: credentials and query removed even when the URL is malformed."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else url.split("?", 1)[0].rsplit("@", 1)[-1]
    except ValueError:
        return "<unparsable URL>"


__all__ = ["CLOUD_SERVER", "LOCAL_SERVER", "default_server", "origin_for_message", "server_origin"]
