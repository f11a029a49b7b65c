"""`python -m tierlens.signals`: print docs/signals.md."""

from tierlens.signals.docs import signals_markdown

print(signals_markdown(), end="")
