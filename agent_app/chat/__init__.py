"""The conversation core (session), its slash commands, and the terminal front end (repl)."""
