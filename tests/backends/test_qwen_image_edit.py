"""Generator family qwen_image_edit against diffusers' own QwenImageEdit(Plus)Pipeline on tiny random checkpoints.

The pipeline resizes the reference to ~1 MP (Plus: the condition image to a 384^2 area); the harness sizes
images itself, so these comparisons pin the pipeline's ``calculate_dimensions`` to the input size (112 px:
a multiple of 16 for the VAE packing and of 28 for the VL processor, so no resize happens anywhere)."""

from unittest import mock

import pytest
import torch

from harness.models.samplers import euler_sample
from tests.backends.conftest import qwen_edit_family, qwen_edit_pipeline

PROMPTS = ["make the cat red", "turn the dog blue"]
SIZE = 112


@pytest.fixture(scope="module")
def family(qwen_edit_dir):
    return qwen_edit_family(qwen_edit_dir)


@pytest.fixture(scope="module")
def pipe(qwen_edit_dir):
    return qwen_edit_pipeline(qwen_edit_dir)


def _sources(b, seed):
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    src8 = torch.randint(0, 256, (b, 3, SIZE, SIZE), dtype=torch.uint8, generator=g)
    return src8.float() / 255, [Image.fromarray(x.permute(1, 2, 0).numpy()) for x in src8]


def _pipeline_latents(pipe, pil, noise, steps, prompts=PROMPTS):
    """The pipeline's own loop (output_type='latent', no true CFG), unpacked to [B, 16, h, w]."""
    from diffusers.pipelines.qwenimage import (
        pipeline_qwenimage_edit,
        pipeline_qwenimage_edit_plus,
    )

    b, c, h, w = noise.shape
    module = pipeline_qwenimage_edit_plus if type(pipe).__name__.endswith("PlusPipeline") else pipeline_qwenimage_edit
    same = (lambda area, ratio: (SIZE, SIZE, None)) if module is pipeline_qwenimage_edit else (lambda a, r: (SIZE, SIZE))
    with mock.patch.object(module, "calculate_dimensions", same), torch.no_grad():
        out = pipe(image=pil if b > 1 else pil[0], prompt=prompts[:b], height=SIZE, width=SIZE,
                   num_inference_steps=steps, true_cfg_scale=1.0, output_type="latent",
                   latents=type(pipe)._pack_latents(noise, b, c, h, w)).images
    return type(pipe)._unpack_latents(out, SIZE, SIZE, pipe.vae_scale_factor)[:, :, 0]


def _perturb(family, adapter, scale=0.5, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in family.transformer.named_parameters():
            if f"lora_B.{adapter}." in n:
                p.copy_(torch.randn(p.shape, generator=g) * scale)


def test_prompt_encoding_and_velocity_equal_the_pipeline(family, qwen_edit_dir):
    pipe = qwen_edit_pipeline(qwen_edit_dir, shift_terminal=False)  # one step at sigma = 1: the velocity itself
    from harness.models.qwen_prompt import DROP_IDX, TEMPLATES

    assert pipe.prompt_template_encode == TEMPLATES["edit"]
    assert pipe.prompt_template_encode_start_idx == DROP_IDX["edit"]
    gen = family.initial_editor()
    _perturb(family, "gen")
    src, pil = _sources(2, 0)
    ref = gen.encode_image(src)
    noise = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        embeds, mask = gen.encode_text(PROMPTS, ref=ref)  # the VL encoder saw the source
        theirs, their_mask = pipe.encode_prompt(PROMPTS, image=pil, device="cpu")
        v = family.reference(gen).velocity(noise, 1.0, PROMPTS, ref=ref)  # adapters off = the plain pipeline
        v_gen = gen.velocity(noise, 1.0, PROMPTS, ref=ref)
        one = _pipeline_latents(pipe, pil, noise, 1)  # x_0 = noise + (0 - 1) v at sigma = 1
        other = gen.encode_text(PROMPTS, ref=gen.encode_image(src.flip(-1)))[0]
    torch.testing.assert_close(embeds, theirs, atol=1e-5, rtol=1e-5)
    assert torch.equal(mask, their_mask)
    assert (other - embeds).abs().max() > 1e-4  # the prompt conditioning depends on the source image
    torch.testing.assert_close(v, noise - one, atol=1e-5, rtol=1e-5)
    assert (v_gen - v).abs().max() > 1e-3
    assert gen.encode_text(PROMPTS) == PROMPTS  # no reference yet: velocity encodes once it has one
    with pytest.raises(ValueError, match="carry the source pixels"):
        gen.velocity(noise, 1.0, PROMPTS, ref=ref.clone())


def test_euler_edit_equals_pipeline_output(family, pipe):
    gen = family.reference(family.initial_editor())
    src, pil = _sources(2, 2)
    ref = gen.encode_image(src)
    noise = torch.randn(ref.shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = euler_sample(gen, PROMPTS, 3, noise, ref=ref, sigmas=gen.sigmas(3, ref.shape))
        theirs = _pipeline_latents(pipe, pil, noise, 3)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_teacher_is_base_with_adapters_off_and_aux_starts_equal(family):
    gen, aux = family.initial_editor(), family.auxiliary()
    teacher = family.teacher()
    _perturb(family, "gen")
    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        v_teacher = teacher.velocity(x, 0.6, PROMPTS)
        v_aux = aux.velocity(x, 0.6, PROMPTS)
        v_gen_t2i = gen.velocity(x, 0.6, PROMPTS)
        family.transformer.disable_adapters()
        v_base = gen._velocity(x, torch.tensor(0.6), PROMPTS, None)
        family.transformer.enable_adapters()
    assert torch.equal(v_teacher, v_base) and torch.equal(v_aux, v_teacher)
    assert (v_gen_t2i - v_teacher).abs().max() > 1e-3
    with pytest.raises(ValueError, match="text-to-image"):
        teacher.velocity(x, 0.6, PROMPTS, ref=x)


def test_gradients_reach_only_the_trained_adapter(family):
    from harness.editor import trainable

    gen, aux = trainable(family.initial_editor()), trainable(family.auxiliary())
    teacher = family.teacher()
    names = {id(p): n for n, p in family.transformer.named_parameters()}
    src, _ = _sources(2, 5)
    ref = gen.encode_image(src[..., :64, :64])
    x = gen.velocity(torch.randn_like(ref), 1.0, PROMPTS, ref=ref)
    with torch.no_grad():
        teacher.velocity(x, 0.5, PROMPTS)
        aux.velocity(x, 0.5, PROMPTS)
    gen.activate()
    gen.decode(x).mean().backward()
    got = {names[id(p)] for p in family.transformer.parameters() if p.grad is not None}
    assert got and all(".gen." in n for n in got)
    assert all(p.grad is None for p in aux.trainable_parameters())
    for p in gen.trainable_parameters():
        p.grad = None
    aux.activate()
    aux.velocity(x.detach(), 0.5, PROMPTS).pow(2).mean().backward()
    got = {names[id(p)] for p in family.transformer.parameters() if p.grad is not None}
    assert got and all(".aux." in n for n in got)
    assert all(not p.requires_grad for n, p in family.transformer.named_parameters() if "lora" not in n)


def test_exported_lora_loads_into_the_pipeline_and_matches(family, tmp_path, qwen_edit_dir):
    gen = family.initial_editor()
    _perturb(family, "gen", scale=0.3, seed=7)
    gen.save_pretrained(tmp_path / "lora")
    pipe = qwen_edit_pipeline(qwen_edit_dir)
    src, pil = _sources(1, 6)
    noise = torch.randn(1, 16, 14, 14, generator=torch.Generator().manual_seed(8))
    plain = _pipeline_latents(pipe, pil, noise, 2)
    pipe.load_lora_weights(str(tmp_path / "lora"))
    with_lora = _pipeline_latents(pipe, pil, noise, 2)
    assert (with_lora - plain).abs().max() > 1e-3
    with torch.no_grad():
        ref = gen.encode_image(src)
        ours = euler_sample(gen, PROMPTS[:1], 2, noise, ref=ref, sigmas=gen.sigmas(2, ref.shape))
    torch.testing.assert_close(with_lora, ours, atol=1e-4, rtol=1e-4)
    loaded = family.load_editor(tmp_path / "lora")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in gen.state_dict().items())


def test_2511_zero_cond_t_survives_and_matches_the_plus_pipeline(tmp_path, monkeypatch):
    from benchmarks.tiny_checkpoints import build_tiny_qwen_image_edit
    from harness.models import qwen_prompt

    root = build_tiny_qwen_image_edit(tmp_path / "q2511", variant="2511", seed=1)
    family = qwen_edit_family(root)
    assert family.variant == "plus" and family.transformer.config.zero_cond_t
    pipe = qwen_edit_pipeline(root, shift_terminal=False)  # one step at sigma = 1 below
    assert type(pipe).__name__ == "QwenImageEditPlusPipeline"
    assert qwen_prompt.TEMPLATES["plus"] == pipe.prompt_template_encode.format("Picture 1: " + qwen_prompt.VISION + "{}")
    monkeypatch.setattr(qwen_prompt, "condition_size", lambda h, w, variant: (h, w))  # pinned like the pipeline's
    gen = family.reference(family.initial_editor())
    src, pil = _sources(1, 9)
    ref = gen.encode_image(src)
    noise = torch.randn(ref.shape, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        v = gen.velocity(noise, 1.0, PROMPTS[:1], ref=ref)
        one = _pipeline_latents(pipe, pil, noise, 1)
    torch.testing.assert_close(v, noise - one, atol=1e-5, rtol=1e-5)


def test_bad_paths_are_refused_by_name(tmp_path, kontext_dir):
    from harness.models.qwen_image_edit import QwenImageEditGenerator
    from harness.run_sections import GeneratorConfig

    with pytest.raises(FileNotFoundError, match="generator.path=.*model_index.json"):
        QwenImageEditGenerator(GeneratorConfig(name="qwen_image_edit", path=str(tmp_path)))
    with pytest.raises(ValueError, match="names 'FluxKontextPipeline'"):
        QwenImageEditGenerator(GeneratorConfig(name="qwen_image_edit", path=str(kontext_dir)))
