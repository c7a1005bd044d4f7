"""Per-item outcomes made into what `quorum eval` reports: each mode's figures, the best single
member chosen on the development slice alone, and paired comparisons whose significance needs
both the bootstrap interval and McNemar's test."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import pytest

from tui.engine.answers import TieRule
from tui.engine.types import Ballot
from tui.eval.results import (
    BEST_SINGLE,
    VOTE,
    Comparison,
    ItemOutcome,
    choose_best_single,
    council_ballots,
    summarize,
    summarize_mode,
)
from tui.eval.stats import Flips, Interval, mcnemar_exact, paired_bootstrap, wilson


def outcomes(results: str, input_tokens: int = 0, output_tokens: int = 0) -> list[ItemOutcome]:
    """One outcome an item: `1` right, `0` wrong, `?` unread."""
    return [
        ItemOutcome(
            str(i),
            mark == "1",
            parse_failed=mark == "?",
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
        for i, mark in enumerate(results)
    ]


def test_a_mode_summary_holds_accuracy_its_interval_unread_answers_and_what_it_spent() -> None:
    items = [
        ItemOutcome("1", True, input_tokens=100, output_tokens=50, cost_usd=0.01, calls=3, wall_ms=900),
        ItemOutcome("2", False, parse_failed=True, input_tokens=120, output_tokens=40, calls=3, wall_ms=3000),
        ItemOutcome("3", True, input_tokens=80, output_tokens=60, cost_usd=0.02, calls=4, wall_ms=1200),
        ItemOutcome("4", True, input_tokens=100, output_tokens=50, calls=3, wall_ms=1000),
    ]
    summary = summarize_mode("deliberate", items)
    assert (summary.items, summary.correct, summary.accuracy, summary.parse_failures) == (4, 3, 0.75, 1)
    assert summary.interval == wilson(3, 4)
    assert (summary.input_tokens, summary.output_tokens, summary.tokens, summary.calls) == (400, 200, 600, 13)
    assert summary.cost_usd == pytest.approx(0.03)
    assert (summary.wall_p50_ms, summary.wall_p95_ms) == (1000, 3000)  # nearest rank: 2nd and 4th of 4


def test_a_member_alone_has_no_oracle_flips_or_unanimity() -> None:
    summary = summarize_mode("single", outcomes("101"), member="alpha")
    assert (summary.oracle, summary.flips, summary.unanimous_wrong) == (None, None, None)
    assert summary.label == "single alpha"


def panel_item(name: str, first: tuple[str | None, ...], final_right: bool) -> ItemOutcome:
    return ItemOutcome(name, final_right, first_keys=first, first_correct=tuple(key == "18" for key in first))


def test_a_panel_counts_its_oracle_flips_against_its_first_plurality_and_unanimous_wrong_items() -> None:
    items = [
        panel_item("a", ("18", "18", "7"), final_right=False),  # the first answers had it: lost
        panel_item("b", ("7", "7", "18"), final_right=True),  # they had not: won
        panel_item("c", ("7", "7", "7"), final_right=False),  # unanimous and wrong
        panel_item("d", ("18", "18", "18"), final_right=True),
        panel_item("e", ("7", "8", None), final_right=False),
    ]
    summary = summarize_mode("deliberate", items)
    assert summary.oracle == 3
    assert summary.flips == Flips(right_to_wrong=1, wrong_to_right=1)
    assert summary.unanimous_wrong == 1


def test_flips_judge_the_first_answers_by_the_runs_tie_rule() -> None:
    # A three-way tie: the first seat's right answer wins it in panel order, and no answer wins
    # it under "no answer"; the final answer is wrong either way.
    items = [panel_item("a", ("18", "7", "8"), final_right=False)]
    assert summarize_mode("deliberate", items).flips == Flips(right_to_wrong=1, wrong_to_right=0)
    no_answer = summarize_mode("deliberate", items, tie_rule=TieRule.NO_ANSWER)
    assert no_answer.flips == Flips(right_to_wrong=0, wrong_to_right=0)


def test_an_outcome_needs_a_result_for_each_first_answer() -> None:
    with pytest.raises(ValueError, match="item x"):
        ItemOutcome("x", True, first_keys=("1", "2"), first_correct=(True,))


# --------------------------------------------------------------------------------------------
# The best single member


def test_the_best_single_member_is_the_best_on_the_development_slice_the_first_among_equals() -> None:
    assert choose_best_single({"alpha": [True, False], "beta": [True, True], "gamma": [True, True]}) == (
        choose_best_single({"beta": [True, True]})
    )
    best = choose_best_single({"alpha": [True, False], "beta": [True, True], "gamma": [True, True]})
    assert best is not None and (best.member, best.dev_correct, best.dev_items) == ("beta", 2, 2)
    assert choose_best_single({}) is None
    assert choose_best_single({"alpha": [], "beta": []}) is None


def test_the_best_single_member_is_never_chosen_on_the_scored_items() -> None:
    # alpha is better on the slice, beta on the scored items: alpha is the baseline all the same.
    summary = summarize(
        dataset="d",
        scorer="numeric",
        seed=0,
        dev={"alpha": [True, True, True], "beta": [False, False, True]},
        singles={"alpha": outcomes("1000000000"), "beta": outcomes("1111111100")},
        modes={VOTE: outcomes("1111111111")},
    )
    assert summary.best_single is not None and summary.best_single.member == "alpha"
    (comparison,) = summary.comparisons
    assert (comparison.baseline, comparison.against) == ("single alpha", BEST_SINGLE)
    assert comparison.difference == pytest.approx(0.9)


# --------------------------------------------------------------------------------------------
# Comparisons


def test_each_mode_is_compared_with_the_best_single_member_and_all_but_vote_with_vote() -> None:
    summary = summarize(
        dataset="d",
        scorer="numeric",
        seed=0,
        dev={"alpha": [True], "beta": [False]},
        singles={"alpha": outcomes("1100"), "beta": outcomes("1000")},
        modes={VOTE: outcomes("1110"), "deliberate": outcomes("1111")},
    )
    assert [(c.mode, c.baseline, c.against) for c in summary.comparisons] == [
        ("vote", "single alpha", BEST_SINGLE),
        ("deliberate", "single alpha", BEST_SINGLE),
        ("deliberate", "vote", VOTE),
    ]


def test_without_a_development_slice_modes_are_compared_with_vote_alone() -> None:
    summary = summarize(
        dataset="d",
        scorer="numeric",
        seed=0,
        dev={},
        singles={"alpha": outcomes("10")},
        modes={VOTE: outcomes("11"), "consult": outcomes("01")},
    )
    assert summary.best_single is None and summary.dev_items == 0
    assert [(c.mode, c.baseline) for c in summary.comparisons] == [("consult", "vote")]


def test_a_comparison_is_the_paired_difference_its_bootstrap_mcnemar_and_token_ratio() -> None:
    mode = "1111111111" + "1111111111" + "1111100000"  # 25 of 30
    base = "1111111111" + "0000011111" + "1111100000"  # 20 of 30; 5 only the mode got right
    summary = summarize(
        dataset="d",
        scorer="numeric",
        seed=3,
        dev={"alpha": [True]},
        singles={"alpha": outcomes(base, input_tokens=10, output_tokens=10)},
        modes={VOTE: outcomes(mode, input_tokens=40, output_tokens=20)},
        resamples=2000,
    )
    (c,) = summary.comparisons
    assert (c.only_mode, c.only_baseline) == (5, 0)
    assert c.difference == pytest.approx(5 / 30)
    assert c.p_value == mcnemar_exact(5, 0) == 0.0625
    first = [mark == "1" for mark in mode]
    second = [mark == "1" for mark in base]
    assert c.interval == paired_bootstrap(first, second, resamples=2000, seed=3)
    assert c.token_ratio == 3.0
    assert not c.significant  # the interval excludes 0, but p = .0625


@pytest.mark.parametrize(
    ("interval", "p", "significant"),
    [
        (Interval(0.01, 0.09), 0.04, True),
        (Interval(-0.09, -0.01), 0.001, True),
        (Interval(0.01, 0.09), 0.05, False),
        (Interval(0.0, 0.09), 0.01, False),
        (Interval(-0.02, 0.09), 0.01, False),
    ],
)
def test_a_difference_is_significant_only_when_the_interval_excludes_0_and_p_is_below_05(
    interval: Interval, p: float, significant: bool
) -> None:
    comparison = Comparison("vote", "single a", BEST_SINGLE, 0.05, interval, p, 5, 0, 3.0)
    assert comparison.significant is significant


def test_modes_scored_on_other_items_or_in_another_order_are_refused() -> None:
    with pytest.raises(ValueError, match="vote was not scored on the same items"):
        summarize(
            dataset="d",
            scorer="numeric",
            seed=0,
            dev={},
            singles={"alpha": outcomes("10")},
            modes={VOTE: outcomes("10")[::-1]},
        )


def test_the_eval_core_loads_no_textual_rich_database_network_or_sdk() -> None:
    # A pydantic model (the engine's answer shape is one) loads the standard library's socket
    # module when its class is built: what counts is what the eval core loads beyond that.
    script = (
        "import sys, pydantic\n"
        "class Built(pydantic.BaseModel):\n"
        "    x: int\n"
        "before = set(sys.modules)\n"
        "import tui.eval.datasets, tui.eval.scoring, tui.eval.stats, tui.eval.results, tui.eval.report\n"
        "banned = {'textual', 'rich', 'sqlite3', 'socket', 'openai', 'anthropic', 'httpx2', 'mcp',"
        " 'aiohttp'}\n"
        "print(sorted({name.split('.')[0] for name in set(sys.modules) - before} & banned))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------
# A council's ballots, pooled over the evaluation


def ballot(seat: int, shown: list[int], ranking: list[int] | None) -> Ballot:
    reason = None if ranking is not None else "no FINAL RANKING line"
    return Ballot(member_index=seat, alias=f"m{seat}", shown=shown, ranking=ranking, reason=reason)


# Two runs of a panel of three. In the first the ballots make a cycle (1 > 2, 2 > 0, 0 > 1): every
# answer ties, the tie is broken in panel order (0, 1, 2), and seat 1's ballot (2 > 0) disagrees.
# In the second seat 1 abstains and both readable ballots rank as the aggregate (0, 2, 1) does.
CYCLE = [ballot(0, [1, 2], [1, 2]), ballot(1, [2, 0], [2, 0]), ballot(2, [0, 1], [0, 1])]
WITH_AN_ABSTENTION = [ballot(0, [1, 2], [2, 1]), ballot(1, [0, 2], None), ballot(2, [1, 0], [0, 1])]


def test_a_council_s_ballots_pooled_give_the_mean_rank_by_position_agreement_and_abstentions() -> None:
    pooled = council_ballots([CYCLE, WITH_AN_ABSTENTION])
    assert (pooled.runs, pooled.ballots, pooled.readable, pooled.abstained) == (2, 6, 5, 1)
    assert pooled.agreeing == 4
    # Shown first (A): ranked 1, 1, 1, 2, 2; shown second (B): 2, 2, 2, 1, 1.
    assert [(p.position, p.mean_rank, p.ballots) for p in pooled.position_bias] == [
        (0, Fraction(7, 5), 5),
        (1, Fraction(8, 5), 5),
    ]


def test_a_run_s_only_readable_ballot_is_not_compared_with_the_ranking_it_alone_made() -> None:
    """A ballot alone in its run agrees with its run's ranking by construction: counting it would
    make a panel whose reviewers mostly abstain look unanimous."""
    alone = [ballot(0, [1, 2], [2, 1]), ballot(1, [0, 2], None), ballot(2, [1, 0], None)]
    pooled = council_ballots([CYCLE, WITH_AN_ABSTENTION, alone, alone])
    assert (pooled.readable, pooled.alone, pooled.compared, pooled.agreeing) == (7, 2, 5, 4)
    assert [p.ballots for p in pooled.position_bias] == [7, 7]  # still shows where it placed what


def test_each_run_s_ballots_are_held_to_that_run_s_own_ranking() -> None:
    # The same ballots counted as one run would make one ranking of them all, and other agreement.
    apart = council_ballots([CYCLE, WITH_AN_ABSTENTION])
    together = council_ballots([CYCLE + WITH_AN_ABSTENTION])
    assert apart.agreeing != together.agreeing


def test_a_council_that_asked_for_no_ballots_pools_to_none_asked() -> None:
    pooled = council_ballots([[], []])
    assert (pooled.runs, pooled.ballots, pooled.readable, pooled.agreeing) == (0, 0, 0, 0)
    assert pooled.position_bias == ()
