"""Catalog maintenance: ``python -m crm.i18n_tools extract`` and ``python -m crm.i18n_tools check``.

``extract`` reads the sources of each gettext domain (``babel/<domain>.cfg``),
writes ``translations/<domain>.pot`` and brings every language's
``translations/<lang>/LC_MESSAGES/<domain>.po`` in line with it: translations of
strings still in use are kept, new strings arrive untranslated (never guessed
by fuzzy matching), strings no longer in the sources are dropped. Files whose
content did not change are not rewritten (dates in the header do not count).

``check`` extracts afresh in memory and lists, per domain and language, every
string that is missing from a catalog, untranslated, fuzzy, obsolete, or whose
translation does not keep the placeholders and HTML tags of the original.
It exits 1 when there is anything to list; ``problems()`` returns the same list
for tests.
"""
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from .i18n import DOMAINS, LANGUAGES, SOURCE_DIR

ROOT = SOURCE_DIR.parent
CONFIG_DIR = ROOT / "babel"
TRANSLATED = tuple(lang for lang in LANGUAGES if lang != "en")
KEYWORDS = {
    "_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3), "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
}
PROJECT = "Muster"
# How .po/.pot files are written: sorted, without source locations, so that a
# moved line or a parallel edit elsewhere does not touch the catalogs.
WRITE_OPTIONS = {"width": 76, "no_location": True, "sort_output": True, "ignore_obsolete": True}
_VOLATILE_HEADER = re.compile(r'^"(POT-Creation-Date|PO-Revision-Date): .*\\n"\n', re.MULTILINE)
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)\b[^>]*?/?>")


@dataclass(frozen=True, order=True)
class Problem:
    domain: str
    lang: str  # "" for the template itself
    kind: str  # missing, untranslated, fuzzy, obsolete, placeholders, template
    msgid: str

    def __str__(self):
        where = f"{self.domain}/{self.lang}" if self.lang else f"{self.domain}.pot"
        return f"{where}: {self.kind}: {self.msgid!r}"


def template_path(domain, root=SOURCE_DIR):
    return Path(root) / f"{domain}.pot"


def catalog_path(domain, lang, root=SOURCE_DIR):
    return Path(root) / lang / "LC_MESSAGES" / f"{domain}.po"


def extract_template(domain, sources=ROOT, config_dir=CONFIG_DIR):
    """The catalog template of ``domain`` as found in the sources right now."""
    with (Path(config_dir) / f"{domain}.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    template = Catalog(project=PROJECT, domain=domain, copyright_holder="the Muster authors",
                       fuzzy=False)
    found = extract_from_dir(str(sources), method_map, options_map, keywords=KEYWORDS,
                             comment_tags=("TRANSLATORS:",), strip_comment_tags=True)
    for filename, lineno, message, comments, context in found:
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def _read(path, lang=None):
    with Path(path).open("rb") as handle:
        return read_po(handle, locale=lang)


def _render(catalog):
    out = io.BytesIO()
    write_po(out, catalog, **WRITE_OPTIONS)
    return out.getvalue()


def _write_if_changed(path, content):
    """Write ``content`` unless the file already says the same (header dates aside)."""
    path = Path(path)
    if path.exists():
        old = path.read_bytes().decode("utf-8")
        if _VOLATILE_HEADER.sub("", old) == _VOLATILE_HEADER.sub("", content.decode("utf-8")):
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return True


def _new_catalog(domain, lang):
    catalog = Catalog(locale=lang, domain=domain, project=PROJECT, copyright_holder="the Muster authors",
                      last_translator="Muster team", language_team=lang, fuzzy=False)
    return catalog


def extract(root=SOURCE_DIR, sources=ROOT, config_dir=CONFIG_DIR, domains=DOMAINS, languages=TRANSLATED):
    """Regenerate every template and update every catalog; returns the paths rewritten."""
    written = []
    for domain in domains:
        template = extract_template(domain, sources, config_dir)
        if _write_if_changed(template_path(domain, root), _render(template)):
            written.append(template_path(domain, root))
        for lang in languages:
            path = catalog_path(domain, lang, root)
            catalog = _read(path, lang) if path.exists() else _new_catalog(domain, lang)
            catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
            catalog.fuzzy = False
            if _write_if_changed(path, _render(catalog)):
                written.append(path)
    return written


def _tokens(text, pattern):
    return sorted(match.group(0) if pattern is _PLACEHOLDER else match.group(0).split()[0].rstrip(">/")
                  for match in pattern.finditer(text or ""))


def format_problems(message):
    """Why the translation of ``message`` does not keep its placeholders or HTML tags ("" if it does)."""
    if isinstance(message.id, (list, tuple)):
        originals = [t for t in message.id if t]
        translations = [t for t in message.string if t]
    else:
        originals = [message.id]
        translations = [message.string] if message.string else []
    if not translations:
        return ""
    wanted = set()
    for original in originals:
        wanted.update(_tokens(original, _PLACEHOLDER))
    # Without a %-named placeholder only the plural form may hold %d (English "One item");
    # a translation's every form must carry all names, since its first form serves 21, 31...
    reasons = []
    for text in translations:
        got = set(_tokens(text, _PLACEHOLDER))
        if got != wanted:
            reasons.append(f"placeholders {sorted(got)} instead of {sorted(wanted)}")
        if _tokens(text, _TAG) != _tokens(originals[-1], _TAG):
            reasons.append(f"HTML tags {_tokens(text, _TAG)} instead of {_tokens(originals[-1], _TAG)}")
    return "; ".join(dict.fromkeys(reasons))


def _msgid(message):
    return message.id[0] if isinstance(message.id, (list, tuple)) else message.id


def problems(root=SOURCE_DIR, sources=ROOT, config_dir=CONFIG_DIR, domains=DOMAINS, languages=TRANSLATED):
    """Everything between the sources and a complete, correct set of catalogs."""
    found = []
    for domain in domains:
        template = extract_template(domain, sources, config_dir)
        wanted = {(m.id if not isinstance(m.id, (list, tuple)) else m.id[0], m.context)
                  for m in template if m.id}
        pot = template_path(domain, root)
        if not pot.exists():
            found.append(Problem(domain, "", "template", "(no template file)"))
        else:
            have = {(_msgid(m), m.context) for m in _read(pot) if m.id}
            found += [Problem(domain, "", "template", f"not in template: {key[0]}") for key in wanted - have]
            found += [Problem(domain, "", "template", f"no longer in sources: {key[0]}") for key in have - wanted]
        for lang in languages:
            path = catalog_path(domain, lang, root)
            if not path.exists():
                found += [Problem(domain, lang, "missing", key[0]) for key in wanted]
                continue
            catalog = _read(path, lang)
            present = {}
            for message in catalog:
                if message.id:
                    present[(_msgid(message), message.context)] = message
            for key in wanted - present.keys():
                found.append(Problem(domain, lang, "missing", key[0]))
            for key in present.keys() - wanted:
                found.append(Problem(domain, lang, "obsolete", key[0]))
            for message in catalog.obsolete.values():
                found.append(Problem(domain, lang, "obsolete", _msgid(message)))
            for key, message in present.items():
                if message.fuzzy:
                    found.append(Problem(domain, lang, "fuzzy", key[0]))
                strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
                if not all(strings):
                    found.append(Problem(domain, lang, "untranslated", key[0]))
                reason = format_problems(message)
                if reason:
                    found.append(Problem(domain, lang, "placeholders", f"{key[0]} ({reason})"))
    return sorted(found)


def main(argv=None, **where):
    """The command line; ``where`` (root, sources, config_dir, ...) points it elsewhere, for tests."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["extract"]:
        for path in extract(**where):
            print(f"updated {path}")
        return 0
    if argv[:1] == ["check"]:
        listed = problems(**where)
        for problem in listed:
            print(problem)
        counts = {}
        for problem in listed:
            counts[(problem.domain, problem.lang or "pot")] = counts.get((problem.domain, problem.lang or "pot"), 0) + 1
        for (domain, lang), count in sorted(counts.items()):
            print(f"{domain}/{lang}: {count} problem(s)", file=sys.stderr)
        print("catalogs complete" if not listed else f"{len(listed)} problem(s)", file=sys.stderr)
        return 1 if listed else 0
    print("usage: python -m crm.i18n_tools extract|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
