"""Exports of contact lists: request, approval, one-time download, tracing a leaked file."""
