"""Where a dataset lives: a local directory (the default, `tierlens.store.layout`) or a Delta Lake
table on object storage (`s3://bucket/prefix`, `gs://...`, `abfs://...`; `tierlens.store.delta`).

An object-store location is configured the standard way: the provider's credential chain
(`AWS_ACCESS_KEY_ID`/`AWS_PROFILE`/instance roles, `GOOGLE_APPLICATION_CREDENTIALS`,
`AZURE_STORAGE_*`) and, for an S3-compatible service, `AWS_ENDPOINT_URL`.
"""

from __future__ import annotations

import os
from pathlib import Path

REMOTE_SCHEMES = ("s3", "s3a", "gs", "gcs", "abfs", "abfss", "az")
"""The URL schemes of object storage a dataset can live on."""


def is_remote(where: str | Path | None) -> bool:
    """Whether `where` names a dataset on object storage (a URL of `REMOTE_SCHEMES`)."""
    if not isinstance(where, str) or "://" not in where:
        return False
    return where.split("://", 1)[0].lower() in REMOTE_SCHEMES


def location(value: str | Path) -> str | Path:
    """A dataset location as given: an object-store URL stays a string (a `Path` would fold its
    `//`), without a trailing slash; anything else is a local `Path`."""
    if isinstance(value, str) and is_remote(value):
        return value.rstrip("/")
    return Path(value)


def storage_options(url: str) -> dict[str, str]:
    """What the object-store client needs beyond its own reading of the environment: a plain-HTTP
    `AWS_ENDPOINT_URL` (a local S3-compatible service) has to be allowed explicitly."""
    options: dict[str, str] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if url.startswith(("s3://", "s3a://")) and endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    return options


def require_local(where: str | Path, what: str) -> None:
    """Raise `StoreError` when `where` is on object storage, which keeps the requests only (the
    quality judgments and trials live in a local dataset)."""
    if is_remote(where):
        from tierlens.errors import StoreError

        raise StoreError(f"{what} are kept in a local dataset only; {where} is on object storage")


def local_home(where: str | Path) -> Path:
    """Where the local files of a dataset go (the alerts' state, a file sink's relative path): the
    dataset's own directory, or, for one on object storage, a directory of this machine's state
    (`$XDG_STATE_HOME/tierlens/<scheme>/<bucket>/<prefix>`, by default under ~/.local/state)."""
    if not is_remote(where):
        return Path(where)
    scheme, rest = str(where).split("://", 1)
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "tierlens" / scheme / rest.strip("/")
