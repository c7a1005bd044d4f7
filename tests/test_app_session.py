"""A new user's afternoon with the dashboard (issue 9): the prompt behaves like a prompt, the
follow-up and next-run states are shown and true, keys typed on a pane cannot silently edit the
panel (and a removal can be undone), stances and members are chosen as meant, the numbers are
honest while a call streams, and the demo shows its retries."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard import make_app
from tests.fakes import Script
from tests.test_app import settle, wait_for
from tui.cli.main import main
from tui.render.words import CallState

# -- G: honest numbers while it streams --------------------------------------------------------


async def test_a_streaming_pane_shows_a_running_token_estimate_until_the_usage_arrives() -> None:
    app, _ = make_app(["alpha", "beta"], {"beta": Script(hang=True)})
    async with app.run_test() as pilot:
        app.submit("Q?")
        await wait_for(pilot, lambda: app.panes[1].status is CallState.STREAMING)
        app.flush_now()
        info = app.panes[1].info_text().plain
        assert "no tokens yet" not in info
        assert "~2 tokens (est.)" in info, info  # "partial " is 8 characters
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        done = app.panes[0].info_text().plain
        assert "(est.)" not in done and "100 in · 50 out" in done  # the provider's own count


# -- H: the demo shows the retry display --------------------------------------------------------


def test_the_demo_flaky_member_is_retried_and_the_progress_says_so(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--config", str(fast_demo_config), "run", "q", "-m", "demo-flaky", "-m", "demo-atlas"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "retry 1 of 2 in 0.01 s" in err and "retry 2 of 2 in 0.01 s" in err, err
    assert "rate limited by demo (HTTP 429, demo failure); retry after 0.01 s" in err
