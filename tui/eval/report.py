"""What `quorum eval` prints: its tables, the verdict in words, a chart, and the JSON of it all.

Plain text only (no Rich: the command line may not import it), fit for 80 columns:

- the accuracy table: each mode and each member alone, accuracy with its Wilson 95% interval,
  and for a panel its oracle, flips and unanimous-and-wrong items, and its parse failures;
- the cost table: tokens in and out, cost and calls over the scored items, wall time per item;
- the comparisons: each mode against the best single member and against `vote`, the paired
  difference, its bootstrap interval, McNemar's p and the ratio of tokens;
- for a council, its ballots pooled over the scored items: the position bias (the mean rank, 1 is
  best, readable ballots gave the answer they showed in each place, A, B, C…), how many readable
  ballots ranked as their run's aggregate ranking did, and the abstentions;
- the verdict: one sentence a mode of what the data supports ("deliberate: no significant gain
  over vote at 3.4x its tokens"), and a plain one when nothing beats a single member. A
  difference counts only when it is significant: its bootstrap interval excludes 0 and McNemar's
  p < .05, both;
- a chart of accuracy (its 95% interval as a bar of `:`) against tokens per item, on a log scale.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import Any

from tui.engine.council import score_text
from tui.engine.types import LETTERS
from tui.eval.modes import SINGLE
from tui.eval.results import (
    BEST_SINGLE,
    SIGNIFICANCE,
    BestSingle,
    Comparison,
    CouncilBallots,
    EvalSummary,
    ModeSummary,
)
from tui.eval.stats import Flips, Interval
from tui.render.formatting import cost, literal, seconds, tokens
from tui.render.words import counted

WIDTH = 80
MAX_LABEL = 28
"""The widest a mode's name runs before it is cut short with `…` (shorter where a table needs)."""
MIN_NAME = 12
"""The narrowest a table cuts the names of its rows to fit its width."""
CHART_ROWS = 13
_LABELLED_EVERY = 3  # rows 0, 3, 6, 9, 12: four equal steps of accuracy
# The points of accuracy between two labelled rows, the smallest that holds every interval.
_STEPS = (1.0, 2.0, 2.5, 4.0, 5.0, 7.5, 10.0, 12.5, 15.0, 20.0, 25.0)
_Y_LABEL = 6  # "92.5%" and a space
_NO_VALUE = "–"
NO_BEST_SINGLE = "No best single member was chosen (no development slice), so none is compared."


@dataclass(frozen=True)
class EvalReport:
    """An evaluation's summary, as people and programs read it."""

    summary: EvalSummary
    width: int = WIDTH

    def text(self) -> str:
        """Everything, in the order it is printed."""
        parts = [
            "\n".join(self.heading()),
            self.accuracy_table(),
            self.panel_table(),
            self.cost_table(),
            self.comparison_table(),
            "\n".join(self.council_lines()),
            "\n".join(self.verdict_lines()),
            self.chart(),
        ]
        return "\n\n".join(part for part in parts if part)

    def heading(self) -> list[str]:
        s = self.summary
        dev = (
            f"the best single member chosen on {counted(s.dev_items, 'development item')}"
            if s.best_single
            else "no development slice, so no best single member"
        )
        line = (
            f"{literal(s.dataset)} · {literal(s.scorer)} scorer · {counted(s.items, 'item')} "
            f"(seed {s.seed}) · {dev} · ties: {s.tie_rule.value}"
        )
        return _wrap(line, self.width)

    def accuracy_table(self) -> str:
        rows = [
            [self._label(mode), _percent(mode.accuracy), _range(mode.interval), f"{mode.parse_failures:,}"]
            for mode in self._all()
        ]
        headers = ["mode", "accuracy", "95% CI", "unread"]
        key = "95% CI: Wilson's interval · unread: final answers that could not be read (parse failures)"
        return "\n".join([*_table(headers, rows, "lrrr", self.width), *_wrap(key, self.width)])

    def panel_table(self) -> str:
        """What the panel modes' first answers held, and what their final answers made of them."""
        panels = [mode for mode in self._all() if mode.oracle is not None]
        if not panels:
            return ""
        rows = [
            [
                self._label(mode),
                _percent(mode.oracle / mode.items if mode.oracle is not None and mode.items else 0),
                _count(mode.flips.right_to_wrong if mode.flips else None),
                _count(mode.flips.wrong_to_right if mode.flips else None),
                _count(mode.unanimous_wrong),
            ]
            for mode in panels
        ]
        headers = ["mode", "oracle", "right→wrong", "wrong→right", "unanimous wrong"]
        key = (
            "oracle: items where any first answer was right · right→wrong, wrong→right: items the "
            "final answer lost or won against the plurality of the first answers · unanimous wrong: "
            "items where every seat first gave the same wrong answer"
        )
        return "\n".join([*_table(headers, rows, "lrrrr", self.width), *_wrap(key, self.width)])

    def cost_table(self) -> str:
        rows = [
            [
                self._label(mode),
                _tokens(mode.input_tokens),
                _tokens(mode.output_tokens),
                cost(mode.cost_usd),
                f"{mode.calls:,}",
                _duration(mode.wall_p50_ms),
                _duration(mode.wall_p95_ms),
            ]
            for mode in self._all()
        ]
        headers = ["mode", "tokens in", "out", "cost", "calls", "wall p50", "p95"]
        key = "tokens, cost and calls: over the scored items · wall time: per item"
        return "\n".join([*_table(headers, rows, "lrrrrrr", self.width), *_wrap(key, self.width)])

    def comparison_table(self) -> str:
        if not self.summary.comparisons:
            return ""
        rows = [
            [
                f"{literal(c.mode)} − {literal(_baseline_name(c))}",
                _points(c.difference),
                _points_range(c.interval),
                _p(c.p_value),
                _ratio(c.token_ratio),
                "yes" if c.significant else "no",
            ]
            for c in self.summary.comparisons
        ]
        headers = ["difference (paired)", "points", "95% CI", "McNemar p", "tokens", "significant"]
        key = (
            "95% CI: paired bootstrap, "
            f"{self.summary.resamples:,} resamples · significant: the interval excludes 0 "
            f"and p < {_decimal(SIGNIFICANCE)} · a member's name: the best single member alone"
        )
        return "\n".join([*_table(headers, rows, "lrrrrl", self.width), *_wrap(key, self.width)])

    def council_lines(self) -> list[str]:
        """What the council's ballots say about themselves, pooled over the scored items."""
        council = self.summary.council
        if council is None:
            return []
        sentences = [f"council's ballots: {_ballots_asked(council)}"]
        if council.position_bias:
            means = " · ".join(
                f"{LETTERS[p.position]} {score_text(p.mean_rank)}" for p in council.position_bias
            )
            sentences.append(
                f"position bias: {means} ({counted(council.position_bias[0].ballots, 'ballot')}; the mean "
                "rank, 1 is best, of the answer shown in each place)"
            )
        if council.readable:
            agreement = (
                f"{council.agreeing} of {counted(council.compared, 'readable ballot')} "
                f"({_percent(council.agreeing / council.compared)}) ranked as their run's ranking did"
                if council.compared
                else "no run had two readable ballots"
            )
            if council.alone:
                whose = "its" if council.alone == 1 else "their"
                agreement += (
                    f"; {counted(council.alone, 'ballot')} alone in {whose} run (the ranking is its own) "
                    "not compared"
                )
            sentences.append(f"agreement with the ranking: {agreement}")
        return [line for sentence in sentences for line in _wrap(sentence, self.width)]

    def verdict(self) -> list[str]:
        """What the data supports, one sentence a mode, and one more when no mode beats the best
        single member."""
        s = self.summary
        sentences = []
        for mode in s.modes:
            mine = sorted(
                (c for c in s.comparisons if c.mode == mode.label), key=lambda c: c.against == BEST_SINGLE
            )
            if mine:
                sentences.append(f"{literal(mode.label)}: {'; '.join(self._clause(c) for c in mine)}.")
        best = s.best()
        if best is None:
            if s.modes:
                sentences.append(NO_BEST_SINGLE)
        elif not any(c.against == BEST_SINGLE and c.significant and c.difference > 0 for c in s.comparisons):
            sentences.append(
                "Nothing here beats asking the best single member alone: no mode is significantly "
                f"better than {literal(best.member or '')} ({_percent(best.accuracy)}) on these "
                f"{counted(s.items, 'item')}."
            )
        if best is not None and s.best_single is not None:
            sentences += self._better_alone(best, s.best_single)
        return sentences

    def _better_alone(self, best: ModeSummary, chosen: BestSingle) -> list[str]:
        """A sentence when a member alone beat, on the scored items, the one the development slice
        chose: the comparisons stand (the choice was made before the scoring), and say so."""
        better = max(self.summary.singles, key=lambda single: single.correct)
        if better.correct <= best.correct:
            return []
        name, other = literal(chosen.member), literal(better.member or "")
        return [
            f"The development slice ({counted(chosen.dev_items, 'item')}) chose {name}, but {other} alone "
            f"did better on these items ({_percent(better.accuracy)} against {_percent(best.accuracy)}): "
            f"the comparisons are against {name}; a larger --dev chooses more surely."
        ]

    def verdict_lines(self) -> list[str]:
        return [line for sentence in self.verdict() for line in _wrap(sentence, self.width)]

    def chart(self) -> str:
        """Accuracy against tokens per item, a letter a mode, its 95% interval a bar of `:`."""
        plotted = [mode for mode in self._all() if mode.items]
        if not plotted or not any(mode.tokens for mode in plotted):
            return "(no token counts, so no chart of accuracy against tokens)"
        markers = _markers(plotted)
        bottom, top, step = _accuracy_range([mode.interval for mode in plotted])
        columns = self.width - _Y_LABEL - 1
        logs = [math.log10(max(mode.tokens / mode.items, 1.0)) for mode in plotted]
        left, right = _padded(min(logs), max(logs))
        grid = [[" "] * columns for _ in range(CHART_ROWS)]

        def row_of(share: float) -> int:
            return round((top - share * 100) / (top - bottom) * (CHART_ROWS - 1))

        def column_of(log: float) -> int:
            return round((log - left) / (right - left) * (columns - 1))

        for mode, log in zip(plotted, logs, strict=True):
            column = column_of(log)
            for row in range(row_of(mode.interval.high), row_of(mode.interval.low) + 1):
                if grid[row][column] == " ":
                    grid[row][column] = ":"
            row = row_of(mode.accuracy)
            grid[row][column] = "*" if grid[row][column] not in " :" else markers[mode.label]
        lines = ["accuracy against tokens per item"]
        for index, cells in enumerate(grid):
            labelled = index % _LABELLED_EVERY == 0
            label = f"{top - index * step / _LABELLED_EVERY:g}%" if labelled else ""
            lines.append(f"{label:>{_Y_LABEL - 1}} {'┤' if labelled else '│'}{''.join(cells)}".rstrip())
        ticks = [(column_of(math.log10(value)), value) for value in _ticks(left, right)]
        axis = ["─"] * columns
        for column, _ in ticks:
            axis[column] = "┬"
        lines.append(" " * _Y_LABEL + "└" + "".join(axis))
        lines.append(_tick_labels(ticks, _Y_LABEL + 1))
        lines.append(" " * (_Y_LABEL + 1) + "tokens per item (log scale) · : 95% CI · * two or more")
        legend = "   ".join(_unbroken(f"{markers[mode.label]} {self._label(mode)}") for mode in plotted)
        lines.extend(_wrap(legend, self.width, indent=" " * (_Y_LABEL + 1)))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-able data (the `--json` line): every figure, and the verdict."""
        s = self.summary
        return {
            "dataset": s.dataset,
            "scorer": s.scorer,
            "seed": s.seed,
            "items": s.items,
            "dev_items": s.dev_items,
            "tie_rule": s.tie_rule.value,
            "resamples": s.resamples,
            "significance": f"bootstrap 95% CI excludes 0 and McNemar p < {_decimal(SIGNIFICANCE)}",
            "best_single": None
            if s.best_single is None
            else {
                "member": s.best_single.member,
                "dev_correct": s.best_single.dev_correct,
                "dev_items": s.best_single.dev_items,
            },
            "singles": [_mode_json(mode) for mode in s.singles],
            "modes": [_mode_json(mode) for mode in s.modes],
            "comparisons": [_comparison_json(c) for c in s.comparisons],
            "council": None if s.council is None else _council_json(s.council),
            "verdict": self.verdict(),
        }

    def _all(self) -> list[ModeSummary]:
        return [*self.summary.singles, *self.summary.modes]

    def _label(self, mode: ModeSummary) -> str:
        best = self.summary.best_single
        mark = " (best)" if best is not None and mode.member == best.member else ""
        return _cut(literal(mode.label) + mark, MAX_LABEL)

    def _clause(self, comparison: Comparison) -> str:
        best = self.summary.best_single
        if comparison.against == BEST_SINGLE and best is not None:
            name = f"the best single member, {literal(best.member)}"
            pause = ","  # the name ends in a parenthesis' place: "…, alpha, at 3.0x its tokens"
        else:
            name, pause = comparison.baseline, ""
        ratio = comparison.token_ratio
        spent = f" at {_ratio(ratio)} its tokens" if ratio is not None else ""
        if not comparison.significant:
            return f"no significant gain over {name}{pause if spent else ''}{spent}"
        points = abs(comparison.difference) * 100
        how = "over" if comparison.difference > 0 else "below"
        sign = "+" if comparison.difference > 0 else ""
        return (
            f"{sign}{points:.1f} points {how} {name} "
            f"(95% CI {_points_range(comparison.interval)}, {_p_is(comparison.p_value)}){spent}"
        )


# --------------------------------------------------------------------------------------------
# Numbers as people read them


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _range(interval: Interval) -> str:
    return f"{interval.low * 100:.1f}–{interval.high * 100:.1f}"


def _points(share: float) -> str:
    return f"{share * 100:+.1f}"


def _points_range(interval: Interval) -> str:
    return f"{interval.low * 100:+.1f}..{interval.high * 100:+.1f}"


def _ratio(ratio: float | None) -> str:
    return _NO_VALUE if ratio is None else f"{ratio:.1f}x"


def _tokens(count: int) -> str:
    """`850`, `41.2k`, `6.6M`."""
    return f"{count / 1_000_000:.1f}M" if count >= 1_000_000 else tokens(count)


def _count(count: int | None) -> str:
    return _NO_VALUE if count is None else f"{count:,}"


def _duration(ms: float | None) -> str:
    return seconds(None if ms is None else round(ms))


def _decimal(value: float) -> str:
    """`.05`, `.039`, `1`: a share without its leading zero."""
    return f"{value:g}".removeprefix("0")


def _p(p: float) -> str:
    """`.02`, `.61`, `< .001`: two significant digits, never rounded up to .05 from below it."""
    if p < 0.001:
        return "< .001"
    text = f"{p:.2g}"
    if p < SIGNIFICANCE <= float(text):
        text = f"{p:.3g}"
    return _decimal(float(text))


def _p_is(p: float) -> str:
    """`p = .02`, `p < .001`."""
    text = _p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _cut(text: str, width: int) -> str:
    """`text`, or its start and end with `…` between: names differ at either end (`…-70b`)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


_NO_BREAK = "\u00a0"  # textwrap never breaks at it; it is a space again once wrapped


def _unbroken(text: str) -> str:
    return text.replace(" ", _NO_BREAK)


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    """`text` in lines of at most `width`, never broken inside `p < .001` or `95% CI`."""
    for phrase in ("p < ", "p = ", "95% CI "):
        text = text.replace(phrase, _unbroken(phrase))
    lines = textwrap.wrap(
        text, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
    )
    return [line.replace(_NO_BREAK, " ") for line in lines]


def _baseline_name(comparison: Comparison) -> str:
    """What a mode is compared with, as the table names it: `vote`, or the best single member's
    name alone (`single ` would cut the rows short of 80 columns)."""
    if comparison.against == BEST_SINGLE:
        return comparison.baseline.removeprefix(f"{SINGLE} ")
    return comparison.baseline


def _table(headers: list[str], rows: list[list[str]], aligns: str, width: int) -> list[str]:
    """Columns two spaces apart; the first (the names) cut short with `…` to fit `width`."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    overflow = sum(widths) + 2 * (len(widths) - 1) - width
    if overflow > 0:
        widths[0] = max(len(headers[0]), widths[0] - overflow, MIN_NAME)

    def line(cells: list[str]) -> str:
        cells = [_cut(cells[0], widths[0]), *cells[1:]]
        return "  ".join(
            cell.ljust(width) if align == "l" else cell.rjust(width)
            for cell, width, align in zip(cells, widths, aligns, strict=True)
        ).rstrip()

    return [line(headers), *(line(row) for row in rows)]


def _mode_json(mode: ModeSummary) -> dict[str, Any]:
    return {
        "mode": mode.mode,
        "member": mode.member,
        "items": mode.items,
        "correct": mode.correct,
        "accuracy": mode.accuracy,
        "ci95": [mode.interval.low, mode.interval.high],
        "parse_failures": mode.parse_failures,
        "input_tokens": mode.input_tokens,
        "output_tokens": mode.output_tokens,
        "cost_usd": mode.cost_usd,
        "calls": mode.calls,
        "wall_ms_p50": mode.wall_p50_ms,
        "wall_ms_p95": mode.wall_p95_ms,
        "oracle": mode.oracle,
        "flips": _flips_json(mode.flips),
        "unanimous_wrong": mode.unanimous_wrong,
    }


def _flips_json(flips: Flips | None) -> dict[str, int] | None:
    if flips is None:
        return None
    return {"right_to_wrong": flips.right_to_wrong, "wrong_to_right": flips.wrong_to_right}


def _ballots_asked(council: CouncilBallots) -> str:
    """How many ballots the council's runs gave, how many abstained, and what the log lacks."""
    if council.runs:
        said = (
            f"{counted(council.ballots, 'ballot')} over {counted(council.runs, 'run')}, "
            f"{council.abstained:,} abstained"
        )
    elif council.unrecorded:
        said = "none in the log"
    else:
        said = "none asked (a reviewer would have been shown a single answer)"
    if council.unrecorded:
        said += f" · {counted(council.unrecorded, 'run')} logged before ballots were, so without them"
    return said


def _council_json(council: CouncilBallots) -> dict[str, Any]:
    return {
        "runs": council.runs,
        "unrecorded": council.unrecorded,
        "ballots": council.ballots,
        "readable": council.readable,
        "abstained": council.abstained,
        "alone": council.alone,
        "compared": council.compared,
        "agreeing": council.agreeing,
        "agreement": round(council.agreeing / council.compared, 3) if council.compared else None,
        "position_bias": [
            {"position": LETTERS[p.position], "mean_rank": round(float(p.mean_rank), 3), "ballots": p.ballots}
            for p in council.position_bias
        ],
    }


def _comparison_json(c: Comparison) -> dict[str, Any]:
    return {
        "mode": c.mode,
        "baseline": c.baseline,
        "against": c.against,
        "difference": c.difference,
        "ci95": [c.interval.low, c.interval.high],
        "p_value": c.p_value,
        "only_mode": c.only_mode,
        "only_baseline": c.only_baseline,
        "token_ratio": c.token_ratio,
        "significant": c.significant,
    }


# --------------------------------------------------------------------------------------------
# The chart


def _markers(modes: list[ModeSummary]) -> dict[str, str]:
    """A letter for each mode: a, b, c… for members alone, a capital of its name for a panel mode."""
    taken: dict[str, str] = {}
    singles = iter("abcdefghijklmnopqrstuvwxyz")
    for mode in modes:
        if mode.member is not None:
            taken[mode.label] = next(singles, "?")
            continue
        candidates = mode.mode.upper() + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        free = (c for c in candidates if "A" <= c <= "Z" and c not in taken.values())
        taken[mode.label] = next(free, "?")
    return taken


def _accuracy_range(intervals: list[Interval]) -> tuple[float, float, float]:
    """The bottom and top of the accuracy axis, in points, and the step between labelled rows:
    four steps of a round size that hold every interval."""
    low = min(interval.low for interval in intervals) * 100
    high = max(interval.high for interval in intervals) * 100
    for step in _STEPS:
        bottom = math.floor(low / step) * step
        top = bottom + 4 * step
        if top > 100:
            top, bottom = 100.0, 100 - 4 * step
        if bottom >= 0 and top >= high:
            return bottom, top, step
    return 0.0, 100.0, 25.0


def _padded(left: float, right: float) -> tuple[float, float]:
    """A log axis a little wider than the points on it (half a decade each side of a lone one)."""
    if right - left < 1e-9:
        return left - 0.5, right + 0.5
    margin = (right - left) * 0.06
    return left - margin, right + margin


def _ticks(left: float, right: float) -> list[float]:
    """Round token counts on the axis: 1, 2 and 5 of each power of ten, or only the powers when
    those are too many."""
    decades = range(math.floor(left), math.ceil(right) + 1)
    for multiples in ((1, 2, 5), (1,)):
        values = [m * 10.0**d for d in decades for m in multiples if left <= math.log10(m * 10.0**d) <= right]
        if len(values) <= 6:
            return values
    return values


def _tick_labels(ticks: list[tuple[int, float]], indent: int) -> str:
    line = ""
    for column, value in ticks:
        label = _tokens(round(value))
        start = max(indent + column - len(label) // 2, len(line) + 1 if line else 0)
        line = line.ljust(start) + label
    return line
