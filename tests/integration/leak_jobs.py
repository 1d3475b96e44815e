"""Marker values for the leak scan, and a job that creates a marked contact in a real worker.

The job takes an integer seed only (as every Muster job takes ids only) and derives
its marker values from it, so the test knows exactly what to look for. It runs in
``job_context()`` and calls the contact service, like the application's own jobs.
"""
import random
import string

MARK = "Mrk"


def markers(seed):
    """The marked values of one synthetic person: every encrypted Contact field."""
    rng = random.Random(seed)

    def word():
        return MARK + "".join(rng.choice(string.ascii_lowercase) for _ in range(10))

    phone_digits = "60" + "".join(rng.choice(string.digits) for _ in range(7))
    return {
        "full_name": f"{word()} {word()}",
        "email": f"{word().upper()}@Example.ORG",
        "phone": f"+48 {phone_digits[:3]} {phone_digits[3:6]} {phone_digits[6:]}",
        "messenger": f"@{word()}",
        "city": word(),
        "country": word(),
        "notes": f"Met at the hall; {word()} asked about training.",
        "skills": f"first aid, {word()}",
        "languages": f"be, {word()}",
        "availability": f"evenings, {word()}",
    }


def create_marked_contact(seed):
    """RQ job body: create one contact with the marked values of ``seed``."""
    from crm.services.contacts import ContactData, create_contact
    from workers.context import job_context

    with job_context():
        result = create_contact(ContactData(**markers(int(seed)), paths=("volunteering",)))
        return {"contact": str(result.contact.id)}
