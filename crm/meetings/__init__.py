"""Meeting pages: list, create, edit, the meeting page with quick capture."""
