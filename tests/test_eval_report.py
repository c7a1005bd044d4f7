"""What `quorum eval` prints: tables that fit 80 columns, a verdict that says plainly what the data
supports (a gain only when the bootstrap interval excludes 0 and McNemar's p < .05, and plainly
when nothing beats a single member), a chart of accuracy against tokens in plain characters, and
the JSON of it all."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import pytest

from tui.engine.answers import TieRule
from tui.engine.council import PositionBias
from tui.eval.report import NO_BEST_SINGLE, EvalReport
from tui.eval.results import (
    BEST_SINGLE,
    VOTE,
    BestSingle,
    Comparison,
    CouncilBallots,
    EvalSummary,
    ModeSummary,
)
from tui.eval.stats import Flips, Interval, wilson


def mode(
    name: str,
    correct: int,
    tokens: int,
    *,
    member: str | None = None,
    items: int = 100,
    panel: bool = False,
) -> ModeSummary:
    """A summary spending `tokens` in all, a third of them read."""
    return ModeSummary(
        mode=name,
        member=member,
        items=items,
        correct=correct,
        interval=wilson(correct, items),
        parse_failures=2 if panel else 0,
        input_tokens=tokens // 3,
        output_tokens=tokens - tokens // 3,
        cost_usd=tokens / 1e6,
        calls=items * (3 if panel else 1),
        wall_p50_ms=1200.0,
        wall_p95_ms=3400.0,
        oracle=95 if panel else None,
        flips=Flips(right_to_wrong=2, wrong_to_right=5) if panel else None,
        unanimous_wrong=3 if panel else None,
    )


def compared(
    name: str,
    baseline: str,
    against: str,
    difference: float,
    low: float,
    high: float,
    p: float,
    ratio: float | None,
) -> Comparison:
    return Comparison(name, baseline, against, difference, Interval(low, high), p, 9, 3, ratio)


ALPHA = mode("single", 82, 30_000, member="alpha")
BETA = mode("single", 75, 36_000, member="beta")
VOTED = mode(VOTE, 88, 90_000, panel=True)
DELIBERATED = mode("deliberate", 87, 306_000, panel=True)


def summary(*comparisons: Comparison, best: bool = True, modes: tuple[ModeSummary, ...] = ()) -> EvalSummary:
    return EvalSummary(
        dataset="gsm8k",
        scorer="numeric",
        seed=0,
        items=100,
        dev_items=20 if best else 0,
        tie_rule=TieRule.FIRST_IN_PANEL_ORDER,
        resamples=10_000,
        best_single=BestSingle("alpha", 17, 20) if best else None,
        singles=(ALPHA, BETA),
        modes=modes or (VOTED, DELIBERATED),
        comparisons=comparisons,
    )


VOTE_GAINS = compared(VOTE, "single alpha", BEST_SINGLE, 0.06, 0.012, 0.108, 0.02, 3.0)
DELIBERATE_EVEN_WITH_VOTE = compared("deliberate", VOTE, VOTE, -0.01, -0.04, 0.02, 0.63, 3.4)


# --------------------------------------------------------------------------------------------
# The verdict


def test_the_verdict_names_a_significant_gain_with_its_interval_p_and_cost() -> None:
    deliberate_gains = compared("deliberate", "single alpha", BEST_SINGLE, 0.05, 0.001, 0.099, 0.049, 10.2)
    report = EvalReport(summary(VOTE_GAINS, deliberate_gains, DELIBERATE_EVEN_WITH_VOTE))
    assert report.verdict() == [
        "vote: +6.0 points over the best single member, alpha (95% CI +1.2..+10.8, p = .02) "
        "at 3.0x its tokens.",
        "deliberate: no significant gain over vote at 3.4x its tokens; +5.0 points over the best single "
        "member, alpha (95% CI +0.1..+9.9, p = .049) at 10.2x its tokens.",
    ]


def test_the_verdict_says_plainly_when_nothing_beats_the_best_single_member() -> None:
    report = EvalReport(
        summary(
            compared(VOTE, "single alpha", BEST_SINGLE, 0.06, 0.012, 0.108, 0.07, 3.0),  # p too large
            DELIBERATE_EVEN_WITH_VOTE,
            compared("deliberate", "single alpha", BEST_SINGLE, 0.05, -0.01, 0.11, 0.03, 10.2),  # CI holds 0
        )
    )
    assert report.verdict() == [
        "vote: no significant gain over the best single member, alpha, at 3.0x its tokens.",
        "deliberate: no significant gain over vote at 3.4x its tokens; no significant gain over the best "
        "single member, alpha, at 10.2x its tokens.",
        "Nothing here beats asking the best single member alone: no mode is significantly better than "
        "alpha (82.0%) on these 100 items.",
    ]


def test_a_significant_loss_is_said_as_one() -> None:
    loss = compared("deliberate", VOTE, VOTE, -0.08, -0.125, -0.04, 0.0004, 3.3)
    report = EvalReport(summary(VOTE_GAINS, loss))
    assert (
        report.verdict()[1]
        == "deliberate: 8.0 points below vote (95% CI -12.5..-4.0, p < .001) at 3.3x its tokens."
    )


def test_a_significant_loss_to_the_best_single_member_is_not_a_gain_over_it() -> None:
    loss = compared(VOTE, "single alpha", BEST_SINGLE, -0.08, -0.125, -0.04, 0.0004, 3.0)
    assert (
        EvalReport(summary(loss)).verdict()[-1].startswith("Nothing here beats asking the best single member")
    )


def test_without_a_development_slice_the_verdict_says_no_member_was_compared() -> None:
    consult = mode("consult", 84, 120_000, panel=True)
    report = EvalReport(
        summary(
            compared("consult", VOTE, VOTE, -0.04, -0.09, 0.01, 0.2, None), best=False, modes=(VOTED, consult)
        )
    )
    assert report.verdict() == ["consult: no significant gain over vote.", NO_BEST_SINGLE]


def test_the_verdict_says_when_another_member_alone_did_better_than_the_one_the_slice_chose() -> None:
    better_alone = mode("single", 91, 30_000, member="beta")
    report = EvalReport(replace(summary(VOTE_GAINS), singles=(ALPHA, better_alone)))
    assert report.verdict()[-1] == (
        "The development slice (20 items) chose alpha, but beta alone did better on these items "
        "(91.0% against 82.0%): the comparisons are against alpha; a larger --dev chooses more surely."
    )
    assert not any("did better" in sentence for sentence in EvalReport(summary(VOTE_GAINS)).verdict())


def test_one_item_is_said_as_one() -> None:
    one = replace(summary(VOTE_GAINS), items=1, dev_items=1, best_single=BestSingle("alpha", 1, 1))
    assert " ".join(EvalReport(one).heading()).startswith(
        "gsm8k · numeric scorer · 1 item (seed 0) · the best single member chosen on 1 development item ·"
    )


def test_a_p_just_under_05_is_never_shown_as_05() -> None:
    close = compared(VOTE, "single alpha", BEST_SINGLE, 0.06, 0.012, 0.108, 0.0496, 3.0)
    assert "p = .0496" in EvalReport(summary(close)).verdict()[0]


# --------------------------------------------------------------------------------------------
# The tables


def test_the_accuracy_table_has_every_mode_its_interval_and_unread_answers_the_best_member_marked() -> None:
    lines = EvalReport(summary(VOTE_GAINS)).accuracy_table().splitlines()
    assert lines[0].split() == ["mode", "accuracy", "95%", "CI", "unread"]
    assert lines[1].split() == ["single", "alpha", "(best)", "82.0%", "73.3–88.3", "0"]
    assert lines[3].split() == ["vote", "88.0%", "80.2–93.0", "2"]


def test_the_panel_table_holds_only_the_panel_modes_oracle_flips_and_unanimous_wrong_items() -> None:
    lines = EvalReport(summary(VOTE_GAINS)).panel_table().splitlines()
    assert lines[0].split() == ["mode", "oracle", "right→wrong", "wrong→right", "unanimous", "wrong"]
    assert [line.split() for line in lines[1:3]] == [
        ["vote", "95.0%", "2", "5", "3"],
        ["deliberate", "95.0%", "2", "5", "3"],
    ]


def test_the_cost_table_holds_tokens_cost_calls_and_wall_time_per_item() -> None:
    lines = EvalReport(summary(VOTE_GAINS)).cost_table().splitlines()
    assert lines[0].split() == ["mode", "tokens", "in", "out", "cost", "calls", "wall", "p50", "p95"]
    assert lines[3].split() == ["vote", "30.0k", "60.0k", "$0.09", "300", "1.2", "s", "3.4", "s"]


def test_the_comparison_table_holds_the_difference_interval_p_ratio_and_significance() -> None:
    lines = EvalReport(summary(VOTE_GAINS, DELIBERATE_EVEN_WITH_VOTE)).comparison_table().splitlines()
    assert lines[1].split() == ["vote", "−", "alpha", "+6.0", "+1.2..+10.8", ".02", "3.0x", "yes"]
    assert lines[2].split() == ["deliberate", "−", "vote", "-1.0", "-4.0..+2.0", ".63", "3.4x", "no"]
    assert "the best single member alone" in lines[-1]


def test_a_comparison_against_the_best_single_member_is_named_whole() -> None:
    against = compared("deliberate", "single demo-bolt", BEST_SINGLE, 0.3, 0.16, 0.44, 0.0001, 17.9)
    table = EvalReport(summary(against, DELIBERATE_EVEN_WITH_VOTE)).comparison_table()
    assert "\ndeliberate − demo-bolt " in table and "…" not in table


def test_everything_printed_fits_80_columns_even_with_long_names_and_large_counts() -> None:
    long_named = mode(
        "single", 1319, 98_765_432, member="openrouter/meta-llama/llama-3.3-70b-instruct", items=1319
    )
    wide = EvalSummary(
        dataset="/a/very/long/path/to/some/dataset/of/questions/with/known/answers.jsonl",
        scorer="regex=(?i)answer is (\\w+)",
        seed=123456,
        items=1319,
        dev_items=200,
        tie_rule=TieRule.NO_ANSWER,
        resamples=10_000,
        best_single=BestSingle("openrouter/meta-llama/llama-3.3-70b-instruct", 150, 200),
        singles=(long_named,),
        modes=(mode("deliberate", 1200, 987_654_321, items=1319, panel=True),),
        comparisons=(
            compared(
                "deliberate",
                "single openrouter/meta-llama/llama-3.3-70b-instruct",
                BEST_SINGLE,
                -0.0902,
                -0.1234,
                -0.0567,
                0.0001,
                10.0,
            ),
        ),
    )
    text = EvalReport(wide).text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "single openro…nstruct (best)" in text  # cut short in the middle, never wrapped
    assert "329.2M" in text  # tokens in, in millions


def test_a_name_with_terminal_controls_is_shown_as_text() -> None:
    evil = mode("single", 50, 1000, member="evil\x1b]0;owned\x07")
    report = EvalReport(EvalSummary("d", "exact", 0, 100, 0, TieRule.NO_ANSWER, 10, None, (evil,), (), ()))
    assert "\x1b" not in report.text() and "\\x1b" in report.text()


# --------------------------------------------------------------------------------------------
# The chart


def marker_at(lines: list[str], marker: str) -> tuple[int, int]:
    """The row and column of `marker` in the chart's plot (its labelled axis left aside)."""
    for row, line in enumerate(lines):
        plot = line[7:]
        if marker in plot and ("┤" in line[:7] or "│" in line[:7]):
            return row, plot.index(marker)
    raise AssertionError(f"{marker} not plotted")


def test_the_chart_puts_more_accurate_modes_higher_and_costlier_ones_further_right() -> None:
    lines = EvalReport(summary(VOTE_GAINS)).chart().splitlines()
    alpha, beta, vote, deliberate = (marker_at(lines, m) for m in ("a", "b", "V", "D"))
    assert vote[0] < alpha[0] < beta[0]  # 88% above 82% above 75%
    assert alpha[1] < beta[1] < vote[1] < deliberate[1]  # 300, 360, 900 and 3,060 tokens an item
    assert lines[vote[0] - 1][7 + vote[1]] == ":"  # its interval, above and below it
    assert lines[vote[0] + 1][7 + vote[1]] == ":"


def test_the_chart_labels_its_axes_and_names_every_marker() -> None:
    chart = EvalReport(summary(VOTE_GAINS)).chart()
    assert chart.splitlines()[0] == "accuracy against tokens per item"
    assert "500" in chart and "1.0k" in chart and "2.0k" in chart
    assert "tokens per item (log scale)" in chart
    assert "a single alpha (best)" in chart and "b single beta" in chart
    assert "V vote" in chart and "D deliberate" in chart
    assert max(len(line) for line in chart.splitlines()) <= 80


def test_two_modes_on_one_spot_are_marked_as_such() -> None:
    twin = mode("consult", 88, 90_000, panel=True)
    chart = EvalReport(summary(modes=(VOTED, twin))).chart()
    assert "*" in "".join(line[7:] for line in chart.splitlines()[1:14])


def test_without_token_counts_there_is_no_chart_and_it_says_so() -> None:
    free = mode("single", 50, 0, member="alpha")
    report = EvalReport(EvalSummary("d", "exact", 0, 100, 0, TieRule.NO_ANSWER, 10, None, (free,), (), ()))
    assert report.chart() == "(no token counts, so no chart of accuracy against tokens)"


# --------------------------------------------------------------------------------------------
# JSON


def test_the_json_holds_every_figure_the_rules_and_the_verdict() -> None:
    report = EvalReport(summary(VOTE_GAINS, DELIBERATE_EVEN_WITH_VOTE))
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert data["tie_rule"] == "first in panel order"
    assert data["significance"] == "bootstrap 95% CI excludes 0 and McNemar p < .05"
    assert data["best_single"] == {"member": "alpha", "dev_correct": 17, "dev_items": 20}
    assert [entry["member"] for entry in data["singles"]] == ["alpha", "beta"]
    vote = data["modes"][0]
    # scipy.stats.binomtest(88, 100).proportion_ci(method="wilson")
    assert vote["accuracy"] == 0.88
    assert vote["ci95"] == pytest.approx([0.8018790057328857, 0.9300059356298052], abs=1e-12)
    assert vote["flips"] == {"right_to_wrong": 2, "wrong_to_right": 5}
    first = data["comparisons"][0]
    assert (first["mode"], first["baseline"], first["significant"], first["p_value"]) == (
        "vote",
        "single alpha",
        True,
        0.02,
    )
    assert data["verdict"] == report.verdict()


def test_the_whole_report_reads_in_order() -> None:
    text = EvalReport(summary(VOTE_GAINS, DELIBERATE_EVEN_WITH_VOTE)).text()
    order = [
        "gsm8k · numeric scorer",
        "accuracy",
        "oracle",
        "tokens in",
        "McNemar p",
        "vote: +6.0",
        "accuracy against",
    ]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)


# --------------------------------------------------------------------------------------------
# A council's ballots

POOLED = CouncilBallots(
    runs=4,
    ballots=12,
    readable=9,
    abstained=3,
    agreeing=6,
    position_bias=(PositionBias(0, Fraction(14, 9), 9), PositionBias(1, Fraction(13, 9), 9)),
)


def test_a_council_s_ballots_are_said_under_the_tables_with_their_position_bias_and_agreement() -> None:
    text = EvalReport(replace(summary(), council=POOLED)).text()
    assert "council's ballots: 12 ballots over 4 runs, 3 abstained\n" in text
    assert "\nposition bias: A 1.56 · B 1.44 (9 ballots;" in text
    assert "agreement with the ranking: 6 of 9 readable ballots (66.7%)" in text
    assert text.index("cost  calls") < text.index("position bias") < text.index("Nothing here beats")
    assert all(len(line) <= 80 for line in text.splitlines())


def test_the_json_holds_the_council_s_ballots_rounded() -> None:
    data = json.loads(json.dumps(EvalReport(replace(summary(), council=POOLED)).to_json(), allow_nan=False))
    assert data["council"] == {
        "runs": 4,
        "unrecorded": 0,
        "ballots": 12,
        "readable": 9,
        "abstained": 3,
        "alone": 0,
        "compared": 9,
        "agreeing": 6,
        "agreement": 0.667,
        "position_bias": [
            {"position": "A", "mean_rank": 1.556, "ballots": 9},
            {"position": "B", "mean_rank": 1.444, "ballots": 9},
        ],
    }


def test_ballots_alone_in_their_run_are_said_and_left_out_of_the_agreement() -> None:
    some = replace(POOLED, readable=11, alone=2)
    text = " ".join(EvalReport(replace(summary(), council=some)).text().split())
    assert (
        "agreement with the ranking: 6 of 9 readable ballots (66.7%) ranked as their run's ranking did; "
        "2 ballots alone in their run (the ranking is its own) not compared"
    ) in text
    only = replace(POOLED, readable=11, alone=11, agreeing=0)
    text = " ".join(EvalReport(replace(summary(), council=only)).text().split())
    assert "agreement with the ranking: no run had two readable ballots; 11 ballots alone" in text
    data = EvalReport(replace(summary(), council=only)).to_json()["council"]
    assert (data["alone"], data["compared"], data["agreement"]) == (11, 0, None)


def test_a_council_that_asked_for_no_ballots_says_so_and_a_log_without_them_says_why() -> None:
    none = CouncilBallots(runs=0, ballots=0, readable=0, abstained=0, agreeing=0, position_bias=())
    text = EvalReport(replace(summary(), council=none)).text()
    assert "council's ballots: none asked" in text and "position bias" not in text
    text = EvalReport(replace(summary(), council=replace(none, unrecorded=5))).text()
    assert "council's ballots: none in the log · 5 runs logged before ballots were" in text
    assert EvalReport(summary()).to_json()["council"] is None
