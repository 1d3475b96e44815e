"""Which language a request gets: the URL's ``lang`` > the ``lang`` cookie > Accept-Language > English;
links to the same page in another language; ``url_for`` filling in the page's language."""
import pytest
from flask import Flask, url_for
from flask_babel import get_locale, gettext

from crm import i18n


@pytest.fixture(scope="module")
def probe_app(tmp_path_factory):
    """A bare Flask app with our i18n set-up and three routes that report what it chose."""
    app = Flask(__name__)
    app.config.update(INSTANCE_DIR=str(tmp_path_factory.mktemp("instance")), SERVER_NAME="muster.test")
    i18n.init_app(app)

    @app.get("/<lang>/probe/<int:item>")
    def localized(lang, item):
        links = {code: url for code, _name, url, _current in i18n.language_links()}
        return {"locale": str(get_locale()), "links": links, "here": url_for("localized", item=item),
                "text": gettext("Page not found")}

    @app.get("/probe")
    def plain():
        return {"locale": str(get_locale()), "url_in_pl": i18n.url_in_language("pl"),
                "localized": url_for("localized", item=7), "text": gettext("Page not found")}

    return app


def _get(app, path, cookie=None, accept=None):
    client = app.test_client()
    if cookie:
        client.set_cookie(i18n.COOKIE_NAME, cookie, domain="muster.test")
    headers = {"Accept-Language": accept} if accept else {}
    return client.get(path, headers=headers).get_json()


@pytest.mark.parametrize(("path", "cookie", "accept", "expected"), [
    ("/probe", None, None, "en"),
    ("/probe", None, "pl-PL,pl;q=0.9", "pl"),
    ("/probe", None, "de, fr;q=0.5", "en"),
    ("/probe", "uk", "pl", "uk"),          # cookie beats the browser
    ("/probe", "xx", "ru", "ru"),          # an unknown cookie is ignored
    ("/be/probe/1", "uk", "pl", "be"),     # the URL beats the cookie
    ("/zz/probe/1", "uk", "pl", "uk"),     # an unknown URL language is ignored
])
def test_url_then_cookie_then_browser(probe_app, path, cookie, accept, expected):
    assert _get(probe_app, path, cookie, accept)["locale"] == expected


def test_all_three_domains_are_loaded_together(probe_app):
    assert _get(probe_app, "/ru/probe/1")["text"] == "Страница не найдена"  # a "messages" string
    assert probe_app.config["BABEL_DOMAIN"].split(";") == list(i18n.DOMAINS)


def test_links_to_the_same_page_in_other_languages_keep_path_and_query(probe_app):
    body = _get(probe_app, "/uk/probe/42?page=2")
    assert body["links"]["pl"] == "/pl/probe/42?page=2"
    assert body["links"]["en"] == "/en/probe/42?page=2"
    assert body["links"]["uk"] == "/uk/probe/42?page=2"
    assert set(body["links"]) == set(i18n.LANGUAGES)
    assert body["here"] == "/uk/probe/42"  # url_for keeps the page's language


def test_pages_without_a_language_in_the_url_offer_no_link_and_url_for_fills_the_language(probe_app):
    body = _get(probe_app, "/probe", cookie="be")
    assert body["url_in_pl"] is None
    assert body["localized"] == "/be/probe/7"


@pytest.mark.parametrize(("lang", "day", "moment", "number"), [
    ("en", "29 Nov 2026", "29 Nov 2026, 14:05", "1,234,567"),
    ("be", "29 ліс 2026 г.", "29 ліс 2026 г., 14:05", "1 234 567"),
    ("ru", "29 нояб. 2026 г.", "29 нояб. 2026 г., 14:05", "1 234 567"),
    ("uk", "29 лист. 2026 р.", "29 лист. 2026 р., 14:05", "1 234 567"),
    ("pl", "29 lis 2026", "29 lis 2026, 14:05", "1 234 567"),
])
def test_dates_and_numbers_follow_the_page_language(probe_app, lang, day, moment, number):
    from datetime import UTC, date, datetime, timedelta, timezone

    env = probe_app.jinja_env

    def render(source, **values):  # CLDR puts no-break spaces in dates and numbers
        return env.from_string(source).render(**values).replace("\u202f", " ").replace("\xa0", " ")

    with probe_app.test_request_context(f"/{lang}/probe/1"):
        assert render("{{ d|day }}", d=date(2026, 11, 29)) == day
        # an aware time is shown as UTC wall time; a naive one as it is
        aware = datetime(2026, 11, 29, 16, 5, 9, tzinfo=timezone(timedelta(hours=2)))
        assert render("{{ t|moment }}", t=aware) == moment
        assert render("{{ t|moment }}", t=datetime(2026, 11, 29, 14, 5)) == moment
        assert render("{{ t|moment(seconds=True) }}", t=datetime(2026, 11, 29, 14, 5, 9, tzinfo=UTC)).endswith("14:05:09")
        assert render("{{ n|number }}", n=1234567) == number
        assert render("[{{ n|day }}{{ n|moment }}{{ n|number }}]", n=None) == "[]"


def _catalog(path, lang, strings):
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    catalog = Catalog(locale=lang)
    for msgid, msgstr in strings.items():
        catalog.add(msgid, msgstr)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog)


@pytest.fixture
def overlapping_app(tmp_path, monkeypatch):
    """Catalogs where all three domains translate "Withdrawn" and "Only staff" is in one only."""
    from flask import Blueprint

    source = tmp_path / "translations"
    _catalog(source / "ru/LC_MESSAGES/messages.po", "ru", {"Withdrawn": "Самоотвод", "Only staff": "Только сотрудники"})
    _catalog(source / "ru/LC_MESSAGES/public.po", "ru", {"Withdrawn": "Отказ"})
    _catalog(source / "ru/LC_MESSAGES/rights.po", "ru", {"Withdrawn": "Вы отказались"})
    monkeypatch.setattr(i18n, "SOURCE_DIR", source)
    app = Flask(__name__)
    app.config.update(INSTANCE_DIR=str(tmp_path / "instance"))
    i18n.init_app(app)
    for area in ("public", "rights", "triage"):
        blueprint = Blueprint(area, __name__, url_prefix=f"/{area}")
        blueprint.add_url_rule("/<lang>", "page", lambda lang: f"{gettext('Withdrawn')}|{gettext('Only staff')}")
        app.register_blueprint(blueprint)
    return app


def test_where_domains_overlap_the_pages_own_area_wins(overlapping_app):
    client = overlapping_app.test_client()
    assert client.get("/triage/ru").get_data(as_text=True) == "Самоотвод|Только сотрудники"
    assert client.get("/public/ru").get_data(as_text=True) == "Отказ|Только сотрудники"
    assert client.get("/rights/ru").get_data(as_text=True) == "Вы отказались|Только сотрудники"
    assert client.get("/triage/ru").get_data(as_text=True) == "Самоотвод|Только сотрудники"  # no leftover


def test_mails_rendered_outside_a_request_prefer_their_templates_area(overlapping_app):
    from flask_babel import force_locale

    with overlapping_app.app_context(), force_locale("ru"):
        with i18n.preferring(i18n.area_of_path("mail/rights/link.txt")):
            assert gettext("Withdrawn") == "Вы отказались"
        with i18n.preferring(i18n.area_of_path("mail/staff/daily_digest.txt")):
            assert gettext("Withdrawn") == "Самоотвод"
        with i18n.preferring(i18n.area_of_path("mail/public/join_confirm.txt")):
            assert gettext("Withdrawn") == "Отказ"


@pytest.mark.parametrize(("path", "area"), [
    ("public/join.html", "public"), ("mail/public/join_confirm.txt", "public"), ("crm/public/forms.py", "public"),
    ("templates/rights/manage.html", "rights"), ("mail/rights/link.txt", "rights"), ("crm/rights/views.py", "rights"),
    ("contacts/detail.html", "messages"), ("mail/staff/daily_digest.txt", "messages"), ("crm/core/views.py", "messages"),
])
def test_the_area_of_a_file_follows_the_extraction_configs(path, area):
    assert i18n.area_of_path(path) == area
