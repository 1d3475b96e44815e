"""In a real browser: upload a sheet, map its columns, watch the import finish by htmx polling.

The page fixture fails the test on any console error, page error, CSP violation
or request to another host.
"""
import pytest

from crm.extensions import db
from crm.models import Contact
from tests.e2e.conftest import LAPTOP, PHONE
from tests.e2e.test_sign_in import sign_in

pytestmark = pytest.mark.e2e

SHEET = ("Imię i nazwisko;E-mail;Telefon;Miasto;Ścieżka\n"
         "Jan Kowalski;jan@example.pl;+48 600 100 200;Warszawa;wolontariat\n"
         "Jan Kowalski;JAN@example.pl;;Warszawa;projekty\n"
         "Zła Osoba;zły-adres;;;\n").encode("cp1250")


@pytest.fixture
def coordinator(enrolled_user):
    return enrolled_user("e2e-importer", role="coordinator", clearance=False)


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_upload_map_and_watch_an_import(open_browser, coordinator, run_worker, tmp_path, viewport):
    sheet = tmp_path / "lista.csv"
    sheet.write_bytes(SHEET)
    page = open_browser(viewport)
    sign_in(page, coordinator)
    page.goto(f"{page.base_url}/imports/")
    page.set_input_files("input[name=sheet]", str(sheet))
    page.get_by_role("button", name="Upload and map columns").click()
    page.wait_for_url("**/map")
    assert page.locator("table.import-preview td", has_text="Zła Osoba").count() == 1
    assert page.locator("select[name=col_1]").input_value() == "email"
    page.get_by_role("button", name="Run the import").click()
    page.wait_for_selector("#import-progress[hx-trigger]")
    run_worker("default")
    page.wait_for_selector("text=Status: done", timeout=20_000)  # the next poll brings it
    assert page.locator("#import-progress[hx-trigger]").count() == 0
    assert page.locator("text=3 of 3 rows done, 1 rejected so far.").count() == 1
    assert page.get_by_role("link", name="Download the rejected rows (CSV) to fix and import again").count() == 1
    db.session.remove()
    assert [c.full_name for c in db.session.query(Contact)] == ["Jan Kowalski"]
