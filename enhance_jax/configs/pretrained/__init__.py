"""Shipped run configs (`--config=NAME` finds them by name)."""
