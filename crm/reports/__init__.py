"""The reports page: counts of people by path and stage, by week and by meeting."""
