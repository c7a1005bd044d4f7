"""Stances, the instance limit, prompt placeholders, strict vote parsing and the decision rule."""

from __future__ import annotations

import itertools

import pytest

from tests.fakes import member
from tui.engine import prompts
from tui.engine.rules import decide_round, parse_vote, read_agreement, tally_votes
from tui.engine.stance import apply_instance_limit, normalize_stance
from tui.engine.types import Outcome, Stance, Tally, Vote, VoteValue
from tui.errors import PromptError, StanceError

# --- stances ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "stance"),
    [
        ("for", Stance.FOR),
        ("support", Stance.FOR),
        ("favor", Stance.FOR),
        ("pro", Stance.FOR),
        ("against", Stance.AGAINST),
        ("oppose", Stance.AGAINST),
        ("critical", Stance.AGAINST),
        ("con", Stance.AGAINST),
        ("neutral", Stance.NEUTRAL),
        ("balanced", Stance.NEUTRAL),
        ("  SUPPORT ", Stance.FOR),
        ("Con", Stance.AGAINST),
    ],
)
def test_stance_synonyms(word: str, stance: Stance) -> None:
    assert normalize_stance(word) is stance


@pytest.mark.parametrize("word", ["maybe", "", "fore", "neutral-ish", "favour"])
def test_unknown_stance_lists_the_accepted_words(word: str) -> None:
    with pytest.raises(StanceError) as info:
        normalize_stance(word)
    message = str(info.value)
    for accepted in (
        "for",
        "support",
        "favor",
        "pro",
        "against",
        "oppose",
        "critical",
        "con",
        "neutral",
        "balanced",
    ):
        assert accepted in message


def test_instance_limit_keeps_panel_order_and_reports_the_rest() -> None:
    panel = [
        member("gpt", Stance.FOR),
        member("gpt", Stance.FOR),
        member("gpt", Stance.AGAINST),
        member("gpt", Stance.FOR),
        member("claude", Stance.FOR),
        member("gpt", Stance.FOR),
    ]
    kept, skipped = apply_instance_limit(panel, 2)
    assert [(m.alias, m.stance) for m in kept] == [
        ("gpt", Stance.FOR),
        ("gpt", Stance.FOR),
        ("gpt", Stance.AGAINST),
        ("claude", Stance.FOR),
    ]
    assert len(skipped) == 2
    assert all("at most 2" in s.reason and s.stance is Stance.FOR for s in skipped)
    assert apply_instance_limit(panel, 1)[0] == [panel[0], panel[2], panel[4]]


# --- prompts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["no placeholder", "{stance_prompt} twice {stance_prompt}", "{stance_prompts}"]
)
def test_base_prompt_needs_exactly_one_placeholder(text: str) -> None:
    with pytest.raises(PromptError, match="exactly once"):
        prompts.validate_base_prompt(text)


def test_stance_templates_and_custom_prompt() -> None:
    for stance in Stance:
        system = prompts.member_system_prompt(member("m", stance))
        assert prompts.PLACEHOLDER not in system
        assert prompts.STANCE_TEMPLATES[stance].splitlines()[0] in system
    # guardrails: the advocate must still refuse a harmful idea, the critic acknowledge a good one
    assert "harmful" in prompts.STANCE_TEMPLATES[Stance.FOR]
    assert "genuinely sound" in prompts.STANCE_TEMPLATES[Stance.AGAINST]
    assert "50/50" in prompts.STANCE_TEMPLATES[Stance.NEUTRAL]
    custom = member("m", Stance.FOR, stance_prompt="Argue as a security auditor.")
    system = prompts.member_system_prompt(custom)
    assert "security auditor" in system and "advocate" not in system
    # braces elsewhere in a custom base prompt are left alone
    assert "{json}" in prompts.member_system_prompt(member("m"), "Reply {json}. {stance_prompt}")


def test_user_message_carries_attachments_and_focus() -> None:
    from tui.engine.types import Attachment

    text = prompts.position_prompt("Q?", [Attachment(path="a.py", content="print(1)")], ["cost", "latency"])
    assert "Q?" in text and "- cost" in text and "- latency" in text
    assert '<file path="a.py">\nprint(1)\n</file>' in text
    assert "Confidence: <X>/10" in text


# --- votes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("VERDICT: ACCEPT", VoteValue.ACCEPT),
        ("verdict: reject\n- too slow", VoteValue.REJECT),
        ("  Verdict:   Accept  \n", VoteValue.ACCEPT),
        ("\n\nVERDICT: REJECT\n1. a\n2) b\n* c", VoteValue.REJECT),
        ("", VoteValue.INVALID),
        ("   \n  ", VoteValue.INVALID),
        ("I accept this draft.", VoteValue.INVALID),
        ("VERDICT: ACCEPT REJECT", VoteValue.INVALID),
        ("VERDICT: ACCEPT\nVERDICT: REJECT", VoteValue.INVALID),
        ("VERDICT: ACCEPT\n- fine\nverdict: accept", VoteValue.INVALID),
        ("Looks good.\nVERDICT: ACCEPT", VoteValue.INVALID),
        ("**VERDICT: ACCEPT**", VoteValue.INVALID),
        ("VERDICT: ACCEPTED", VoteValue.INVALID),
        ("VERDICT: accept, mostly", VoteValue.INVALID),
        ("VERDICT: YES", VoteValue.INVALID),
        ("[bold]VERDICT: ACCEPT[/bold]", VoteValue.INVALID),
        ("\x1b[31mVERDICT: ACCEPT\x1b[0m", VoteValue.INVALID),
        ("VERDICT:ACCEPT", VoteValue.INVALID),
    ],
)
def test_vote_parsing_is_strict(reply: str, value: VoteValue) -> None:
    parsed, _, reason = parse_vote(reply)
    assert parsed is value
    assert (reason is None) == (value is not VoteValue.INVALID)


def test_objections_are_cleaned_and_capped() -> None:
    reply = "VERDICT: REJECT\n" + "\n".join(f"- objection {i}" for i in range(9))
    value, objections, _ = parse_vote(reply)
    assert value is VoteValue.REJECT
    assert objections == [f"objection {i}" for i in range(5)]


def test_hostile_reply_is_kept_literal_in_objections() -> None:
    value, objections, _ = parse_vote("VERDICT: REJECT\n- [@click=app.quit]quit[/] \x1b]8;;http://x\x1b\\")
    assert value is VoteValue.REJECT
    assert objections[0].startswith("[@click=app.quit]quit[/]")


# --- the decision rule, as a table -----------------------------------------------------------


def _tally(accept: int, reject: int, invalid: int = 0, none: int = 0) -> Tally:
    return Tally(accept=accept, reject=reject, invalid=invalid, none=none)


def test_decision_table_exhaustively() -> None:
    """Every vote combination of a panel of up to 4, in every round of 3."""
    for size in range(1, 5):
        for votes in itertools.product("ARIN", repeat=size):
            tally = _tally(votes.count("A"), votes.count("R"), votes.count("I"), votes.count("N"))
            for number in (1, 2, 3):
                outcome = decide_round(number, 3, tally)
                valid = tally.accept + tally.reject
                if valid and tally.reject == 0:
                    expected: Outcome | None = Outcome.UNANIMOUS
                elif number < 3:
                    expected = None
                elif valid and tally.accept > valid / 2:
                    expected = Outcome.MAJORITY
                else:
                    expected = Outcome.CURATOR_OVERRIDE
                assert outcome is expected, (votes, number)


@pytest.mark.parametrize(
    ("number", "tally", "expected"),
    [
        (1, _tally(3, 0), Outcome.UNANIMOUS),
        (1, _tally(2, 1), None),
        (2, _tally(2, 1), None),
        (3, _tally(2, 1), Outcome.MAJORITY),
        (3, _tally(1, 1), Outcome.CURATOR_OVERRIDE),  # half is not above half
        (3, _tally(2, 2), Outcome.CURATOR_OVERRIDE),
        (3, _tally(0, 0, invalid=3), Outcome.CURATOR_OVERRIDE),  # invalid votes are never accepts
        (1, _tally(0, 0, invalid=2), None),
        (1, _tally(0, 0, none=3), None),  # all reviews failed: not unanimous
        (3, _tally(1, 0, invalid=2), Outcome.UNANIMOUS),  # unanimous of the valid votes
        (3, _tally(1, 2, invalid=5), Outcome.CURATOR_OVERRIDE),
    ],
)
def test_decision_examples(number: int, tally: Tally, expected: Outcome | None) -> None:
    assert decide_round(number, 3, tally) is expected


def test_majority_threshold_is_configurable() -> None:
    assert decide_round(1, 1, _tally(2, 1), majority_threshold=0.5) is Outcome.MAJORITY
    assert decide_round(1, 1, _tally(2, 1), majority_threshold=0.7) is Outcome.CURATOR_OVERRIDE
    assert decide_round(1, 1, _tally(3, 1), majority_threshold=0.7) is Outcome.MAJORITY


def test_tally_counts_each_value() -> None:
    votes = [
        Vote(member_index=i, alias=str(i), value=value)
        for i, value in enumerate(
            [VoteValue.ACCEPT, VoteValue.ACCEPT, VoteValue.REJECT, VoteValue.INVALID, VoteValue.NONE]
        )
    ]
    assert tally_votes(votes) == _tally(2, 1, 1, 1)


def test_agreement_reading() -> None:
    agreement = read_agreement(
        ["Lean: favourable\nConfidence: 8/10", "**Lean:** Favorable\nConfidence: 6/10", "no shape at all"]
    )
    assert (agreement.favourable, agreement.unclear) == (2, 1)
    assert agreement.mean_confidence == 7.0
    assert agreement.summary.startswith("split: 2 favourable, 1 unclear")
    assert read_agreement(["Lean: mixed", "Lean: mixed"]).summary == "all 2 answers lean mixed"
