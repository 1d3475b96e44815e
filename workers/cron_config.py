"""The periodic schedule (RQ 3 cron). Jobs take no arguments or ids only."""
from rq import cron

from workers import periodic

# Resume a key rotation whose worker died (the database holds its cursor).
cron.register(periodic.resume_key_rotation, "maintenance", interval=300)
