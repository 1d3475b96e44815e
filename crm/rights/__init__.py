"""People's own data rights: the public "my data" pages and the admin erasure action."""
