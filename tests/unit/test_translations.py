"""The catalogs: every translation keeps its placeholders and HTML, nothing is fuzzy, and the
extract/check tools keep translations, drop what the sources lost and report every gap."""
import textwrap
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from crm import i18n_tools
from crm.i18n import DOMAINS, SOURCE_DIR

CATALOGS = sorted(SOURCE_DIR.glob("*/LC_MESSAGES/*.po"))


def _read(path):
    with Path(path).open("rb") as handle:
        return read_po(handle, locale=Path(path).parent.parent.name)


def test_every_domain_has_a_catalog_per_translated_language():
    for domain in DOMAINS:
        assert (SOURCE_DIR / f"{domain}.pot").exists(), domain
        for lang in i18n_tools.TRANSLATED:
            assert i18n_tools.catalog_path(domain, lang).exists(), (domain, lang)


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_translations_keep_the_placeholders_and_html_of_the_original(path):
    wrong = {message.id: reason for message in _read(path)
             if message.id and (reason := i18n_tools.format_problems(message))}
    assert wrong == {}


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_no_catalog_has_a_fuzzy_entry(path):
    catalog = _read(path)
    assert not catalog.fuzzy
    assert [m.id for m in catalog if m.id and m.fuzzy] == []


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_plural_entries_have_every_form_of_the_language(path):
    catalog = _read(path)
    for message in catalog:
        if message.id and message.pluralizable and any(message.string):
            assert len(message.string) == catalog.num_plurals, message.id


@pytest.mark.parametrize(("msgid", "msgstr", "ok"), [
    ("Hello %(name)s", "Прывітанне, %(name)s", True),
    ("Hello %(name)s", "Прывітанне, %(imya)s", False),
    ("Hello %(name)s", "Прывітанне", False),
    ("%(num)d%% done", "%(num)d%% гатова", True),
    ("%(num)d%% done", "%(num)d% гатова", False),
    ("Read <a href=\"%(url)s\">the notice</a>.", "Прачытайце <a href=\"%(url)s\">паведамленне</a>.", True),
    ("Read <a href=\"%(url)s\">the notice</a>.", "Прачытайце <a href=\"%(url)s\">паведамленне.", False),
    ("<strong>Done</strong>", "<em>Гатова</em>", False),
    (("One contact", "%(num)d contacts"), ("%(num)d кантакт", "%(num)d кантакты", "%(num)d кантактаў"), True),
    (("One contact", "%(num)d contacts"), ("Адзін кантакт", "%(num)d кантакты", "%(num)d кантактаў"), False),
    ("Plain", "", True),
])
def test_the_placeholder_check_tells_right_from_wrong(msgid, msgstr, ok):
    assert (i18n_tools.format_problems(Message(msgid, msgstr)) == "") is ok


@pytest.fixture
def project(tmp_path):
    """A tiny project: two domains, sources, configs and an empty translations directory."""
    (tmp_path / "babel").mkdir()
    (tmp_path / "babel" / "messages.cfg").write_text("[ignore: app/public/**]\n[python: app/**.py]\n")
    (tmp_path / "babel" / "public.cfg").write_text("[python: app/public/**.py]\n")
    (tmp_path / "app" / "public").mkdir(parents=True)
    (tmp_path / "app" / "staff.py").write_text(textwrap.dedent('''
        _("Contacts")
        _("Triage")
        ngettext("%(num)d contact", "%(num)d contacts", n)
    '''))
    (tmp_path / "app" / "public" / "join.py").write_text('_("Join us")\n')
    (tmp_path / "translations").mkdir()
    return tmp_path


def _run(project, tool, languages=("be", "pl")):
    return tool(root=project / "translations", sources=project, config_dir=project / "babel",
                domains=("messages", "public"), languages=languages)


def _translate(path, strings):
    catalog = _read(path)
    for message in catalog:
        if message.id in strings or (isinstance(message.id, tuple) and message.id[0] in strings):
            key = message.id if not isinstance(message.id, tuple) else message.id[0]
            message.string = strings[key]
    from babel.messages.pofile import write_po
    with Path(path).open("wb") as handle:
        write_po(handle, catalog, **i18n_tools.WRITE_OPTIONS)


def test_extract_splits_domains_by_file_and_check_lists_every_gap(project):
    written = _run(project, i18n_tools.extract)
    assert len(written) == 6  # two templates, two catalogs each
    messages = _read(project / "translations" / "be" / "LC_MESSAGES" / "messages.po")
    assert {m.id if isinstance(m.id, str) else m.id[0] for m in messages if m.id} == {
        "Contacts", "Triage", "%(num)d contact"}
    assert messages.num_plurals == 3
    public = _read(project / "translations" / "pl" / "LC_MESSAGES" / "public.po")
    assert [m.id for m in public if m.id] == ["Join us"]
    found = _run(project, i18n_tools.problems)
    assert {(p.domain, p.lang, p.kind) for p in found} == {
        ("messages", "be", "untranslated"), ("messages", "pl", "untranslated"),
        ("public", "be", "untranslated"), ("public", "pl", "untranslated")}
    assert len(found) == 8
    assert _run(project, i18n_tools.extract) == []  # nothing changed: nothing rewritten


def test_extract_keeps_translations_drops_lost_strings_and_never_guesses(project):
    _run(project, i18n_tools.extract)
    be = project / "translations" / "be" / "LC_MESSAGES" / "messages.po"
    _translate(be, {"Contacts": "Кантакты", "Triage": "Разбор",
                    "%(num)d contact": ("%(num)d кантакт", "%(num)d кантакты", "%(num)d кантактаў")})
    (project / "app" / "staff.py").write_text('_("Contacts")\n_("Triages")\n')
    _run(project, i18n_tools.extract)
    catalog = _read(be)
    assert catalog.get("Contacts").string == "Кантакты"
    assert catalog.get("Triages").string == ""  # new, similar to a lost string: not guessed
    assert not catalog.get("Triages").fuzzy
    assert catalog.get("Triage") is None and "#~" not in be.read_text()
    kinds = {(p.lang, p.kind, p.msgid) for p in _run(project, i18n_tools.problems) if p.domain == "messages"}
    assert kinds == {("be", "untranslated", "Triages"), ("pl", "untranslated", "Contacts"),
                     ("pl", "untranslated", "Triages")}


def test_check_reports_missing_fuzzy_obsolete_and_broken_entries(project):
    _run(project, i18n_tools.extract)
    be = project / "translations" / "be" / "LC_MESSAGES" / "messages.po"
    _translate(be, {"Contacts": "Кантакты", "Triage": "Разбор",
                    "%(num)d contact": ("%(num)d кантакт", "%(count)d кантакты", "%(num)d кантактаў")})
    catalog = _read(be)
    catalog.get("Contacts").flags.add("fuzzy")
    catalog.add("Gone", "Няма")
    from babel.messages.pofile import write_po
    with be.open("wb") as handle:
        write_po(handle, catalog, **i18n_tools.WRITE_OPTIONS)
    (project / "app" / "staff.py").write_text(
        (project / "app" / "staff.py").read_text() + '_("Arrived later")\n')
    found = {(p.lang, p.kind, p.msgid.split(" (")[0]) for p in _run(project, i18n_tools.problems, ("be",))
             if p.domain == "messages"}
    assert found == {("", "template", "not in template: Arrived later"), ("be", "missing", "Arrived later"),
                     ("be", "fuzzy", "Contacts"), ("be", "obsolete", "Gone"),
                     ("be", "placeholders", "%(num)d contact")}


def test_the_command_exits_1_while_anything_is_missing(project, capsys):
    where = {"root": project / "translations", "sources": project, "config_dir": project / "babel",
             "domains": ("messages", "public"), "languages": ("be",)}
    assert i18n_tools.main(["extract"], **where) == 0
    assert "public.pot" in capsys.readouterr().out
    assert i18n_tools.main(["check"], **where) == 1
    assert "messages/be: untranslated: 'Contacts'" in capsys.readouterr().out
    for domain, strings in (("messages", {"Contacts": "Кантакты", "Triage": "Разбор", "%(num)d contact": (
            "%(num)d кантакт", "%(num)d кантакты", "%(num)d кантактаў")}), ("public", {"Join us": "Далучайцеся"})):
        _translate(project / "translations" / "be" / "LC_MESSAGES" / f"{domain}.po", strings)
    assert i18n_tools.main(["check"], **where) == 0
    assert i18n_tools.main(["nonsense"], **where) == 2


def test_no_catalogue_has_an_untranslated_fuzzy_or_missing_entry():
    """Every string the sources hold (a fresh extraction) is in every language's catalog of its
    domain, translated, not fuzzy, placeholders kept. Extra, no longer used entries are left to
    ``check`` (they harm nothing and vanish at the next ``extract``)."""
    gaps = [str(p) for p in i18n_tools.problems()
            if p.kind in ("missing", "untranslated", "fuzzy", "placeholders")]
    assert gaps == []
