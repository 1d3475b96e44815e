"""Mail leaves plaintext only at the SMTP server: never in the database, Redis, logs or worker output."""
import secrets

from crm.extensions import db
from crm.services import mail, mail_templates
from tests.integration.test_leak_scan import hits, scan_everything, sql_logged  # noqa: F401 (fixture)


def test_no_mail_marker_outside_the_smtp_server(sql_logged, app, backend, backend_urls, instance_dir,  # noqa: F811
                                                captured_logs, smtp_server, run_worker):
    token = secrets.token_hex(6)
    good, bad = f"mrkgood{token}@example.org", f"mrkbad{token}@example.org"
    reference = f"MrkBody{token}"
    mail_templates.save_version("system/test_message", "en",  # the subject carries the marker too
                                {"subject": "Note {{ reference }}", "text": "", "html": ""}, None)
    db.session.commit()
    smtp_server.reject_rcpt[bad] = 550
    for key, to in (("leak:good", good), ("leak:bad", bad)):
        mail.queue_mail(key=key, kind="system.test", to=to, template="system/test_message",
                        context={"reference": reference})
    db.session.commit()
    outputs = [run_worker("mail")]
    assert [m["To"] for m in smtp_server.messages] == [good]
    assert smtp_server.messages[0]["Subject"] == f"Note {reference}"  # the markers travel, to the server only

    needles = {needle.lower() for needle in (good, bad, reference, f"mrkgood{token}", f"mrkbad{token}")}
    needles |= {n.encode().hex() for n in list(needles)}
    stores = scan_everything(backend, backend_urls[0], captured_logs, outputs, instance_dir)
    found = {store: hits(blob, needles) for store, blob in stores.items()}
    assert not any(found.values()), found
