"""agent_app: an offline-first LangChain terminal assistant.

Kept import-light on purpose: importing the package must not pull in torch, transformers or
the heavier LangChain modules, so that `python main.py --help` and the chat prompt appear fast.
"""

__version__ = "0.1.0"
