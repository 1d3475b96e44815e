"""Importing sign-up sheets: encodings, delimiters, duplicates, re-imports, bad files (CLI and service)."""
import io
import json

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from crm.extensions import db
from crm.jobs import get_queue
from crm.models import Attendance, Contact, ImportRow, ImportRun, Meeting, StoredFile
from crm.services import files, imports
from crm.services.import_reader import Sheet, detect_encoding, guess_mapping, parse_paths

HEADER = "Name;Email;Phone;City;Path\n"
ROWS = ("Ясь Купала;yas@example.org;+375 29 111 22 33;Мінск;валанцёрства\n"
        "Łucja Żółć;lucja@example.pl;+48 600 100 200;Kraków;wolontariat, projekty\n")


def run_cli(runner, tmp_path, content, name="sheet.csv", *args):
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(args=["crm", "import", str(path), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def names():
    return sorted(c.full_name for c in db.session.scalars(select(Contact)))


@pytest.mark.parametrize("encoding,body", [
    ("utf-8", HEADER + ROWS),
    ("utf-8-sig", HEADER + ROWS),
    ("utf-16", HEADER + ROWS),
    ("utf-16-le", HEADER + ROWS),
])
def test_unicode_encodings(runner, tmp_path, encoding, body):
    summary = run_cli(runner, tmp_path, body.encode(encoding))
    assert summary == {"rows": 2, "created": 2, "merged": 0, "duplicates_in_file": 0, "rejected": 0}
    assert names() == ["Łucja Żółć", "Ясь Купала"]


def test_windows_1251_belarusian_and_russian(runner, tmp_path):
    body = ("Имя и фамилия,Телефон,Горад\nЯсь Купала,+375291112233,Мінск\n"
            "Андрэй Шчэрбін,+375 29 444 55 66,Гомель\nАлексей Смирнов,+375 29 777 88 99,Брест\n")
    assert detect_encoding(body.encode("cp1251")) == "cp1251"
    summary = run_cli(runner, tmp_path, body.encode("cp1251"))
    assert summary["created"] == 3
    assert "Андрэй Шчэрбін" in names()


def test_windows_1250_polish(runner, tmp_path):
    body = ("Imię;Nazwisko;Telefon\nŁucja;Żółć;600100200\nGrzegorz;Brzęczyszczykiewicz;600100201\n"
            "Zośka;Ślązak;600100202\n")
    assert detect_encoding(body.encode("cp1250")) == "cp1250"
    summary = run_cli(runner, tmp_path, body.encode("cp1250"), "sheet.csv", "--region", "PL")
    assert summary["created"] == 3
    assert "Grzegorz Brzęczyszczykiewicz" in names()


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters_quoted_newlines_and_blank_lines(runner, tmp_path, delimiter):
    d = delimiter
    body = (f"Full name{d}Email{d}Notes\n\n"
            f"\"Kowalski, Jan\"{d}jan@example.pl{d}\"line one\nline two\"\n"
            f"\n{d}{d}\n"
            f"Anna Nowak{d}anna@example.pl{d}\n")
    summary = run_cli(runner, tmp_path, body.encode())
    assert summary == {"rows": 2, "created": 2, "merged": 0, "duplicates_in_file": 0, "rejected": 0}
    jan = next(c for c in db.session.scalars(select(Contact)) if c.email == "jan@example.pl")
    assert jan.notes == "line one\nline two"


def test_xlsx_with_numbers_as_phones_and_several_phones_in_a_cell(runner, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["Imię", "Nazwisko", "Telefon", "Ścieżka"])
    sheet.append(["Jan", "Kowalski", 48600100200, "wolontariat"])
    sheet.append(["Ewa", "Nowak", "+48 600 100 300; +375 29 111 22 33", "wspólne projekty i rezerwa"])
    buffer = io.BytesIO()
    book.save(buffer)
    summary = run_cli(runner, tmp_path, buffer.getvalue(), "sheet.xlsx")
    assert summary["created"] == 2
    ewa = next(c for c in db.session.scalars(select(Contact)) if c.full_name == "Ewa Nowak")
    assert ewa.phone == "+48600100300"
    assert "+375291112233" in ewa.notes
    assert sorted(p.path for p in ewa.paths) == ["joint_projects", "reserve_training"]


def test_paths_in_words_and_headers_in_four_languages():
    assert parse_paths("volunteer") == ("volunteering",)
    assert parse_paths("валанцёрства, сумесныя праекты") == ("volunteering", "joint_projects")
    assert parse_paths("wolontariat / szkolenie wojskowe") == ("volunteering", "reserve_training")
    assert parse_paths("волонтерство и боевые действия") == ("volunteering", "combat_service")
    assert guess_mapping(["Імя", "Прозвішча", "Тэлефон", "E-mail", "Горад"]) == {
        0: "first_name", 1: "last_name", 2: "phone", 3: "email", 4: "city"}
    assert guess_mapping(["ФИО", "Телефон", "Город"]) == {0: "full_name", 1: "phone", 2: "city"}
    assert guess_mapping(["Full name", "Phone number", "How can you help?"]) == {
        0: "full_name", 1: "phone", 2: "paths"}


def test_duplicates_email_case_phone_format_and_cyrillic_latin(runner, tmp_path):
    existing = ("Name,Email,Phone,City\n"
                "Alena Rak,alena@example.org,,Warszawa\n")
    assert run_cli(runner, tmp_path, existing.encode(), "first.csv")["created"] == 1
    body = ("Name,Email,Phone,City\n"
            "Alena Rak,ALENA@Example.ORG,,Warszawa\n"          # same email, other case: merged
            "Piotr Zieliński,,+48 600 100 200,Gdańsk\n"          # created
            "P. Zielinski,,0048600100200,Gdynia\n"               # same phone, other format: in file
            "Ганна Шыпіла,,,Вільня\n"                            # created
            "Hanna Shypila,,,Vilnia\n"                           # same person in Latin: in file
            "Hanna Shypila,,,Kraków\n")                          # same name, other city: created
    summary = run_cli(runner, tmp_path, body.encode(), "second.csv")
    assert summary == {"rows": 6, "created": 2 + 1, "merged": 1, "duplicates_in_file": 2, "rejected": 0}
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 4


def test_reimporting_the_same_file_adds_nothing(runner, tmp_path, app):
    meeting = Meeting(city="Vilnius", country="LT")
    db.session.add(meeting)
    db.session.commit()
    body = (HEADER + ROWS + "Bad;not-an-email;;;\n").encode()
    first = run_cli(runner, tmp_path, body, "s.csv", "--meeting", str(meeting.id))
    assert first == {"rows": 3, "created": 2, "merged": 0, "duplicates_in_file": 0, "rejected": 1}
    counts = [db.session.scalar(select(func.count()).select_from(m)) for m in (Contact, Attendance)]
    second = run_cli(runner, tmp_path, body, "s.csv", "--meeting", str(meeting.id))
    assert second == {"rows": 3, "created": 0, "merged": 2, "duplicates_in_file": 0, "rejected": 1}
    assert [db.session.scalar(select(func.count()).select_from(m)) for m in (Contact, Attendance)] == counts
    runs = db.session.scalars(select(ImportRun)).all()
    assert len({r.content_mac for r in runs}) == 1
    assert all(r.file_id is None for r in runs)  # uploads dropped once done


def test_rejected_rows_file_is_encrypted_and_names_the_reason(runner, tmp_path):
    body = (HEADER + "Ok Person;ok@example.org;;;\nBad Person;bad-at-example;;;\nNo Phone;;12;;\n").encode()
    assert run_cli(runner, tmp_path, body)["rejected"] == 2
    run = db.session.scalar(select(ImportRun))
    raw = files.path_of(run.rejects_file_id).read_bytes()
    assert b"bad-at-example" not in raw and b"Bad Person" not in raw
    with imports.open_rejects(run, None) as stream:
        text = stream.read().decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith("record,reason,Name")
    assert "bad-at-example" in lines[1] and "email:" in lines[1]
    assert "phone:" in lines[2]


@pytest.mark.parametrize("content,name,message", [
    (b"", "empty.csv", "empty"),
    (b"\n\n  \n", "blank.csv", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, "photo.csv", "binary"),
    (b"not a zip", "sheet.xlsx", "not a valid Excel"),
    (b"Name,Email\n\"Jan Kowalski,jan@example.org\nAnna,anna@example.org\n", "q.csv", "never closed"),
    (b"Name,Email\nJan \"the\" Kowalski,jan@example.org\n" + b"x,\"y\"z\n", "q2.csv", "quote"),
    ((",".join(f"c{i}" for i in range(10000)) + "\n" + ",".join("v" for _ in range(10000)) + "\n").encode(),
     "wide.csv", "columns"),
    (b"Name,Email\n", "header.csv", "no rows"),
])
def test_bad_files_say_why_and_import_nothing(runner, tmp_path, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    before = set(files.files_dir().iterdir())
    result = runner.invoke(args=["crm", "import", str(path), "--json"])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    for model in (Contact, ImportRun, ImportRow, StoredFile):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0
    assert set(files.files_dir().iterdir()) == before


def test_size_limit_refuses_and_keeps_nothing(app, tmp_path):
    big = io.BytesIO(HEADER.encode() + ROWS.encode() * 2000)
    before = set(files.files_dir().iterdir())
    with pytest.raises(imports.ImportProblem, match="larger than"):
        imports.upload(big, "big.csv", None, max_bytes=64 * 1024)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(StoredFile)) == 0
    assert set(files.files_dir().iterdir()) == before


def test_sheet_streams_from_the_encrypted_store(app):
    body = (HEADER + ROWS).encode("utf-16")
    stored = files.store([body], "import_upload", None, imports.UPLOAD_TTL)
    with files.open_stored(stored.id) as stream:
        sheet = Sheet.open(stream, "x.csv")
        assert (sheet.encoding, sheet.delimiter) == ("utf-16", ";")
        assert [n for n, _ in sheet.records()] == [1, 2, 3]


def wizard_import(user, body):
    """Upload, configure and run an import as ``user`` (what the wizard and its job do)."""
    run = imports.upload(io.BytesIO(body), "sheet.csv", user)
    imports.configure(run, run.mapping)
    run_id = run.id
    db.session.commit()
    for _ in imports.process(run_id):
        db.session.commit()
    return imports.summary(imports.get_run(run_id))


def test_restricted_paths_need_clearance(make_user):
    plain, _ = make_user("coord-plain", "coordinator")
    cleared, _ = make_user("coord-cleared", "coordinator", clearance=True)
    body = "Name;Email;Path\nAles Bykau;ales@example.org;combat\n".encode()
    assert wizard_import(plain, body)["rejected"] == 1
    reason = db.session.scalar(select(ImportRow.reason))
    assert reason == "paths: a restricted path needs clearance to import"
    assert wizard_import(cleared, body)["created"] == 1


def test_contacts_the_importer_may_not_see_are_never_matched(make_user, make_contact):
    hidden = make_contact("Ales Bykau", email="ales@example.org", paths=("combat_service",))
    plain, _ = make_user("coord-plain", "coordinator")
    summary = wizard_import(plain, "Name;Email;Path\nAles Bykau;ales@example.org;volunteer\n".encode())
    assert summary == {"rows": 1, "created": 1, "merged": 0, "duplicates_in_file": 0, "rejected": 0}
    db.session.refresh(hidden)
    assert [p.path for p in hidden.paths] == ["combat_service"]  # untouched


def test_follow_up_rules_fire_for_imported_and_merged_paths(runner, tmp_path, make_contact):
    from crm.models import FollowUp
    from crm.services import followup_rules

    followup_rules.seed_defaults()
    db.session.commit()
    known = make_contact("Olga Lis", email="olga@example.org")
    body = "Name;Email;Path\nOlga Lis;olga@example.org;projects\nJan Rak;jan@example.org;volunteer\n"
    assert run_cli(runner, tmp_path, body.encode())["created"] == 1
    kinds = {(f.contact_id == known.id, f.kind) for f in db.session.scalars(select(FollowUp))}
    assert kinds == {(True, "meeting"), (False, "call")}
    # The batch fired the merge's new stage change itself: no rule job was queued for it.
    queued = get_queue("default").get_job_ids()
    assert queued and not [job for job in queued if job.startswith("followup-rules-")]


def test_a_row_matches_what_an_earlier_row_of_the_batch_brought(runner, tmp_path, make_contact):
    make_contact("Olga Lis", email="olga@example.org")
    body = ("Name;Email;Phone\n"
            "Jan Rak;jan@example.org;\n"
            "Jan Rak;jan@example.org;+48 600 100 200\n"      # brings a phone to the new row
            "J. Rak;;0048600100200\n"                         # matches it by that phone
            "Olga Lis;olga@example.org;+48 600 100 300\n"     # brings a phone to a known contact
            "O. Lis;;+48600100300\n")                          # matches her by that phone
    summary = run_cli(runner, tmp_path, body.encode())
    assert summary == {"rows": 5, "created": 1, "merged": 2, "duplicates_in_file": 2, "rejected": 0}
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 2


def test_the_real_cli_prints_exactly_one_json_object(flask_cli, tmp_path, make_contact):
    make_contact("Olga Lis", email="olga@example.org")
    path = tmp_path / "sheet.csv"
    path.write_bytes((HEADER + ROWS + "Olga Lis;OLGA@example.org;;;\nOlga Lis;olga@example.org;;;\n"
                      "Bad;bad;;;\n").encode())
    result = flask_cli("import", str(path), "--json", "--region", "BY")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert json.loads(result.stdout) == {"rows": 5, "created": 2, "merged": 2, "duplicates_in_file": 0,
                                         "rejected": 1}
    missing = flask_cli("import", str(tmp_path / "nope.csv"), "--json")
    assert missing.returncode != 0 and missing.stdout == ""
    bad_region = flask_cli("import", str(path), "--region", "XX")
    assert bad_region.returncode == 1 and "XX is not a phone region" in bad_region.stderr
