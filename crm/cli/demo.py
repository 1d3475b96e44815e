"""``flask crm demo``: synthetic data for a new install and for the benchmarks."""
import random

import click

from ..extensions import db
from ..services import demo as demo_service
from . import operator_command

@click.command("demo")
@click.option("--contacts", "count", default=300, show_default=True, type=click.IntRange(0, 5_000_000),
              help="How many synthetic contacts to create.")
@click.option("--meetings", default=6, show_default=True, type=click.IntRange(0, 8))
@click.option("--seed", default=20261125, show_default=True, help="Random seed (same seed, same data).")
@operator_command
def demo(count, meetings, seed):
    """Seed synthetic meetings and contacts (invented names, example.org emails)."""
    rng = random.Random(seed)
    created_meetings = demo_service.create_meetings(rng, meetings) if meetings else []
    db.session.commit()
    with click.progressbar(length=max(count, 1), label="Creating contacts") as bar:
        state = {"done": 0}

        def committed(done):
            db.session.commit()
            bar.update(done - state["done"])
            state["done"] = done

        demo_service.seed_contacts(count, rng, created_meetings, on_batch=committed,
                                   start_serial=rng.randrange(10 ** 6))
    click.echo(f"Created {len(created_meetings)} meetings and {count} contacts.")


group = demo  # the module's one command, registered like the groups
