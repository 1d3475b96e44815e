"""No enumeration through the join form: the same work whether or not the person is known.

Timing is not asserted (machines are shared and noisy; bench/join_load.py prints the
comparison). Instead each step's work is counted, by kind: SQL statements (verb and
table), jobs queued (function and queue), encryptions, decryptions and blind-index
HMACs. A known person and a stranger must cost exactly the same, and get the same answer.
"""
import re
from collections import Counter
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from crm.extensions import db
from crm.jobs import get_queue
from crm.models import PendingRegistration
from crm.security.blind_index import BlindIndexer
from crm.security.cipher import FieldCipher
from crm.services import registration
from tests.integration.join_helpers import form_tokens, press_confirm, quick_forms, valid_answers  # noqa: F401

pytestmark = pytest.mark.usefixtures("quick_forms")

TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)


def statement_kind(sql):
    verb = sql.split(None, 1)[0].upper()
    tables = sorted(set(TABLE.findall(sql)))
    return verb, tuple(tables)


@contextmanager
def counted_work():
    """Count SQL statements, crypto calls and queued jobs inside the block."""
    work = Counter()
    patch = pytest.MonkeyPatch()

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        work[("sql",) + statement_kind(statement)] += 1

    def counting(name, original):
        def wrapper(*args, **kwargs):
            work[("crypto", name)] += 1
            return original(*args, **kwargs)
        return wrapper

    patch.setattr(FieldCipher, "encrypt", counting("encrypt", FieldCipher.encrypt))
    patch.setattr(FieldCipher, "decrypt", counting("decrypt", FieldCipher.decrypt))
    patch.setattr(BlindIndexer, "token", counting("hmac", BlindIndexer.token))
    before = {q: len(get_queue(q).get_jobs()) for q in ("default", "mail")}
    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        yield work
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)
        patch.undo()
    for queue in ("default", "mail"):
        for job in get_queue(queue).get_jobs()[before[queue]:]:
            work[("job", queue, job.func_name)] += 1


def submit_counted(app, **answers):
    client = app.test_client()
    csrf, started = form_tokens(client, "/pl/join")
    data = {"csrf_token": csrf, "started": started, **valid_answers(**answers)}
    with counted_work() as work:
        response = client.post("/pl/join", data=data)
    return response, work


KNOWN = {"full_name": "Known Person", "email": "known.person@example.org", "phone": "+48 600 111 222"}
STRANGER = {"full_name": "Other Person", "email": "other.person@example.org", "phone": "+48 600 333 444"}


def test_submitting_a_known_person_costs_exactly_what_a_stranger_costs(app, make_contact):
    make_contact(KNOWN["full_name"], email=KNOWN["email"], phone=KNOWN["phone"], paths=("volunteering",))
    submit_counted(app, email="warm.up@example.org")  # first-request costs out of the way

    known_response, known = submit_counted(app, **KNOWN)
    stranger_response, stranger = submit_counted(app, **STRANGER)

    assert known_response.status_code == stranger_response.status_code == 302
    assert known_response.headers["Location"] == stranger_response.headers["Location"]
    assert known == stranger, f"known: {sorted(known.items())}\nstranger: {sorted(stranger.items())}"
    # The count is of real work (a broken counter would make the comparison vacuous).
    assert known[("crypto", "encrypt")] >= 12 and known[("crypto", "hmac")] >= 2
    assert known[("job", "mail", "workers.jobs.send_mail")] == 1
    assert any(key[:2] == ("sql", "INSERT") and "pending_registration" in key[2] for key in known)


def test_confirming_costs_the_same_for_a_known_person(app, make_contact):
    make_contact(KNOWN["full_name"], email=KNOWN["email"], phone=KNOWN["phone"])
    tokens = {}
    for name, answers in (("warm", {"email": "warm.up@example.org"}), ("known", KNOWN), ("stranger", STRANGER)):
        submit_counted(app, **answers)
        pending = db.session.scalars(
            select(PendingRegistration).order_by(PendingRegistration.created_at.desc())).first()
        token = f"{name}-confirm-token-" + "q" * 20
        pending.token_hash = registration.hash_token(token)
        db.session.commit()
        tokens[name] = token

    results = {}
    for name in ("warm", "known", "stranger"):
        client = app.test_client()
        url = f"/pl/join/confirm/{tokens[name]}"
        page = client.get(url)
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        with counted_work() as work:
            response = client.post(url, data={"csrf_token": csrf})
        page = response.get_data(as_text=True).replace(tokens[name], "TOKEN")  # the switcher links here
        results[name] = (response.status_code, page, work)

    assert results["known"][0] == results["stranger"][0] == 200
    assert results["known"][1] == results["stranger"][1], "the same page, byte for byte"
    assert results["known"][2] == results["stranger"][2]
    assert results["known"][2][("job", "default", "workers.jobs.complete_registration")] == 1
    assert press_confirm(app.test_client(), f"/pl/join/confirm/{tokens['known']}").status_code == 404
