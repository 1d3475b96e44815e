"""The retention admin page: what will be archived and erased, holds and restores."""
