"""Open a benchmark's Hugging Face dataset from a local folder, never from the network by default.

Accepted folders: a ``save_to_disk`` folder (``dataset_dict.json`` or ``state.json``); a folder of
parquet/arrow files (e.g. a hub snapshot); or a hub-cache repo folder
(``.../datasets--org--name`` holding ``snapshots/<sha>/``, resolved through ``refs/main``).
A hub id is fetched only when the caller passes ``allow_download=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.suite import BenchmarkError

DATA_SUFFIXES = (".parquet", ".arrow")


def snapshot_folder(path: Path, key: str) -> Path:
    """A hub-cache repo folder -> the snapshot it points at; any other folder is returned as is."""
    snaps = path / "snapshots"
    if not snaps.is_dir():
        return path
    ref = path / "refs" / "main"
    if ref.is_file() and (snaps / ref.read_text().strip()).is_dir():
        return snaps / ref.read_text().strip()
    found = sorted(p.name for p in snaps.iterdir() if p.is_dir())
    if len(found) == 1:
        return snaps / found[0]
    raise BenchmarkError(f"{key}={path}: a hub-cache folder with {len(found)} snapshots ({', '.join(found) or 'none'}) "
                         f"and no refs/main; point {key} at one snapshot folder")


def _pick_split(data: Any, split: str, key: str, where: Path | str) -> Any:
    import datasets

    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise BenchmarkError(f"{key}={where}: no split '{split}'; the dataset has: {', '.join(data)}")
        return data[split]
    return data


def open_local_dataset(path: str, split: str, key: str, allow_download: bool, cache_dir: Path) -> Any:
    """The ``datasets.Dataset`` at ``path`` (split ``split``); errors name ``key`` and the folder."""
    import datasets

    folder = Path(path).expanduser()
    if not folder.exists():
        if not allow_download:
            raise BenchmarkError(f"{key}={path} does not exist; give a local folder (downloading is off: "
                                 f"set {key.rsplit('.', 1)[0]}.allow_download=true to fetch a hub id)")
        try:  # the user asked for it explicitly: a hub id
            return _pick_split(datasets.load_dataset(path, split=split, cache_dir=str(cache_dir)), split, key, path)
        except Exception as e:
            raise BenchmarkError(f"{key}={path}: download failed ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not folder.is_dir():
        raise BenchmarkError(f"{key}={path} is a file; give the dataset folder")
    folder = snapshot_folder(folder, key)
    try:
        if (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file():
            return _pick_split(datasets.load_from_disk(str(folder)), split, key, folder)
        if not any(p.suffix in DATA_SUFFIXES for p in folder.rglob("*") if p.is_file()):
            raise BenchmarkError(
                f"{key}={folder}: no dataset found; expected a save_to_disk folder (dataset_dict.json or "
                f"state.json) or parquet/arrow files (a hub snapshot)")
        return datasets.load_dataset(str(folder), split=split, cache_dir=str(cache_dir))
    except BenchmarkError:
        raise
    except Exception as e:  # datasets raises many types for a malformed folder; name the folder
        first = str(e).splitlines()[0] if str(e) else ""
        raise BenchmarkError(f"{key}={folder}: not a readable dataset ({type(e).__name__}: {first})") from None


def undecoded(ds: Any, columns: tuple[str, ...]) -> Any:
    """The same dataset with its Image columns left as bytes: a corrupt image is then one sample's
    problem (skip and count), not an exception from deep inside ``datasets``."""
    import datasets

    for col in columns:
        if isinstance(ds.features.get(col), datasets.Image):
            ds = ds.cast_column(col, datasets.Image(decode=False))
    return ds


def image_bytes(value: Any, what: str) -> bytes:
    """Encoded bytes from an undecoded Image value ({"bytes", "path"}), raw bytes, or a PIL image."""
    from benchmarks.images import ImageDecodeError, png_from_pil

    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"]
        if value.get("path") and Path(value["path"]).is_file():
            return Path(value["path"]).read_bytes()
        raise ImageDecodeError(f"{what}: no image bytes and no readable path ({value.get('path')!r})")
    if hasattr(value, "save"):  # a PIL image (a dataset whose column is not an Image feature)
        return png_from_pil(value)
    raise ImageDecodeError(f"{what}: not an image (got {type(value).__name__})")
