"""Content-checked cache under $HARNESS_HOME for everything ``prepare`` builds.

An entry lives in ``$HARNESS_HOME/<kind>/<config hash>/`` and is complete only when its
``manifest.json`` lists every file with its size and sha256. Entries are built in a temporary
folder and renamed into place, so a killed build never leaves a half-written entry; an entry
whose files no longer match the manifest (truncated, edited) is rebuilt, never loaded.

Entries that take long to build may ship with the package, as copies of a cache entry under
``harness/embedded/pretrained/<kind>/<config hash>/`` (the same manifest, plus ``shipped.json``: the command that
built them and what the probes measured). A missing entry is then installed from the shipped copy, checked
against its manifest; ``force`` always rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from harness.atomic_io import write_json

MANIFEST = "manifest.json"
SHIPPED_INFO = "shipped.json"


def harness_home() -> Path:
    return Path(os.environ.get("HARNESS_HOME", Path.home() / ".cache" / "harness")).expanduser()


def config_hash(config: Any) -> str:
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


def verify(entry: Path) -> str | None:
    """None when the entry is complete and intact, else the reason it is not."""
    manifest = entry / MANIFEST
    if not manifest.exists():
        return "no manifest (incomplete build)"
    try:
        listed = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError) as e:
        return f"unreadable manifest ({e})"
    for rel, meta in listed.items():
        path = entry / rel
        if not path.exists():
            return f"missing file {rel}"
        if path.stat().st_size != meta["size"] or _sha256(path) != meta["sha256"]:
            return f"file {rel} does not match its manifest (truncated or changed)"
    return None


def shipped_root() -> Path:
    """Where shipped cache entries live: ``harness/embedded/pretrained`` (``HARNESS_SHIPPED_DIR`` overrides it)."""
    return Path(os.environ.get("HARNESS_SHIPPED_DIR", Path(__file__).parent / "embedded" / "pretrained"))


def shipped_entry(kind: str, key: str, log: Callable[[str], None] = print) -> Path | None:
    """The shipped copy of the cache entry (kind, key) if there is one and it is intact, else None."""
    entry = shipped_root() / kind / key
    if not (entry / MANIFEST).exists():
        return None
    problem = verify(entry)
    if problem is None and json.loads((entry / MANIFEST).read_text()).get("key") != key:
        problem = "its manifest names another key"
    if problem is not None:
        log(f"shipped {kind} {entry} is not usable ({problem}); building it instead")
        return None
    return entry


def _copy_of(src: Path) -> Callable[[Path], None]:
    """A build that copies the cache entry ``src`` (a shipped copy) and checks the copies against its manifest."""
    def build(tmp: Path) -> None:
        for p in _files(src) + [src / MANIFEST]:
            (tmp / p.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, tmp / p.relative_to(src))
        problem = verify(tmp)
        if problem is not None:
            raise OSError(f"copying the shipped entry {src} failed: {problem}")
    return build


def _is_builder() -> bool:
    """In a distributed run one process per node builds (LOCAL_RANK 0); the others wait for it.
    Other ranks must not build: libraries skip writes on non-main ranks (a half-empty entry)."""
    return os.environ.get("LOCAL_RANK", "0") == "0"


def _wait_for(entry: Path, timeout_s: float) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if entry.exists() and verify(entry) is None:
            return entry
        time.sleep(2.0)
    raise TimeoutError(f"waited {timeout_s:.0f} s for local rank 0 to build {entry}; set "
                       "HARNESS_CACHE_WAIT_S higher, or run `python -m harness prepare` before launching")


def entry_key(kind: str, config: Any) -> str:
    """The folder name of the cache entry (kind, config): the hash the cache and the shipped copies use."""
    return config_hash({"kind": kind, "config": config})


def cached_build(kind: str, config: Any, build: Callable[[Path], None], force: bool = False,
                 log: Callable[[str], None] = print) -> Path:
    """Return the cache folder for (kind, config), building it with ``build(tmp_dir)`` if needed (or, unless
    ``force``, installing the shipped copy of it)."""
    key = entry_key(kind, config)
    entry = harness_home() / kind / key
    if not _is_builder():
        return _wait_for(entry, float(os.environ.get("HARNESS_CACHE_WAIT_S", 7200)))
    if entry.exists() and not force:
        problem = verify(entry)
        if problem is None:
            return entry
        log(f"cache entry {entry} is invalid ({problem}); rebuilding")
    shipped = None if force else shipped_entry(kind, key, log)
    if shipped is not None:
        info = json.loads((shipped / SHIPPED_INFO).read_text()) if (shipped / SHIPPED_INFO).exists() else {}
        log(f"{kind} {key}: installing the shipped copy (built by `{info.get('command', '?')}`; "
            f"`prepare --force` rebuilds it)")
        build = _copy_of(shipped)
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{key}.building-"))
    try:
        build(tmp)
        files = {str(p.relative_to(tmp)): {"size": p.stat().st_size, "sha256": _sha256(p)} for p in _files(tmp)}
        write_json(tmp / MANIFEST, {"kind": kind, "key": key, "config": config, "files": files})
        if entry.exists() and (force or verify(entry) is not None):
            shutil.rmtree(entry, ignore_errors=True)
        try:
            os.replace(tmp, entry)
        except OSError:
            # Another process (a second rank) finished the same entry first: keep its copy.
            if verify(entry) is not None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return entry
