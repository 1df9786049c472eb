"""Conversation memory: persistent conversations (`store`) and the strategies that choose which
part of a conversation is sent to the model (`strategies`).

Import the submodules directly; this package stays import-light so that `settings` can be loaded
by the configuration without pulling in LangChain.
"""
