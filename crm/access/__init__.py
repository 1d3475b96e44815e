"""Admin pages of the access watch: alerts, thresholds, reinstatement, the emergency lockdown."""
