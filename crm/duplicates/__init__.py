"""Duplicate review: candidate pairs, the side-by-side merge screen, undo."""
