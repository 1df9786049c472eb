"""Callbacks that watch what the app does: a JSON Lines event log (`jsonl`), live one-line notes
(`live`), per-turn statistics (`stats`) and a log reader (`logs_view`).

Import the submodules directly; this package stays import-light so that `settings` can be loaded
by the configuration without pulling in LangChain or rich.
"""
