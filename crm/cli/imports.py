"""``flask crm import PATH``: the wizard's import, for operators, in this process."""
import json
import sys

import click

from ..extensions import db
from ..services import imports
from . import crm_group, operator_command


@crm_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--meeting", "meeting_id", help="Meeting id to record attendance at.")
@click.option("--region", help="Phone region for numbers without a country code (e.g. PL, BY, LT).")
@click.option("--encoding", default="auto", show_default=True, help="Text encoding of a CSV (auto detects).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object and nothing else.")
@operator_command
def import_command(path, meeting_id, region, encoding, as_json):
    """Import a sign-up sheet (CSV or XLSX) with its columns guessed from the header."""
    with open(path, "rb") as source:
        run = imports.upload(source, path, owner=None, encoding=encoding)
    if not run.mapping:
        raise click.ClickException("no column header was recognised: use the import page to map the columns")
    imports.configure(run, run.mapping, meeting_id=meeting_id, region=region)
    run.status = "running"
    run_id = run.id
    db.session.commit()  # the run exists before its first batch: a crash can be resumed
    show_bar = not as_json and sys.stderr.isatty()
    with click.progressbar(length=run.total, label="importing", file=sys.stderr) if show_bar else _Quiet() as bar:
        done = 0
        for current in imports.process(run_id, operator=True):
            db.session.commit()
            bar.update(current.done - done)
            done = current.done
    run = imports.get_run(run_id)
    summary = imports.summary(run)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(", ".join(f"{key}: {value}" for key, value in summary.items()))


class _Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass
