"""The Quorum dashboard: a prompt bar, one pane per member, the round tracker and the synthesis pane.

`QuorumApp` is the dashboard's core (`tui.dashboard.core`: layout, the run on screen, runs) with
the keys for recorded runs (`history_actions`) and following runs other processes record
(`follow_actions`). What the next question is asked with (a follow-up, the context, images, the
mode) is `next_question`'s. The panes keep their own keys
(`widgets.pane_area`), and the member grid those that edit the panel (`widgets.member_grid`).
"""

from __future__ import annotations

from tui.dashboard.follow_actions import FollowActions


class QuorumApp(FollowActions):
    """The dashboard. Build it with `QuorumApp(settings, session)`; tests inject providers and a clock."""
