"""Infiltration signals: the review page, decisions on a flag, blocking a contact (decision 0022)."""
