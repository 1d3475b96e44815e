"""Synthetic demo data: meetings in real cities, people with made-up details.

Every value here is invented (emails on example.org, numbers from a seeded
random generator, names from ``demo_names``); no real person's data is ever used.
"""
import random
from datetime import timedelta

from ..extensions import db
from ..models import Attendance, Meeting
from ..models.base import utcnow
from ..models.bulk import insert_rows
from ..models.enums import PATHS
from .contacts import ContactData, create_contacts_bulk
from .demo_names import fake_name

CITIES = [
    ("Warszawa", "PL"), ("Wrocław", "PL"), ("Kraków", "PL"), ("Białystok", "PL"),
    ("Vilnius", "LT"), ("Kaunas", "LT"), ("Praha", "CZ"), ("Berlin", "DE"),
]
SKILLS = ["driving licence C", "first aid", "video editing", "translation PL-BY", "logistics",
          "web development", "fundraising", "IT security", "photography", "carpentry"]
LANGUAGES = ["Belarusian", "Russian", "Polish", "Lithuanian", "English", "Ukrainian", "German"]
PHONE_PREFIXES = {"PL": ("+48", ["50", "51", "53", "60", "66", "69", "72", "78", "88"], 7),
                  "BY": ("+375", ["29", "33", "44"], 7),
                  "LT": ("+370", ["60", "61", "62", "65", "68"], 6)}


def fake_person(rng, serial):
    """One synthetic person as ContactData (unique email and phone from ``serial``)."""
    full_name, _ = fake_name(rng)
    country = rng.choice(["PL", "PL", "BY", "LT"])
    code, prefixes, digits = PHONE_PREFIXES[country]
    # A leading zero makes some numbers invalid (+375 29 0…); keep the first digit 1-9.
    local = str(10 ** (digits - 1) + serial % (9 * 10 ** (digits - 1)))
    city, city_country = rng.choice(CITIES)
    paths = tuple(rng.sample(PATHS, rng.choice([1, 1, 1, 2])))
    return ContactData(
        full_name=full_name,
        email=f"person{serial}.{rng.randrange(10 ** 6):06d}@example.org",
        phone=f"{code} {rng.choice(prefixes)}{local}",
        messenger=f"@demo_{serial}_{rng.randrange(10 ** 4)}" if rng.random() < 0.5 else None,
        city=city, country=city_country,
        notes=f"Met after the talk; asked about {paths[0].replace('_', ' ')}." if rng.random() < 0.3 else None,
        skills=", ".join(rng.sample(SKILLS, 2)),
        languages=", ".join(rng.sample(LANGUAGES, 2)),
        source="meeting", consent_version="2026-01", paths=paths,
    )


def create_meetings(rng, count=6):
    now = utcnow()
    meetings = []
    for i, (city, country) in enumerate(rng.sample(CITIES, min(count, len(CITIES)))):
        meetings.append(Meeting(city=city, country=country, starts_at=now - timedelta(days=7 * (i + 1)),
                                venue="Community hall", expected_attendance=rng.randint(40, 120)))
    db.session.add_all(meetings)
    db.session.flush()
    return meetings


def seed_contacts(count, rng=None, meetings=None, batch=1000, on_batch=None, start_serial=0):
    """Create ``count`` synthetic contacts in batches; ``on_batch(done)`` after each flush.

    Goes through ``create_contacts_bulk`` (the same encryption and indexes as a
    contact created one by one, without an ORM object per row).
    """
    rng = rng or random.Random(20261125)
    meeting_ids = [m.id for m in meetings or []]
    done = 0
    while done < count:
        size = min(batch, count - done)
        ids = create_contacts_bulk([fake_person(rng, start_serial + done + i) for i in range(size)])
        if meeting_ids:
            insert_rows(db.session, Attendance.__table__,
                        [{"meeting_id": rng.choice(meeting_ids), "contact_id": contact_id} for contact_id in ids])
        done += size
        if on_batch:
            on_batch(done)
        db.session.expunge_all()
    return done
