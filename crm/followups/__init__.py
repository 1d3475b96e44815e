"""Follow-ups: my queue, the team queue, in-place actions, and the rules admin pages."""
