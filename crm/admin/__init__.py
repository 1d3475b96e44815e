"""Admin pages: staff accounts and the audit log (blueprint ``admin``)."""
