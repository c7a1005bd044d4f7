"""The `quorum` command line (`tui.cli.main`), and what every command's process sets as it starts.

Starting up builds hundreds of thousands of objects that live as long as the process (pydantic's
validators, Textual's classes and styles) and almost no garbage, yet at the collector's default
pace it scans them ~140 times before the dashboard's first frame (~90 ms of a start-up, measured).
Every `quorum` command imports this package first, so the pace is set here, before those imports:
the young generation is collected every 20,000 allocations instead of every 700, the pace the
dashboard keeps while streaming (`QuorumApp.tune_gc`).

Pydantic looks for plugins of other packages (through every installed package's metadata) as
the first model is made: ~70 ms of each start-up in the development environment, for plugins
Quorum never uses. The command turns that search off for its own process, unless the user has
set `PYDANTIC_DISABLE_PLUGINS` themselves.
"""

import gc
import os

gc.set_threshold(20_000, 50, 100)
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
