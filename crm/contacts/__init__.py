"""Contact pages: search, the contact page, editing details and stages, notes."""
