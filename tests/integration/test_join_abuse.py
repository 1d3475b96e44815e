"""Anti-abuse on the join form: honeypot, minimum fill time, per-IP and per-email limits, CSRF."""
import time

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import Outbox, PendingRegistration
from crm.public import antibot
from crm.redis_conn import get_redis
from tests.integration.join_helpers import form_tokens, quick_forms, submit, valid_answers  # noqa: F401


def stored():
    db.session.expire_all()
    return (db.session.scalar(select(func.count()).select_from(PendingRegistration)),
            db.session.scalar(select(func.count()).select_from(Outbox)))


@pytest.mark.usefixtures("quick_forms")
def test_a_filled_honeypot_gets_the_thank_you_page_and_stores_nothing(client):
    response = submit(client, website="http://spam.example")
    assert response.status_code == 302 and response.headers["Location"].endswith("/join/thanks")
    assert stored() == (0, 0)


def test_a_form_sent_too_fast_is_shown_again_and_stores_nothing(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "JOIN_MIN_FILL_SECONDS", 3)
    response = submit(client, "/pl/join")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'class="notice" role="alert"' in html and 'value="Alesia Testova"' in html
    assert stored() == (0, 0)

    csrf, _ = form_tokens(client, "/pl/join")
    human = antibot.fill_token(at=time.time() - 40)
    response = client.post("/pl/join", data={**valid_answers(), "csrf_token": csrf, "started": human})
    assert response.status_code == 302 and stored() == (1, 1)


@pytest.mark.parametrize("started", ["", "forged", "MTIz.forged-signature",
                                     "stale"])
def test_a_missing_forged_or_day_old_fill_token_is_refused(app, client, started):
    csrf, _ = form_tokens(client)
    if started == "stale":
        started = antibot.fill_token(at=time.time() - 2 * 24 * 3600)
    response = client.post("/join", data={**valid_answers(), "csrf_token": csrf, "started": started})
    assert response.status_code == 400 and stored() == (0, 0)


@pytest.mark.usefixtures("quick_forms")
def test_posts_are_rate_limited_per_address(app, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_JOIN", "3 per minute")
    flooder = app.test_client()
    flooder.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    statuses = [submit(flooder, email=f"flood{i}@example.org").status_code for i in range(5)]
    assert statuses == [302, 302, 302, 429, 429]
    page = submit(flooder, "/ru/join", email="flood9@example.org")
    assert page.status_code == 429 and "Слишком много попыток" in page.get_data(as_text=True)
    assert stored() == (3, 3)
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.4"
    assert submit(other, email="neighbour@example.org").status_code == 302
    keys = [k.decode() for k in get_redis(app).keys("*")]
    assert not [k for k in keys if "203.0.113.9" in k or "flood" in k], "no address in Redis keys"


@pytest.mark.usefixtures("quick_forms")
def test_one_email_gets_a_few_mails_then_the_same_page_and_nothing_more(app, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_JOIN_EMAIL", "2 per hour")
    answers = []
    for n in range(4):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{n + 1}"
        answers.append(submit(client, email="Victim@Example.org" if n % 2 else "victim@example.org"))
    assert {(r.status_code, r.headers["Location"]) for r in answers} == {(302, "/en/join/thanks")}
    assert stored() == (2, 2), "no more mail to one address than the limit"
    keys = [k.decode() for k in get_redis(app).keys("*")]
    assert not [k for k in keys if "victim" in k.lower()]
    assert [k for k in keys if "/join/email-" in k], "the counter is keyed by the index token"


def test_a_post_without_a_csrf_token_is_refused(app, client):
    _, started = form_tokens(client)
    response = client.post("/be/join", data={**valid_answers(), "started": started})
    assert response.status_code == 400
    assert stored() == (0, 0)
