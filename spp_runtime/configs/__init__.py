"""Package data: the embedded default cluster config (``local.toml``)."""
