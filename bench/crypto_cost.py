"""Encryption + blind-indexing cost per contact, and decryption cost per contact (µs).

Five figures, each the median (and p95) over ``--contacts`` synthetic people,
repeated ``--rounds`` times (the median of the round medians is printed):

- cipher + indexer: AES-GCM encryption of the 9 fields and every index token
  (normalisation included), called directly: the floor of the work;
- build_contact: the same through the model (the ``Encrypted`` descriptor and
  ``Contact.reindex``), what the one-by-one service pays, no database;
- bulk rows: the rows ``create_contacts_bulk`` inserts (``Encrypted.seal`` and
  ``index_rows``, plus path and history rows), no database;
- decrypt (cipher): 9 AES-GCM decryptions;
- decrypt (model): reading the 9 attributes of a contact, caches cleared.

Usage: .venv/bin/python bench/crypto_cost.py [--database-url URL] [--contacts N]
"""
import random
import time

import benchlib
from crm.models.base import utcnow
from crm.security import blind_index
from crm.security.crypto import crypto
from crm.security.fields import _CACHE
from crm.services.contacts import ENCRYPTED_FIELDS, build_contact, contact_rows
from crm.services.demo import fake_person

INDEXED = {"full_name": blind_index.NAME_WORD, "email": blind_index.EMAIL,
           "phone": blind_index.PHONE, "messenger": blind_index.MESSENGER}


def per_item_us(func, items):
    """Microseconds each call of ``func(item)`` took."""
    clock = time.perf_counter_ns
    out = []
    for item in items:
        start = clock()
        func(item)
        out.append((clock() - start) / 1000)
    return out


def main():
    p = benchlib.parser(__doc__.split("\n")[0], contacts=2000)
    p.add_argument("--rounds", type=int, default=5, help="repetitions (default 5)")
    args = p.parse_args()
    with benchlib.bench_app(args) as app:
        rng = random.Random(7)
        people = [fake_person(rng, i) for i in range(args.contacts)]
        cipher, indexer = crypto().cipher, crypto().indexer

        def raw_encrypt(data):
            import uuid
            row_id = uuid.uuid4()
            for name in ENCRYPTED_FIELDS:
                value = getattr(data, name)
                if value:
                    cipher.encrypt("contact", name, row_id, value)
            for name, spec in INDEXED.items():
                value = getattr(data, name)
                if value:
                    indexer.tokens(spec, value)

        contacts = [build_contact(d) for d in people]
        blobs = [(c.id, [(n, getattr(c, f"{n}_ct")) for n in ENCRYPTED_FIELDS
                         if getattr(c, f"{n}_ct") is not None]) for c in contacts]

        def raw_decrypt(item):
            row_id, cells = item
            for name, blob in cells:
                cipher.decrypt("contact", name, row_id, blob)

        def model_decrypt(contact):
            contact.__dict__.pop(_CACHE, None)
            for name in ENCRYPTED_FIELDS:
                getattr(contact, name)

        cases = [
            ("encrypt+index (cipher + indexer)", raw_encrypt, people),
            ("encrypt+index (build_contact)", build_contact, people),
            ("encrypt+index (bulk rows)", lambda d: contact_rows(d, None, utcnow()), people),
            ("decrypt (cipher)", raw_decrypt, blobs),
            ("decrypt (model attributes)", model_decrypt, contacts),
        ]
        rows = []
        for label, func, items in cases:
            func(items[0])  # warm caches (derived keys, AEAD objects)
            medians, p95s = [], []
            for _ in range(args.rounds):
                samples = per_item_us(func, items)
                medians.append(benchlib.median(samples))
                p95s.append(benchlib.percentile(samples, 95))
            rows.append((label, f"{benchlib.median(medians):.1f}", f"{benchlib.median(p95s):.1f}"))
        benchlib.print_table(
            f"Crypto cost per contact ({benchlib.backend_name(app)}, {args.contacts} contacts x "
            f"{args.rounds} rounds; 9 fields, 4 indexes)", rows, headers=("operation", "median µs", "p95 µs"))


if __name__ == "__main__":
    main()
