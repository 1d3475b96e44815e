"""Staff mails are rendered in the recipient's language, say so in <html lang>, and use the
staff wording even where another domain words the same msgid differently."""
import pytest

from crm.services import mail_templates
from crm.services.mail import render_mail

STAFF_MAILS = ("staff/daily_digest", "staff/overdue_reminder", "staff/weekly_summary", "system/test_message")


@pytest.mark.parametrize("template", STAFF_MAILS)
@pytest.mark.parametrize("lang", ["be", "ru", "uk", "pl", "en"])
def test_staff_mails_declare_and_use_their_language(app, template, lang):
    # counts are numbers (the templates format them with %d), links and days are text
    context = {name: (value if ("url" in name or name == "day") else 3)
               for name, value in mail_templates.sample_context(template).items()}
    with app.test_request_context():
        subject, text, html = render_mail(template, lang, context)
    assert f'<html lang="{lang}">' in html
    assert subject and text.strip()


def test_a_staff_mail_is_translated(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        subject, text, _html = render_mail("system/test_message", "pl", mail_templates.sample_context("system/test_message"))
    assert subject == "Wiadomość testowa"
    assert "To wiadomość testowa" in text
