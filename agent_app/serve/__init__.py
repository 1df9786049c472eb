"""`serve`: the app (its model, templates, agent and collections) behind an OpenAI-compatible
HTTP API and a web page. `api` is the FastAPI app, `catalog` the ways of answering it lists as
models, `client` what `ask --server` uses, `page.html` the chat page; `settings` is the
`serve:` section of the configuration (the only module the rest of the app imports)."""
