"""The two-person approvals queue and the request forms on the contact page."""
