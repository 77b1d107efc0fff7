"""The report layer: what people read about a trained run.

- :mod:`ecgbyte.report.markdown`: the evaluation summary as Markdown tables, and the
  ``ecgbyte evaluate`` job (:func:`evaluation_report`: evaluate, write JSON + Markdown);
- :mod:`ecgbyte.report.explain`: the interpretability pictures of one record (``ecgbyte explain``);
- :mod:`ecgbyte.report.html`: the self-contained HTML page (``ecgbyte report``).

It sits at the end of the data flow: it reads runs (:class:`ecgbyte.elm.run.RunDir`), scores
them (:mod:`ecgbyte.eval`) and draws with :mod:`ecgbyte.viz`; nothing imports it but the
commands and the demo.
"""

from __future__ import annotations

from ecgbyte.report.explain import DEFAULT_QUESTION, explain
from ecgbyte.report.html import TWO_STAGE_NOTE, ablation_chart, build_report, render_html
from ecgbyte.report.markdown import (
    default_evaluation_path,
    evaluation_report,
    interval_text,
    to_markdown,
    write_evaluation,
)

__all__ = [
    "DEFAULT_QUESTION",
    "TWO_STAGE_NOTE",
    "ablation_chart",
    "build_report",
    "default_evaluation_path",
    "evaluation_report",
    "explain",
    "interval_text",
    "render_html",
    "to_markdown",
    "write_evaluation",
]
