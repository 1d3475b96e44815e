"""Mail wording that admins may edit: per template and language, checked and versioned.

The default wording is a set of files under ``templates/mail/`` (written by each
feature: ``public/``, ``rights/``, ``staff/``, ``system/``). An admin's edit is a
new ``MailTemplate`` version; the newest one is used, older ones stay for a
revert. Edited text is rendered in a sandboxed Jinja environment that knows
only the variables the default files use, so an edit can neither reach the
app's configuration nor leak a variable the feature never meant to show.
"""
import os
from dataclasses import dataclass

from flask import current_app
from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, select

from ..extensions import db
from ..i18n import html_lang
from ..models import MailTemplate
from ..security import audit

PARTS = {"subject": "subject.txt", "text": "txt", "html": "html"}
_TEXT_ENV = SandboxedEnvironment(autoescape=False, extensions=["jinja2.ext.i18n"])
_HTML_ENV = SandboxedEnvironment(autoescape=True, extensions=["jinja2.ext.i18n"])
# An edit may keep the default files' translated strings ({{ _("...") }}, {% trans %}).
for _env in (_TEXT_ENV, _HTML_ENV):
    _env.install_gettext_callables(lambda text: get_translations().ugettext(text),
                                   lambda one, many, num: get_translations().ungettext(one, many, num),
                                   newstyle=True)
    _env.globals["html_lang"] = html_lang  # <html lang="..."> of the mail's language


class TemplateError(ValueError):
    """An edit that cannot be saved; ``errors`` maps a part to its message."""

    def __init__(self, errors):
        super().__init__("; ".join(str(message) for message in errors.values()))
        self.errors = errors


def file_name(template, part):
    return f"mail/{template}.{PARTS[part]}"


def _mail_root():
    return os.path.join(current_app.jinja_loader.searchpath[0], "mail")


def known_templates():
    """Every template name found under templates/mail/ (those with a subject file)."""
    root = _mail_root()
    names = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".subject.txt"):
                rel = os.path.relpath(os.path.join(folder, name), root)
                names.append(rel[: -len(".subject.txt")].replace(os.sep, "/"))
    return sorted(names)


def default_source(template, part):
    """The file's source of one part, or None (a template may have no HTML file)."""
    try:
        source, _filename, _uptodate = current_app.jinja_loader.get_source(
            current_app.jinja_env, file_name(template, part))
    except Exception:  # noqa: BLE001 - jinja raises TemplateNotFound; any other loader error means "none"
        return None
    return source


def allowed_variables(template):
    """The variables the default files use: an edit may use these and no others."""
    env = current_app.jinja_env
    names = set()
    for part in PARTS:
        source = default_source(template, part)
        if source is not None:
            names |= meta.find_undeclared_variables(env.parse(source))
    return sorted(names - set(env.globals) - {"_", "gettext", "ngettext"})


def current_override(template, locale):
    """The newest edited version of (template, locale), or None when the files apply."""
    row = db.session.scalar(
        select(MailTemplate).where(MailTemplate.template == template, MailTemplate.locale == locale)
        .order_by(MailTemplate.version.desc()).limit(1))
    return None if row is None or row.is_default else row


def editable_parts(template, locale):
    """What the editor starts from: the version in use, else the default files' source."""
    override = current_override(template, locale)
    if override is not None:
        return {part: getattr(override, part) or default_source(template, part) or "" for part in PARTS}
    return {part: default_source(template, part) or "" for part in PARTS}


def versions(template, locale):
    return db.session.scalars(
        select(MailTemplate).where(MailTemplate.template == template, MailTemplate.locale == locale)
        .order_by(MailTemplate.version.desc())).all()


def render_string(source, context, html=False):
    """Render an edited part in the sandbox."""
    env = _HTML_ENV if html else _TEXT_ENV
    return env.from_string(source).render(**context)


def validate(template, parts):
    """Check an edit: Jinja syntax, known variables only. Returns nothing or raises TemplateError."""
    allowed = set(allowed_variables(template))
    errors = {}
    for part, source in parts.items():
        if not source:
            continue
        env = _HTML_ENV if part == "html" else _TEXT_ENV
        try:
            used = meta.find_undeclared_variables(env.parse(source))
        except TemplateSyntaxError as exc:
            errors[part] = _l("line %(line)d: %(problem)s", line=exc.lineno or 0, problem=exc.message)
            continue
        unknown = sorted(used - allowed - set(env.globals))
        if unknown:
            errors[part] = _l("unknown variables: %(names)s", names=", ".join(unknown))
    if parts.get("subject") and "\n" in parts["subject"].strip():
        errors["subject"] = _l("the subject is one line")
    if errors:
        raise TemplateError(errors)


class _Sample(int):
    """A preview's stand-in: prints as ``[name]``, counts as 3 where a number is needed."""

    def __new__(cls, name):
        sample = int.__new__(cls, 3)
        sample.name = name
        return sample

    def __str__(self):
        return f"[{self.name}]"

    def __html__(self):
        return str(self)


def sample_context(template):
    """Stand-in values for a preview: each variable shows its own name."""
    return {name: _Sample(name) for name in allowed_variables(template)}


@dataclass(frozen=True)
class Preview:
    subject: str
    text: str
    html: str


def preview(template, locale, parts):
    """Render an edit (or the files, for empty parts) with sample data."""
    from .mail import one_line, text_as_html

    from flask_babel import force_locale
    from flask import render_template

    from ..i18n import area_of_path, preferring

    context = sample_context(template)
    rendered = {}
    with force_locale(locale), preferring(area_of_path(file_name(template, "text"))):
        for part in PARTS:
            try:
                if parts.get(part):
                    rendered[part] = render_string(parts[part], context, html=part == "html")
                elif default_source(template, part) is not None:
                    rendered[part] = render_template(file_name(template, part), **context)
                else:
                    rendered[part] = None
            except Exception as exc:  # noqa: BLE001 - any render error is the edit's fault: say so
                raise TemplateError({part: _l("cannot be rendered (%(problem)s)",
                                               problem=f"{type(exc).__name__}: {exc}"[:280])}) from None
    html = rendered["html"] if rendered["html"] is not None else text_as_html(rendered["text"] or "")
    return Preview(one_line(rendered["subject"] or ""), rendered["text"] or "", html)


def save_version(template, locale, parts, actor_id):
    """Store an edit as the next version (after ``validate``); empty parts mean the file's."""
    if template not in known_templates():
        raise TemplateError({"template": _l("unknown template")})
    validate(template, parts)
    preview(template, locale, parts)  # renders with sample data, or raises TemplateError
    latest = db.session.scalar(select(func.max(MailTemplate.version)).where(
        MailTemplate.template == template, MailTemplate.locale == locale)) or 0
    row = MailTemplate(template=template, locale=locale, version=latest + 1,
                       subject=(parts.get("subject") or "").strip() or None,
                       text=parts.get("text") or None, html=parts.get("html") or None,
                       updated_by_id=actor_id)
    db.session.add(row)
    db.session.flush()
    audit.record("mail_template.save", "mail_template", row.id, template=template, locale=locale,
                 version=row.version, default=row.is_default)
    return row


def revert(template, locale, version, actor_id):
    """Make an earlier version current again, as a new version (history is never rewritten)."""
    old = db.session.scalar(select(MailTemplate).where(
        MailTemplate.template == template, MailTemplate.locale == locale, MailTemplate.version == version))
    if old is None:
        raise TemplateError({"version": _l("no such version")})
    return save_version(template, locale, {"subject": old.subject, "text": old.text, "html": old.html},
                        actor_id)
