"""The Quorum dashboard: a prompt bar, one pane per member, the round tracker and the synthesis pane.

`QuorumApp` is the dashboard's core (`tui.dashboard.core`: layout, the run on screen, runs) with
the keys for recorded runs (`history_actions`), following runs other processes record
(`follow_actions`), attaching images (`image_actions`) and showing the asking team's context
(`context_actions`). The panes keep their own keys
(`widgets.pane_area`), and the member grid those that edit the panel (`widgets.member_grid`).
"""

from __future__ import annotations

from tui.dashboard.context_actions import ContextActions
from tui.dashboard.follow_actions import FollowActions
from tui.dashboard.image_actions import ImageActions


class QuorumApp(FollowActions, ImageActions, ContextActions):
    """The dashboard. Build it with `QuorumApp(settings, session)`; tests inject providers and a clock."""
