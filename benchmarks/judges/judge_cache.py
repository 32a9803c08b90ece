"""Append-only JSONL cache of judge replies, so re-scoring the same images with the same judge,
prompt and decoding costs nothing and gives the identical judgement.

Key = sha256 over (protocol version, prompt text, image hashes, judge id, decoding parameters).
Image hashes cover the exact tensor bytes (dtype, shape, values): a float image and its uint8
quantisation are different inputs. Sampling (temperature > 0) bypasses the cache entirely.

Each entry is one JSON line written with a single write + flush + fsync, so a killed run leaves at
most a torn last line; loading skips lines that are not valid JSON (and counts them) instead of
failing. The first entry for a key wins, so a lookup never changes once answered.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from harness.atomic_io import atomic_write_bytes

from .text_judge import Decoding, TextJudge

CACHE_FORMAT = "judge-cache-1"


def image_hash(img: torch.Tensor) -> str:
    """sha256 of dtype, shape and the raw bytes of the tensor (as stored, no conversion)."""
    t = img.detach().to("cpu").contiguous()
    h = hashlib.sha256(f"{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def cache_key(protocol_version: str, prompt: str, image_hashes: Sequence[str], judge_id: str,
              decoding: Decoding | dict, attempt: int = 0) -> str:
    dec = decoding.to_dict() if isinstance(decoding, Decoding) else dict(decoding)
    blob = json.dumps({"format": CACHE_FORMAT, "protocol_version": protocol_version, "prompt": prompt,
                       "images": list(image_hashes), "judge_id": judge_id, "decoding": dec,
                       "attempt": attempt}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgeCache:
    """`JudgeCache(path)`; `generate(...)` answers from the file or asks the judge and appends."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.entries: dict[str, dict] = {}
        self.skipped_lines: list[int] = []  # 1-based line numbers that were not valid entries
        self.hits = self.misses = self.bypassed = 0
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                    key, reply = row["key"], row["reply"]
                    if not isinstance(reply, str):
                        raise TypeError
                except (ValueError, KeyError, TypeError):
                    self.skipped_lines.append(lineno)  # torn line of a killed run, or foreign text
                    continue
                self.entries.setdefault(key, row)
        if self.skipped_lines:
            warnings.warn(f"judge cache {self.path}: skipped unreadable line(s) {self.skipped_lines[:10]}"
                          f"{' ...' if len(self.skipped_lines) > 10 else ''} (a killed run leaves a torn last line)",
                          stacklevel=3)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, reply: str, meta: dict | None = None) -> dict:
        """Record a reply (no-op when the key is already known: the first answer stays)."""
        if key in self.entries:
            return self.entries[key]
        row = {"key": key, "reply": reply, "time": time.time(), **(meta or {})}
        line = (json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size and not self._ends_with_newline():
                line = b"\n" + line  # close a torn line of a killed run so ours stays whole
            os.write(fd, line)  # one write: the line is whole or (if killed mid-write) torn at the end
            os.fsync(fd)
        finally:
            os.close(fd)
        self.entries[key] = row
        return row

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def compact(self) -> Path:
        """Rewrite the file atomically with only the valid entries (drops torn lines)."""
        data = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in self.entries.values())
        self.skipped_lines = []
        return atomic_write_bytes(self.path, data.encode("utf-8"))

    def generate(self, judge: TextJudge, images: list[torch.Tensor], prompt: str, decoding: Decoding,
                 protocol_version: str, attempt: int = 0) -> tuple[str, bool]:
        """(reply, from_cache). Sampling never reads nor writes the cache."""
        return cached_generate(judge, images, prompt, decoding, protocol_version, attempt, cache=self)


def cached_generate(judge: TextJudge, images: list[torch.Tensor], prompt: str, decoding: Decoding,
                    protocol_version: str, attempt: int = 0, cache: JudgeCache | None = None,
                    call: Callable[[], str] | None = None) -> tuple[str, bool]:
    """Ask `judge` (or `call`) through `cache` when given and decoding is greedy: (reply, from_cache)."""
    ask = call or (lambda: judge.generate_with(images, prompt, decoding, attempt))
    if cache is None or decoding.sampling:
        if cache is not None:
            cache.bypassed += 1
        return ask(), False
    key = cache_key(protocol_version, prompt, [image_hash(i) for i in images], judge.judge_id, decoding, attempt)
    hit = cache.get(key)
    if hit is not None:
        cache.hits += 1
        return hit["reply"], True
    cache.misses += 1
    reply = ask()
    if not isinstance(reply, str):
        raise TypeError(f"judge {judge.judge_id!r} returned {type(reply).__name__}, expected str")
    cache.put(key, reply, {"judge_id": judge.judge_id, "protocol_version": protocol_version,
                           "decoding": decoding.to_dict(), "attempt": attempt})
    return reply, False
