"""Generator family flux_kontext against diffusers' own FluxKontextPipeline on a tiny random checkpoint."""

import pytest
import torch

from harness.models.samplers import euler_sample
from tests.backends.conftest import kontext_family

PROMPTS = ["make the cat red", "turn the dog blue"]


@pytest.fixture(scope="module")
def family(kontext_dir):
    return kontext_family(kontext_dir)


def _pipeline_latents(family, src, noise, steps, guidance=None):
    """The pipeline's own loop (output_type='latent'), unpacked to [B, 16, h, w]."""
    pipe = family.pipe
    b, c, h, w = noise.shape
    out = pipe(image=src, prompt=PROMPTS[:b], height=src.shape[-2], width=src.shape[-1],
               max_area=src.shape[-2] * src.shape[-1], _auto_resize=False, num_inference_steps=steps,
               guidance_scale=family.guidance if guidance is None else guidance,
               latents=pipe._pack_latents(noise, b, c, h, w), output_type="latent", max_sequence_length=128).images
    return pipe._unpack_latents(out, src.shape[-2], src.shape[-1], pipe.vae_scale_factor)


def _perturb(family, adapter, scale=0.5, seed=1):
    """Give an adapter non-zero B weights (a trained adapter), so it changes the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in family.pipe.transformer.named_parameters():
            if f"lora_B.{adapter}." in n:
                p.copy_(torch.randn(p.shape, generator=g) * scale)


def test_velocity_equals_the_pipeline_step(family):
    gen = family.initial_editor()
    _perturb(family, "gen")  # the gen adapter is on in the harness, off (absent) in the plain pipeline
    torch.manual_seed(0)
    src = torch.rand(2, 3, 64, 64)
    ref = gen.encode_image(src)
    noise = torch.randn_like(ref)
    with torch.no_grad():
        teacher_ref = family.reference(gen)  # adapters disabled, reference tokens in = the plain pipeline
        v = teacher_ref.velocity(noise, 1.0, PROMPTS, ref=ref)
        one = _pipeline_latents(family, src, noise, 1)  # x_0 = noise + (0 - 1) v at sigma = 1
        v_gen = gen.velocity(noise, 1.0, PROMPTS, ref=ref)
    torch.testing.assert_close(v, noise - one, atol=1e-5, rtol=1e-5)
    assert (v_gen - v).abs().max() > 1e-3  # the adapter is really applied when gen is active


def test_euler_edit_equals_pipeline_output(family):
    gen = family.reference(family.initial_editor())
    torch.manual_seed(1)
    src = torch.rand(2, 3, 64, 64)
    ref = gen.encode_image(src)
    noise = torch.randn_like(ref)
    with torch.no_grad():
        ours = euler_sample(gen, PROMPTS, 4, noise, ref=ref, sigmas=gen.sigmas(4, ref.shape))
        theirs = _pipeline_latents(family, src, noise, 4)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    s = 2.718281828 ** 0.4594  # exp(mu) at 16 tokens (ref §1.3), in the SD3 form s t / (1 + (s - 1) t)
    assert float(gen.sigmas(4, ref.shape)[1]) == pytest.approx(s * 0.75 / (1 + (s - 1) * 0.75), rel=1e-3)


def test_teacher_is_base_with_adapters_off_and_aux_starts_equal(family):
    gen, aux = family.initial_editor(), family.auxiliary()
    teacher = family.teacher()
    _perturb(family, "gen")
    torch.manual_seed(2)
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        v_teacher = teacher.velocity(x, 0.6, PROMPTS)
        v_aux = aux.velocity(x, 0.6, PROMPTS)  # fresh aux: B = 0
        v_gen_t2i = gen.velocity(x, 0.6, PROMPTS)  # trained gen without a reference
        family.pipe.transformer.disable_adapters()
        v_base = gen._velocity(x, torch.tensor(0.6), PROMPTS, None)  # the bare base, no harness switching
        family.pipe.transformer.enable_adapters()
    assert torch.equal(v_teacher, v_base)
    assert torch.equal(v_aux, v_teacher)  # DMD gradient (x0_fake - x0_real) is exactly 0 at step 0
    assert (v_gen_t2i - v_teacher).abs().max() > 1e-3
    with pytest.raises(ValueError, match="text-to-image"):
        teacher.velocity(x, 0.6, PROMPTS, ref=x)


def test_gradients_reach_only_the_trained_adapter(family):
    from harness.editor import trainable

    gen, aux = trainable(family.initial_editor()), trainable(family.auxiliary())
    teacher = family.teacher()
    names = {id(p): n for n, p in family.pipe.transformer.named_parameters()}
    torch.manual_seed(3)
    src = torch.rand(2, 3, 64, 64)
    ref = gen.encode_image(src)
    x = gen.velocity(torch.randn_like(ref), 1.0, PROMPTS, ref=ref)
    with torch.no_grad():  # a teacher and an aux forward between forward and backward (as NP-Edit's DMD does)
        teacher.velocity(x, 0.5, PROMPTS)
        aux.velocity(x, 0.5, PROMPTS)
    gen.activate()
    gen.decode(x).mean().backward()
    got = {names[id(p)] for p in family.pipe.transformer.parameters() if p.grad is not None}
    assert got and all(".gen." in n for n in got)
    assert {names[id(p)] for p in gen.trainable_parameters()} == {n for n in names.values() if ".gen." in n}
    assert all(p.grad is None for p in aux.trainable_parameters())
    for p in gen.trainable_parameters():
        p.grad = None
    aux.activate()
    aux.velocity(x.detach(), 0.5, PROMPTS).pow(2).mean().backward()
    got = {names[id(p)] for p in family.pipe.transformer.parameters() if p.grad is not None}
    assert got and all(".aux." in n for n in got)
    assert all(not p.requires_grad for n, p in family.pipe.transformer.named_parameters() if "lora" not in n)


def test_checkpoints_hold_only_the_adapter(family):
    gen = family.initial_editor()
    state = gen.state_dict()
    assert state and all(".gen." in k for k in state)
    _perturb(family, "gen", seed=5)
    before = {k: v.clone() for k, v in gen.state_dict().items()}
    _perturb(family, "gen", seed=6)
    gen.load_state_dict(before)
    assert all(torch.equal(gen.state_dict()[k], v) for k, v in before.items())
    with pytest.raises(RuntimeError, match="do not match"):
        gen.load_state_dict({"transformer.nope": torch.zeros(1)})


def test_exported_lora_loads_into_the_pipeline_and_matches(family, tmp_path, kontext_dir):
    from diffusers import FluxKontextPipeline

    gen = family.initial_editor()
    _perturb(family, "gen", scale=0.3, seed=7)
    gen.save_pretrained(tmp_path / "lora")
    pipe = FluxKontextPipeline.from_pretrained(str(kontext_dir))
    pipe.set_progress_bar_config(disable=True)
    torch.manual_seed(4)
    src = torch.rand(1, 3, 64, 64)
    noise = torch.randn(1, 16, 8, 8)
    kw = dict(image=src, prompt=PROMPTS[:1], height=64, width=64, max_area=64 * 64, _auto_resize=False,
              num_inference_steps=3, guidance_scale=family.guidance, output_type="latent", max_sequence_length=128,
              latents=pipe._pack_latents(noise, 1, 16, 8, 8))
    plain = pipe(**kw).images
    pipe.load_lora_weights(str(tmp_path / "lora"))
    with_lora = pipe(**kw).images
    assert (with_lora - plain).abs().max() > 1e-3
    with torch.no_grad():
        ref = gen.encode_image(src)
        ours = euler_sample(gen, PROMPTS[:1], 3, noise, ref=ref, sigmas=gen.sigmas(3, ref.shape))
    torch.testing.assert_close(pipe._unpack_latents(with_lora, 64, 64, 8), ours, atol=1e-4, rtol=1e-4)
    # init_from chains read the export back into a fresh gen adapter
    loaded = family.load_editor(tmp_path / "lora")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in gen.state_dict().items())


def test_bad_path_is_refused_by_name(tmp_path):
    from harness.models.flux_kontext import FluxKontextGenerator
    from harness.run_sections import GeneratorConfig

    with pytest.raises(FileNotFoundError, match="generator.path=.*model_index.json"):
        FluxKontextGenerator(GeneratorConfig(name="flux_kontext", path=str(tmp_path)))
