"""The canary of an export: a synthetic, plausible person planted in its file, and tracing it back.

Each export gets a person of its own who exists nowhere else: not in
``contact`` (so no list, count or search can meet them), only sealed on the
``Export`` row, with blind-index tokens of their email and phone. A file
that turns up somewhere, or the canary's address receiving mail, then names
the export: ``trace_file`` reads a CSV or XLSX and ``trace_values`` takes
typed-in addresses or numbers. The email domain and phone prefix are
configurable so an organisation can use a domain and numbers it monitors;
the default phone range (+1 202 555 01xx) is reserved for fiction, so a
leaked canary never rings a real person.
"""
import csv
import io
import json
import random
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from ..extensions import db
from ..models.base import utcnow
from ..models.export import Export
from ..security import blind_index, normalize
from ..security.crypto import crypto

GIVEN = ("Aliaksei", "Andrei", "Anna", "Darya", "Dzmitry", "Hanna", "Ihar", "Katsiaryna", "Maryia", "Mikalai",
         "Natallia", "Pavel", "Siarhei", "Tatsiana", "Uladzimir", "Volha", "Yauhen", "Yuliya", "Kiryl", "Alena",
         "Marta", "Tomasz", "Ksenia", "Artsiom")
FAMILY = ("Kavalenka", "Bandarenka", "Sidarenka", "Novik", "Karpovich", "Lukashevich", "Zhuk", "Rusak",
          "Hrynevich", "Makarevich", "Melnik", "Shved", "Latyshevich", "Kukharchyk", "Dubovik", "Yakimovich")
CITIES = ("Warszawa", "Vilnius", "Białystok", "Kraków", "Wrocław", "Gdańsk", "Poznań", "Łódź", "Rīga")
LANGUAGES = ("be, ru, pl", "be, en", "ru, pl", "be, ru, en", "pl, en")
SKILLS = ("driving licence B", "first aid", "video editing", "logistics", "translation", "")
MAX_TRIES = 50


def _phone(prefix, rng, region):
    """A valid number starting with ``prefix`` (digits appended until phonenumbers accepts it)."""
    for _ in range(MAX_TRIES):
        for extra in range(1, 8):
            candidate = prefix + "".join(rng.choice("0123456789") for _ in range(extra))
            e164 = normalize.normalize_phone(candidate, region)
            if e164:
                return e164
    raise RuntimeError("EXPORT_CANARY_PHONE_PREFIX yields no valid phone number")


def make_canary(columns, rng=None):
    """A synthetic person (dict of column -> text) not used by any other export."""
    rng = rng or random.SystemRandom()
    config = current_app.config
    domain = config.get("EXPORT_CANARY_DOMAIN", "example.net")
    prefix = config.get("EXPORT_CANARY_PHONE_PREFIX", "+120255501")
    for _ in range(MAX_TRIES):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        email = f"{given}.{family}{rng.randrange(10, 10000)}@{domain}".lower()
        if not trace_values([email]):
            break
    for _ in range(MAX_TRIES):
        phone = _phone(prefix, rng, crypto().phone_region)
        if not trace_values([phone]):
            break
    # else the prefix's range is used up (the default has 100 numbers): the phone is shared
    # with an earlier export's canary, and the email alone names this one.
    created = utcnow() - timedelta(days=rng.randrange(3, 120))
    return {
        "full_name": f"{given} {family}", "email": email, "phone": phone,
        "messenger": f"@{given.lower()}_{family.lower()[:4]}{rng.randrange(10, 100)}",
        "city": rng.choice(CITIES), "country": "", "languages": rng.choice(LANGUAGES),
        "skills": rng.choice(SKILLS), "notes": "", "paths": "volunteering: interested", "status": "new",
        "source": "meeting", "created": f"{created:%Y-%m-%d}", "meetings": "",
    }


def seal(export, canary):
    """Store ``canary`` on ``export``: sealed, with email and phone tokens under the active key."""
    indexer = crypto().indexer
    export.canary = json.dumps(canary, sort_keys=True, ensure_ascii=False)
    export.canary_key_id = indexer.keyring.active_id
    export.canary_email_token = indexer.token(blind_index.EMAIL, normalize.normalize_email(canary["email"]))
    export.canary_phone_token = indexer.token(blind_index.PHONE, canary["phone"])


def canary_of(export):
    return json.loads(export.canary) if isinstance(export.canary, str) else None


def _candidates(emails, phones):
    indexer = crypto().indexer
    live = list(indexer.keyring.ids())
    clauses = [Export.canary_key_id.not_in(live)]  # tokens under a retired key: confirm by decryption
    for key_id in live:
        email_tokens = {indexer.token(blind_index.EMAIL, e, key_id) for e in emails}
        phone_tokens = {indexer.token(blind_index.PHONE, p, key_id) for p in phones}
        if email_tokens:
            clauses.append(and_(Export.canary_key_id == key_id, Export.canary_email_token.in_(email_tokens)))
        if phone_tokens:
            clauses.append(and_(Export.canary_key_id == key_id, Export.canary_phone_token.in_(phone_tokens)))
    return db.session.scalars(select(Export).where(Export.canary_ct.is_not(None), or_(*clauses)))


def _readings(values):
    region = crypto().phone_region
    emails, phones = set(), set()
    for raw in values:
        text = str(raw or "").strip().lstrip("'").strip()
        if not text or len(text) > 320:
            continue
        if "@" in text:
            email = normalize.normalize_email(text)
            if email:
                emails.add(email)
        elif sum(ch.isdigit() for ch in text) >= 6:
            phone = normalize.normalize_phone(text, region)
            if phone:
                phones.add(phone)
    return emails, phones


def trace_values(values):
    """Exports whose canary has one of these emails or phone numbers (collisions dropped)."""
    emails, phones = _readings(values)
    if not emails and not phones:
        return []
    found = []
    for export in _candidates(emails, phones):
        canary = canary_of(export)
        if canary and (normalize.normalize_email(canary["email"]) in emails or canary["phone"] in phones):
            found.append(export)
    return sorted(found, key=lambda e: e.created_at)


@dataclass
class TraceResult:
    exports: list
    cells: int


def file_cells(data, max_cells=2_000_000):
    """Every cell of a CSV or XLSX file as text (XLSX recognised by its zip signature)."""
    cells = []
    if data[:2] == b"PK":
        from openpyxl import load_workbook

        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for sheet in workbook.worksheets:
                for row in sheet.iter_rows(values_only=True):
                    cells.extend(str(v) for v in row if v is not None)
                    if len(cells) > max_cells:
                        return cells
        finally:
            workbook.close()
        return cells
    for encoding in ("utf-8-sig", "utf-16", "cp1251"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = data.decode("latin-1")
    for delimiter in (",", ";", "\t"):
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        for row in reader:
            cells.extend(row)
            if len(cells) > max_cells:
                return cells
    return cells


def trace_file(data):
    """Which export a leaked CSV/XLSX file comes from (by the canary rows it holds)."""
    cells = file_cells(data)
    return TraceResult(trace_values(cells), len(cells))
