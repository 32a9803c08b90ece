"""The embedded judge's model: a standard `LlavaForConditionalGeneration` (CLIP vision tower + Llama) with a
word-level tokenizer and a `LlavaProcessor`, saved with `save_pretrained` and loaded like any checkpoint."""
from __future__ import annotations

import torch

from harness.scorers.questions import COUNT_WORDS, question_words
from harness.world.text import vocabulary

from .config import JudgeConfig

SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<image>", "USER:", "ASSISTANT:", "Yes", "No"]
# Words only the retired describe questions used: kept so that the vocabulary, and with it the shipped
# judge's tokenizer and embedding rows, stays the same.
RETIRED_WORDS = ("describe", "turns")
# Images first, then the question, then the answer: the question words sit right after the images and read them.
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% if m['content'] is string %}{{ m['content'] }} {% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image> {% endif %}{% endfor %}"
    "{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }} {% endif %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def build_tokenizer():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    words = (set(vocabulary()) | question_words() | set(COUNT_WORDS) | {".", ",", ":", "?", "nothing"}
             | set(RETIRED_WORDS))
    vocab = {w: i for i, w in enumerate(SPECIALS)}
    for w in sorted(words - set(vocab)):
        vocab[w] = len(vocab)
    tk = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"}, padding_side="left",
    )


def build_processor(cfg: JudgeConfig):
    from transformers import LlavaProcessor

    try:
        from transformers import CLIPImageProcessorPil as IP  # no torchvision here
    except ImportError:  # pragma: no cover - older transformers
        from transformers import CLIPImageProcessor as IP
    ip = IP(size={"shortest_edge": cfg.image_size}, crop_size={"height": cfg.image_size, "width": cfg.image_size},
            resample=3)
    # CLIP has a CLS token, which the "default" strategy drops
    return LlavaProcessor(image_processor=ip, tokenizer=build_tokenizer(), patch_size=cfg.patch_size,
                          vision_feature_select_strategy="default", image_token="<image>",
                          num_additional_image_tokens=1, chat_template=CHAT_TEMPLATE)


def build_model(cfg: JudgeConfig, tokenizer):
    """A freshly initialised judge, seeded with ``cfg.seed``."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    torch.manual_seed(cfg.seed)
    vision = CLIPVisionConfig(hidden_size=cfg.vision_hidden, intermediate_size=2 * cfg.vision_hidden,
                              num_hidden_layers=cfg.vision_layers, num_attention_heads=cfg.vision_heads,
                              image_size=cfg.image_size, patch_size=cfg.patch_size, projection_dim=cfg.vision_hidden)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.text_hidden,
                       intermediate_size=cfg.text_intermediate, num_hidden_layers=cfg.text_layers,
                       num_attention_heads=cfg.text_heads, num_key_value_heads=cfg.text_heads,
                       max_position_embeddings=512, rope_theta=cfg.rope_theta,
                       pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
                       initializer_range=cfg.init_std)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
                         vision_feature_layer=-1, vision_feature_select_strategy="default")
    model = LlavaForConditionalGeneration(config)
    if cfg.pos_init_std > 0:
        with torch.no_grad():
            model.model.vision_tower.embeddings.position_embedding.weight.normal_(0.0, cfg.pos_init_std)
    return model
