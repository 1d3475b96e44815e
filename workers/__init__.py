"""The RQ side of Muster: job functions, the worker entry point and the cron schedule."""
