"""The headless consensus engine: types, stances, prompts, round rules and the orchestrator.

No Textual import belongs here: the CLI, the dashboard and the store all build on this package.
"""
