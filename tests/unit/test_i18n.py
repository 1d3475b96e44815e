"""Catalog compilation at start-up: every language compiles, stale ones are redone, fresh ones kept."""
import os

from babel.messages.mofile import read_mo

from crm.i18n import DOMAINS, LANGUAGES, SOURCE_DIR, compile_catalogs


def test_every_language_but_english_has_a_catalog_that_compiles(tmp_path):
    compiled = compile_catalogs(SOURCE_DIR, tmp_path)
    assert sorted(compiled) == sorted(set(LANGUAGES) - {"en"})
    for lang in compiled:
        with (tmp_path / lang / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
            catalog = read_mo(handle)
        assert catalog.get("Page not found").string not in ("", "Page not found"), lang
        assert catalog.get("Sign out").string, lang


def test_only_missing_or_stale_catalogs_are_compiled_again(tmp_path):
    source = tmp_path / "src"
    for lang in ("pl", "uk"):
        (source / lang / "LC_MESSAGES").mkdir(parents=True)
        (source / lang / "LC_MESSAGES" / "messages.po").write_bytes(
            (SOURCE_DIR / lang / "LC_MESSAGES" / "messages.po").read_bytes())
    out = tmp_path / "out"
    assert sorted(compile_catalogs(source, out)) == ["pl", "uk"]
    assert compile_catalogs(source, out) == []
    po = source / "pl" / "LC_MESSAGES" / "messages.po"
    mo = out / "pl" / "LC_MESSAGES" / "messages.mo"
    os.utime(po, (mo.stat().st_mtime + 10, mo.stat().st_mtime + 10))
    assert compile_catalogs(source, out) == ["pl"]
    assert not list(out.rglob("*.tmp"))


def test_every_domain_of_every_language_is_compiled(tmp_path):
    compile_catalogs(SOURCE_DIR, tmp_path)
    for lang in set(LANGUAGES) - {"en"}:
        for domain in DOMAINS:
            assert (tmp_path / lang / "LC_MESSAGES" / f"{domain}.mo").exists(), (lang, domain)
