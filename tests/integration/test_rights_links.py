"""The public "my data" page: the same answer and work for any address, mailed links, limits."""
import re
from datetime import timedelta

from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import event, func, select

from crm.extensions import db
from crm.models import AuditEvent, RightsLink, RightsRequest
from crm.models.base import utcnow
from crm.redis_conn import get_redis
from crm.security.blind_index import BlindIndexer
from crm.security.cipher import FieldCipher as Cipher
from tests.integration.rights_helpers import ask, csrf, link_path, new_link, press

KNOWN = "olena.rights@example.org"


def _requests():
    return db.session.scalar(select(func.count()).select_from(RightsRequest))


def test_a_known_address_gets_a_link_in_its_language_that_opens_once(
        client, app, make_contact, smtp_server, run_worker):
    contact = make_contact("Olena Rightsova", email=KNOWN, preferred_locale="uk")
    response = ask(client, "  Olena.Rights@Example.org ", path="/pl/my-data")
    assert response.status_code == 200
    assert _requests() == 1, "the web request only stores the request; a job looks it up"
    log = run_worker()
    assert _requests() == 0, "the typed address is forgotten once the job has run"
    assert len(smtp_server.messages) == 1, log[-3000:]
    message = smtp_server.messages[0]
    assert message["To"].addresses[0].addr_spec == KNOWN
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "Відкрийте" in body, "the mail is in the person's preferred language (uk), not the page's"
    assert "/uk/my-data/link/" in body
    path = link_path(message)
    token = path.rsplit("/", 1)[1]
    stored = db.session.scalars(select(RightsLink.token_hash)).all()
    assert token not in stored and len(stored) == 1, "only the token's hash is stored"

    page = client.get(path)
    assert page.status_code == 200 and "Olena" not in page.get_data(as_text=True), "GET spends nothing"
    assert press(client, path).status_code == 302
    me = client.get("/uk/my-data/me")
    assert me.status_code == 200 and "Olena Rightsova" in me.get_data(as_text=True)
    back = client.get(path)
    assert back.status_code == 302 and back.headers["Location"].endswith("/my-data/me"), \
        "the same browser, its page still open, goes back to it"

    other = app.test_client()
    again = other.get(path)
    assert again.status_code == 410
    assert "вже використано" in again.get_data(as_text=True), "a used link says so clearly"
    assert other.get("/my-data/me").status_code == 410, "another browser has no session"
    views = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "contact.view", AuditEvent.target_id == str(contact.id))).all()
    assert views and all(e.actor_id is None and e.details["by"] == "data_subject" for e in views)


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, smtp_server, run_worker, make_contact):
    make_contact("Someone Else", email="someone.else@example.org")
    known = ask(client, "someone.else@example.org").get_data(as_text=True)
    unknown = ask(client, "nobody.here@example.org").get_data(as_text=True)
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", known) == strip.sub("", unknown)
    run_worker()
    assert [m["To"].addresses[0].addr_spec for m in smtp_server.messages] == ["someone.else@example.org"]
    assert _requests() == 0


class Work:
    """Statements, HMACs, encryptions and jobs done by one request (counted, not timed)."""

    def __init__(self, app, monkeypatch):
        self.statements, self.hmacs, self.encryptions = [], 0, 0
        self.app = app
        original_token, original_encrypt = BlindIndexer.token, Cipher.encrypt

        def token(indexer, *args, **kwargs):
            self.hmacs += 1
            return original_token(indexer, *args, **kwargs)

        def encrypt(cipher, *args, **kwargs):
            self.encryptions += 1
            return original_encrypt(cipher, *args, **kwargs)

        monkeypatch.setattr(BlindIndexer, "token", token)
        monkeypatch.setattr(Cipher, "encrypt", encrypt)
        event.listen(db.engine, "before_cursor_execute", self._statement)

    def _statement(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    def measure(self, action):
        self.statements.clear()
        self.hmacs = self.encryptions = 0
        before = Queue("default", connection=get_redis(self.app), serializer=JSONSerializer).count
        action()
        jobs = Queue("default", connection=get_redis(self.app), serializer=JSONSerializer).count - before
        return list(self.statements), self.hmacs, self.encryptions, jobs

    def close(self):
        event.remove(db.engine, "before_cursor_execute", self._statement)


def test_known_and_unknown_addresses_cost_the_same_work(client, app, make_contact, monkeypatch):
    make_contact("Known Person", email="known.person@example.org", phone="+48 600 555 111")
    pages = {}

    def post(email):
        def action():
            pages[email] = client.post("/my-data", data={"csrf_token": token, "email": email})
        return action

    html = client.get("/my-data").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    work = Work(app, monkeypatch)
    try:
        known = work.measure(post("known.person@example.org"))
        unknown = work.measure(post("unknown.person@example.org"))
    finally:
        work.close()
    assert pages["known.person@example.org"].status_code == pages["unknown.person@example.org"].status_code == 200
    assert known[0] == unknown[0], "the same SQL statements, in the same order"
    assert known[1:] == unknown[1:], f"same HMACs, encryptions and jobs: {known[1:]} vs {unknown[1:]}"
    assert known[3] == 1 and known[1] >= 1 and known[2] >= 1


def test_the_page_is_rate_limited_per_address_and_per_email(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_RIGHTS", "3 per minute")
    codes = [ask(client, f"person{i}@example.org", REMOTE_ADDR="10.1.1.1").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    # One address asked from many clients: the email index's own limit.
    codes = [ask(client, "target@example.org", REMOTE_ADDR=f"10.2.2.{i}").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    assert ask(client, "another@example.org", REMOTE_ADDR="10.3.3.3").status_code == 200
    keys = [k.decode() for k in get_redis(app).scan_iter(match="*")]
    assert not any("target" in k or "example.org" in k or "10.2.2" in k for k in keys), keys


def test_an_expired_link_is_refused_with_a_clear_page(client, make_contact):
    contact = make_contact("Expired Person", email="expired@example.org")
    path = new_link(contact)
    link = db.session.scalars(select(RightsLink)).one()
    link.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    token = csrf(client.get("/my-data").get_data(as_text=True))
    for response in (client.get(path), client.post(path, data={"csrf_token": token})):
        assert response.status_code == 410
        assert "expired" in response.get_data(as_text=True)
    assert db.session.scalars(select(RightsLink)).one().used_at is None


def test_a_made_up_token_is_refused_and_the_session_ends(client, app, make_contact):
    assert client.get("/be/my-data/link/" + "x" * 43).status_code == 410
    assert client.get("/my-data/link/short").status_code == 410
    contact = make_contact("Session Person", email="session@example.org")
    path = new_link(contact)
    assert press(client, path).status_code == 302
    assert client.get("/my-data/me").status_code == 200
    link = db.session.scalars(select(RightsLink)).one()
    link.session_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    ended = client.get("/my-data/me")
    assert ended.status_code == 410 and "Session Person" not in ended.get_data(as_text=True)


def test_invalid_addresses_are_answered_next_to_the_field(client):
    for value in ("", "not an address", "a@b", "x" * 300 + "@example.org"):
        response = ask(client, value)
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert 'class="field-error"' in html and 'aria-invalid="true"' in html
    assert _requests() == 0
