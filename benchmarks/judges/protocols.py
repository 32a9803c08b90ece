"""Judge protocols: what is asked, how replies are parsed, what one result row holds.

- `VIEScoreProtocol` (viescore.py): two text queries per sample, SC / PQ / O on 0-10.
- `ImgEditProtocol` (imgedit_protocol.py): one text query per sample, a 1-5 score.
- `PyesProtocol` (pyes_protocol.py): P(Yes) of yes/no questions x 10, for scorers that do not
  generate text (the embedded tiny judge). Its rows say protocol="pyes" and its metrics are named
  pyes_*, so nobody mistakes them for VIEScore numbers.
- `aggregate_judgements` (judge_aggregate.py): micro and macro means, parse-failure rates.

A row keeps every raw reply, `parse_ok`, the retries, the template id, the judge id and the decoding
parameters; a score that was not parsed is None (never a substitute value).
"""
from __future__ import annotations

from .imgedit_protocol import ImgEditProtocol
from .judge_aggregate import aggregate_judgements, micro_macro
from .judge_cache import JudgeCache
from .judge_rows import JudgeRow, QueryRecord, ask_with_retries, judge_all
from .judge_templates import OWN_IMGEDIT, OWN_VIESCORE, PromptTemplate, load_template
from .pyes_protocol import PyesProtocol, PyesQuestion
from .text_judge import Decoding, TextJudge
from .viescore import VIEScoreProtocol

__all__ = [
           "OWN_IMGEDIT",
           "OWN_VIESCORE",
           "Decoding",
           "ImgEditProtocol",
           "JudgeCache",
           "JudgeRow",
           "PromptTemplate",
           "PyesProtocol",
           "PyesQuestion",
           "QueryRecord",
           "TextJudge",
           "VIEScoreProtocol",
           "aggregate_judgements",
           "ask_with_retries",
           "judge_all",
           "load_template",
           "micro_macro",
]
