"""Quorum as an MCP server (`quorum mcp`): coding agents put a question to the panel.

The only package that imports the `mcp` SDK (a forbidden-import contract keeps it here); the CLI
loads it only for `quorum mcp`, because the SDK takes seconds to import.
"""
