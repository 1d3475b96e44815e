"""Admin operations pages: background jobs, the mail outbox and mail wording (blueprint ``ops``)."""
