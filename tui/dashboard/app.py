"""The Quorum dashboard: a prompt bar, one pane per member, the round tracker and the synthesis pane.

`QuorumApp` is the dashboard's core (`tui.dashboard.core`: layout, the run on screen, runs) with
the keys that edit the panel (`panel_actions`), those for recorded runs (`history_actions`) and
those that move between panes on a small screen (`compact_actions`).
"""

from __future__ import annotations

from tui.dashboard.compact_actions import CompactActions
from tui.dashboard.history_actions import HistoryActions
from tui.dashboard.panel_actions import PanelActions


class QuorumApp(PanelActions, HistoryActions, CompactActions):
    """The dashboard. Build it with `QuorumApp(settings, session)`; tests inject providers and a clock."""
