"""What a generative model wrote for the validation prompts, as HTML for a QTextBrowser: the
Train page shows every evaluation's (newest first), the Evaluate page the final ones."""

from __future__ import annotations

import html
from typing import Any

MESSAGES = {
    "generation_step": "step {step:,}",
    "final": "final",
    "expected": "expected: {text}",
    "nothing": "(nothing: the text ended here)",
}
EXPECTED_CHARS = 120  # of a validation prompt's reference shown under it


def generations_html(evaluations: list[tuple[int, list[dict[str, Any]]]]) -> str:
    """Per validation prompt: the prompt (bold), what the data has after it (muted), then
    each evaluation's continuation, newest first ((step, generations) pairs; a step below 0
    is labelled "final"). Only escaped text: no markup from a model."""

    def text(value: Any) -> str:
        return html.escape(str(value or "")).replace("\n", "<br>")

    if not evaluations:
        return ""
    newest_first = sorted(evaluations, key=lambda item: -item[0])
    count = max(len(gens) for _, gens in evaluations)
    parts = []
    for i in range(count):
        first = next((gens[i] for _, gens in newest_first if i < len(gens)), {})
        reference = str(first.get("reference") or "")
        if len(reference) > EXPECTED_CHARS:
            reference = reference[:EXPECTED_CHARS].rstrip() + "…"
        block = [f"<p style='margin:8px 0 2px 0'><b>{text(first.get('prompt'))}</b>"]
        if reference.strip():
            expected = MESSAGES["expected"].format(text=text(reference))
            block.append(f"<br><span style='color:gray'>{expected}</span>")
        block.append("</p><table cellspacing='0' cellpadding='2'>")
        for step, gens in newest_first:
            if i >= len(gens):
                continue
            output = str(gens[i].get("output") or "")
            shown = text(output) if output.strip() else f"<i>{MESSAGES['nothing']}</i>"
            label = MESSAGES["final"] if step < 0 else MESSAGES["generation_step"].format(step=step)
            block.append(
                f"<tr><td style='color:gray; white-space:nowrap' valign='top'>{label}</td>"
                f"<td>{shown}</td></tr>"
            )
        block.append("</table>")
        parts.append("".join(block))
    return "".join(parts)
