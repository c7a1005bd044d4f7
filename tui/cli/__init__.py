"""The `quorum` command line (`tui.cli.main`), and the collector's pace while it starts.

Starting up builds hundreds of thousands of objects that live as long as the process (pydantic's
validators, Textual's classes and styles) and almost no garbage, yet at the collector's default
pace it scans them ~140 times before the dashboard's first frame (~90 ms of a start-up, measured).
Every `quorum` command imports this package first, so the pace is set here, before those imports:
the young generation is collected every 20,000 allocations instead of every 700, the pace the
dashboard keeps while streaming (`DashboardCore.tune_gc`).
"""

import gc

gc.set_threshold(20_000, 50, 100)
