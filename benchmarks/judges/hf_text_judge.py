"""TextJudge adapter for local Hugging Face VLMs that generate: scorer ``hf`` (LLaVA, Qwen2-VL) and the
judges ``qwen2_5_vl``, ``llava_onevision``, ``internvl``. The prompt goes through the scorer's own chat layout
and preprocessing (``Scorer.generation_inputs``), so the text judge sees what the Yes/No scorer sees; the
model is the scorer's (no second copy, no downloads, the checkpoint's own tokenizer)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from harness.scorers.scorer import HFVLMScorer, Scorer

from .text_judge import TextJudge

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")
_CHUNK = 1 << 20


def _file_fingerprint(path: Path, h) -> None:
    """Name, size, first and last MiB: tells checkpoints apart without reading 100 GB."""
    size = path.stat().st_size
    h.update(f"{path.name}|{size}|".encode())
    with open(path, "rb") as f:
        h.update(f.read(_CHUNK))
        if size > _CHUNK:
            f.seek(max(size - _CHUNK, _CHUNK))
            h.update(f.read(_CHUNK))


def hf_judge_id(scorer: Scorer, name: str = "hf") -> str:
    """`<scorer name>:<folder name>:<model_type>:<fingerprint>`; an in-memory model hashes its parameters.
    The scorer name is part of it: ``hf`` and ``qwen2_5_vl`` wrap one checkpoint in different chat layouts."""
    h = hashlib.sha256()
    path = Path(str(scorer.path))
    if path.is_dir():
        for f in sorted(path.iterdir()):
            if f.name == "config.json" or f.name == "generation_config.json":
                h.update(f.read_bytes())
            elif f.suffix in _WEIGHT_SUFFIXES:
                _file_fingerprint(f, h)
        folder = path.name
    else:
        for k, v in scorer.model.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        folder = "in-memory"
    return f"{name}:{folder}:{scorer.model.config.model_type}:{h.hexdigest()[:16]}"


class HFTextJudge(TextJudge):
    """`HFTextJudge(path_or_scorer, name=scorer name)`. One sample per call (no padding, so no batch effects)."""

    deterministic = True  # greedy decoding of a local model repeats itself

    def __init__(self, scorer: Scorer | str | Path, device: str = "cpu", judge_id: str | None = None,
                 trust_remote_code: bool = False, name: str = "hf"):
        if not isinstance(scorer, Scorer):
            scorer = HFVLMScorer(str(scorer), device=device, trust_remote_code=trust_remote_code)
        if not hasattr(scorer, "model") or not hasattr(scorer, "model_inputs"):
            raise TypeError(f"scorer {name!r} ({type(scorer).__name__}) has no local model to generate text with")
        self.scorer = scorer
        self.judge_id = judge_id or hf_judge_id(scorer, name)

    @torch.no_grad()
    def generate(self, images: list[torch.Tensor], prompt: str, temperature: float, max_new_tokens: int,
                 seed: int | None) -> str:
        if not images:
            raise ValueError("HFTextJudge needs at least one image")
        sizes = {tuple(i.shape) for i in images}
        if len(sizes) != 1:
            raise ValueError(f"images must share one size for this judge, got {sorted(sizes)}; "
                             "resize them first (the protocols resize the edit to the source size)")
        sc = self.scorer
        inputs = sc.generation_inputs(images, prompt)
        n_prompt = inputs["input_ids"].shape[1]
        kw = {"max_new_tokens": int(max_new_tokens), "do_sample": temperature > 0}
        pad = sc.tokenizer.pad_token_id if sc.tokenizer.pad_token_id is not None else sc.tokenizer.eos_token_id
        if pad is not None:
            kw["pad_token_id"] = pad
        if temperature > 0:
            kw["temperature"] = float(temperature)
        else:  # greedy: drop sampling knobs a checkpoint's generation_config may carry (avoids warnings)
            kw.update(temperature=None, top_p=None, top_k=None)
        with torch.random.fork_rng(devices=[]):  # seed the sampling without touching the caller's RNG
            if seed is not None:
                torch.manual_seed(int(seed))
            out = sc.model.generate(**inputs, **kw)
        return sc.tokenizer.decode(out[0, n_prompt:], skip_special_tokens=True)
