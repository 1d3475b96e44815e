"""Finding, for a batch of parsed rows, the contacts they already are.

One query per index for the whole batch (the email and phone tokens ``import_prepare``
computed, then name-word tokens for rows with a city and neither email nor phone), then the candidates' ciphertexts
are loaded (no ORM objects), the compared fields decrypted and compared exactly: same email, same phone, or every name word
(Cyrillic or Latin) and the same city. Contacts the importer may not see are
never matched (the row becomes a new contact, which a cleared coordinator can
merge), so an import cannot probe for hidden people.
"""
from collections import defaultdict

from sqlalchemy import and_, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Contact, ContactIndex, ImportRow
from ..models.bulk import among, core_rows
from ..security import blind_index, permissions
from ..security.fields import UNREADABLE
from .import_rows import same_words
from .match_keys import SealedContact, email_key, load_sealed, phone_key

CHUNK = 2000


def _token_chunks(tokens):
    """(key_id, up to CHUNK sorted tokens) for ``tokens`` {(key_id, token)}: one IN list each."""
    by_key = defaultdict(set)
    for key_id, token in tokens:
        by_key[key_id].add(token)
    for key_id, values in by_key.items():
        values = sorted(values)
        for start in range(0, len(values), CHUNK):
            yield key_id, values[start:start + CHUNK]


def _token_rows(field, tokens):
    """(contact_id, key_id, token) of index rows for ``field`` among ``tokens`` {(key_id, token)}."""
    found = []
    for key_id, chunk in _token_chunks(tokens):
        found.extend(core_rows(db.session,
            select(ContactIndex.contact_id, ContactIndex.key_id, ContactIndex.token).where(and_(
                ContactIndex.field == field, ContactIndex.key_id == key_id,
                among(db.session, ContactIndex.token, chunk))),
        ).all())
    return found


def reach_candidates(rows, user=None):
    """({row index: (ids holding its email token, ids holding a phone token)}, {id: SealedContact}).

    Kept apart by field: the same email means the same email token (under the key the
    contact was indexed with), so only the email-token holders can match by email and
    only their email is read and decrypted; likewise phones. One query per field and key
    returns the holders with that one ciphertext (index joined to contact), only those
    ``user`` may see (None: an operator).
    """
    wanted = {"email": defaultdict(list), "phone": defaultdict(list)}
    for i, row in enumerate(rows):
        for field, by_token in wanted.items():
            for pair in row.tokens[field]:
                by_token[pair].append(i)
    where = None if user is None else permissions.contact_clause(user)
    result, contacts = {}, {}
    for slot, (field, by_token) in enumerate(wanted.items()):
        for contact_id, created_at, key_id, token, blob in _sealed_holders(field, set(by_token), where):
            sealed = contacts.get(contact_id)
            if sealed is None:
                contacts[contact_id] = SealedContact(db.session, contact_id, created_at, (blob,), (field,))
            else:
                sealed.add(field, blob)
            for i in by_token[(key_id, token)]:
                result.setdefault(i, (set(), set()))[slot].add(contact_id)
    return result, contacts


def _sealed_holders(field, tokens, where):
    """(contact_id, created_at, key_id, token, ciphertext of ``field``) of the holders of ``tokens``."""
    column = getattr(Contact, f"{field}_ct")
    for key_id, chunk in _token_chunks(tokens):
        query = (select(ContactIndex.contact_id, Contact.created_at, ContactIndex.key_id, ContactIndex.token, column)
                 .join(Contact, Contact.id == ContactIndex.contact_id)
                 .where(ContactIndex.field == field, ContactIndex.key_id == key_id,
                        among(db.session, ContactIndex.token, chunk)))
        if where is not None:
            query = query.where(where)
        yield from core_rows(db.session, query)


def name_candidates(rows, indexes):
    """{row index: contact ids holding a token of every name word} for rows ``indexes``."""
    per_row = {i: rows[i].tokens["name_word"] for i in indexes}
    all_tokens = {pair for words in per_row.values() for word in words for pair in word}
    held = defaultdict(set)
    for contact_id, key_id, token in _token_rows(blind_index.NAME_WORD.name, all_tokens):
        held[contact_id].add((key_id, token))
    by_token = defaultdict(set)
    for contact_id, pairs in held.items():
        for pair in pairs:
            by_token[pair].add(contact_id)
    result = {}
    for i, words in per_row.items():
        if not words:
            continue
        ids = None
        for word in words:
            having = set().union(*(by_token.get(pair, set()) for pair in word))
            ids = having if ids is None else ids & having
            if not ids:
                break
        if ids:
            result[i] = ids
    return result


def load(ids, user, fields=SealedContact.MATCHED):
    """Contacts by id (``SealedContact`` with ``fields``), only those ``user`` may see (None: an operator)."""
    return load_sealed(db.session, ids, None if user is None else permissions.contact_clause(user), fields=fields)


def load_contacts(ids):
    """The ORM contacts (with their paths) of the candidates a batch really matched."""
    found = {}
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        query = select(Contact).options(selectinload(Contact.paths)).where(Contact.id.in_(ids[start:start + CHUNK]))
        found.update((contact.id, contact) for contact in db.session.scalars(query))
    return found


def plain(value):
    return None if value is None or value is UNREADABLE else value


def conflicts(row, email, phone, region):
    """Both sides have an email (or a phone) and they differ: a namesake, not the same person."""
    if row.email and email and email_key(email) != row.email:
        return True
    return bool(row.phones and phone and phone_key(phone, region) not in row.phones)


def best_match(row, reach, name_ids, contacts, region):
    """The contact ``row`` is, among its candidates (None if none really matches).

    ``reach`` is (email-token holders, phone-token holders) or None; ``name_ids`` the
    name candidates, compared only for a row with neither email nor phone. The earliest
    created wins among the best kind of match (email, then phone, then name and city).
    """
    scored = []
    by_email, by_phone = reach or ((), ())
    if row.email:
        for contact_id in by_email:
            contact = contacts.get(contact_id)
            email = contact.email if contact is not None else None
            if email and email_key(email) == row.email:
                scored.append((0, contact))
    if row.phones:
        for contact_id in by_phone:
            contact = contacts.get(contact_id)
            phone = contact.phone if contact is not None else None
            if phone and phone_key(phone, region) in row.phones:
                scored.append((1, contact))
    if not row.email and not row.phones and row.data.city:
        for contact_id in name_ids:
            contact = contacts.get(contact_id)
            if (contact is not None and contact.city and same_words(row.data.city, contact.city)
                    and same_words(row.data.full_name, contact.full_name)):
                scored.append((2, contact))
    if not scored:
        return None
    scored.sort(key=lambda pair: (pair[0], str(pair[1].created_at), str(pair[1].id)))
    return scored[0][1]


def created_by(import_id, contact_ids):
    """Which of ``contact_ids`` this import created (their rows matched earlier rows of the file)."""
    if not contact_ids:
        return set()
    ids, ours = list(contact_ids), set()
    for start in range(0, len(ids), CHUNK):  # by contact (indexed), not by this import's growing rows
        ours.update(contact_id for contact_id, run_id, outcome in core_rows(db.session, 
            select(ImportRow.contact_id, ImportRow.import_id, ImportRow.outcome).where(
                among(db.session, ImportRow.contact_id, ids[start:start + CHUNK])))
            if run_id == import_id and outcome == "created")
    return ours


def fingerprint_matches(import_id, fingerprints):
    """{fingerprint: contact id} of rows imported before (other runs) whose contact still exists."""
    if not fingerprints:
        return {}
    found = core_rows(db.session, select(ImportRow.fingerprint, ImportRow.contact_id).where(
        among(db.session, ImportRow.fingerprint, fingerprints), ImportRow.import_id != import_id,
        ImportRow.contact_id.is_not(None))).all()
    return {fp: contact_id for fp, contact_id in found}
