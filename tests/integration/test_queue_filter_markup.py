"""The triage page and the export request show the same queue filters (one macro, core/_filters.html)."""
import re

FIELD_RE = re.compile(r'<(?:select|input)[^>]* name="([a-z_]+)"')
QUEUE_FILTERS = ["status", "assignee", "meeting", "city", "path", "stage", "source", "created_from",
                 "created_to", "include_snoozed"]


def filter_fields(html, start, end):
    """The names of the form fields between two markers of a page, in order."""
    part = html[html.index(start):html.index(end, html.index(start))]
    return [name for name in FIELD_RE.findall(part) if name != "csrf_token"]


def test_both_pages_offer_the_same_filters_in_the_same_order(signed_in):
    client = signed_in("coordinator")
    triage = client.get("/triage/").get_data(as_text=True)
    export = client.get("/exports/new").get_data(as_text=True)
    assert filter_fields(triage, 'class="filters"', "</form>") == [*QUEUE_FILTERS[:-1], "sort", "include_snoozed"]
    assert filter_fields(export, 'class="filters"', "</fieldset>") == QUEUE_FILTERS
    for html in (triage, export):
        assert 'type="date"' in html and 'id="created_from"' in html
