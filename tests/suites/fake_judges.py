"""Stand-in judges for suite tests: no model, fixed answers (the real ones are tested in tests/scorers)."""

from __future__ import annotations


from benchmarks.judges.text_judge import TextJudge


class FakeYesNoScorer:
    """A scorer that cannot generate text: P(Yes) = mean brightness of the last image slot."""

    judge_id = "fake-yes-no-1"

    @classmethod
    def from_context(cls, ctx):
        return cls()

    def reward(self, images, texts):
        return images[-1].float().mean(dim=(1, 2, 3)).clamp(0, 1)


class FakeTextJudge(TextJudge):
    """Replies with VIEScore JSON or an ImgEdit 'Score: N' line; replies garbage about key k2."""

    judge_id = "fake-text-1"
    deterministic = True

    @classmethod
    def from_context(cls, ctx):
        return cls()

    def generate(self, images, prompt, temperature, max_new_tokens, seed):
        if "k2" in prompt:
            return "I would rather not say."
        if "Score: N" in prompt:
            return "The edit is fine.\nScore: 4"
        return '{"score": [6, 9], "reasoning": "fine"}' if len(images) == 2 else '{"score": [8, 5], "reasoning": "ok"}'
