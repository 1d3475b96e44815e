"""Accessibility of the coordinator's pages, measured in a real browser at phone and laptop size.

On every workspace page: each form control has an accessible name, ids are unique,
no positive tabindex reorders the keyboard, text has WCAG AA contrast against the
background it is drawn on (4.5:1, 3:1 for large text), the keyboard's focus is
always visible, and nothing scrolls sideways on a phone. The quick-capture form is
walked with Tab in the order a coordinator fills it in.
"""
import pytest

from crm.extensions import db
from crm.models.base import utcnow
from crm.services.meetings import MeetingData, create_meeting
from tests.e2e.conftest import LAPTOP, PHONE
from tests.e2e.test_capture_flow import coordinator  # noqa: F401  (fixture)
from tests.e2e.test_sign_in import sign_in

pytestmark = pytest.mark.e2e

# Runs in the page: everything that breaks the rules above, as readable strings.
AUDIT_PAGE = """
() => {
  const problems = [];
  const visible = el => {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden" && style.display !== "none";
  };
  const describe = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.name ? "[name=" + el.name + "]" : "") + (el.className && typeof el.className === "string" ? "." + el.className.split(" ").join(".") : "");

  // Names of controls (visible or not: a closed <details> still reaches a screen reader).
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, button")) {
    const named = (el.labels && el.labels.length && [...el.labels].some(l => l.textContent.trim())) ||
      (el.getAttribute("aria-label") || "").trim() ||
      (el.getAttribute("aria-labelledby") || "").split(" ").some(id => document.getElementById(id)) ||
      (el.tagName === "BUTTON" && el.textContent.trim()) || (el.getAttribute("title") || "").trim();
    if (!named) problems.push("no accessible name: " + describe(el));
  }
  const ids = {};
  for (const el of document.querySelectorAll("[id]")) ids[el.id] = (ids[el.id] || 0) + 1;
  for (const [id, n] of Object.entries(ids)) if (n > 1) problems.push("id used " + n + " times: " + id);
  for (const el of document.querySelectorAll("[tabindex]"))
    if (parseInt(el.getAttribute("tabindex"), 10) > 0) problems.push("positive tabindex: " + describe(el));

  // Contrast of every visible piece of text against the first opaque background behind it.
  const rgb = s => { const m = s.match(/[\\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                     return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const backgroundOf = el => {
    for (let node = el; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.a > 0.5) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    const el = text.parentElement;
    if (!text.textContent.trim() || seen.has(el) || !visible(el)) continue;
    if (el.closest(".visually-hidden, .skip-link, option, script, style")) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    const fg = rgb(style.color), bg = backgroundOf(el);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const needed = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < needed) problems.push("contrast " + ratio.toFixed(2) + " < " + needed + ": " + describe(el) +
                                      " '" + text.textContent.trim().slice(0, 30) + "'");
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push("scrolls sideways: " + document.documentElement.scrollWidth + " > " + window.innerWidth);
  return problems;
}
"""

# Runs in the page after a Tab: the focused element, and whether the focus can be seen.
FOCUS_SHOWN = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const ring = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 1) ||
               (style.boxShadow && style.boxShadow !== "none");
  return {what: el.tagName.toLowerCase() + (el.name ? "[name=" + el.name + "]" : "") + (el.id ? "#" + el.id : ""),
          name: el.name || "", value: el.value || "", ring: ring};
}
"""


def tab_through(page, stops=80):
    """Press Tab ``stops`` times (or until the focus leaves the page); what got the focus, in order."""
    page.locator("body").focus()
    reached = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUS_SHOWN)
        if focused is None:
            break
        reached.append(focused)
    return reached


@pytest.fixture
def workspace(coordinator, make_user, make_contact):  # noqa: F811
    make_user("a11y-staffer", role="staff")
    meeting = create_meeting(MeetingData(city="Wrocław", country="PL", venue="Hall", starts_at=utcnow()))
    people = [make_contact(name, email=f"a11y{n}@example.org", paths=("volunteering",))
              for n, name in enumerate(["Аляксандр Кавалёў", "Zofia Wiśniewska", "Ihar Navumchyk"])]
    from crm.models import Attendance

    for person in people:
        db.session.add(Attendance(meeting_id=meeting.id, contact_id=person.id))
    db.session.commit()
    return meeting, people


def pages(meeting, person):
    return [f"/meetings/{meeting.id}", "/meetings/", "/meetings/new", "/triage/", f"/triage/?meeting={meeting.id}",
            f"/contacts/{person.id}", f"/contacts/{person.id}/edit", "/contacts/", "/home", "/reports/",
            f"/reports/?city={meeting.city}", "/followups/", "/followups/team"]


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_workspace_pages_meet_the_basic_rules(open_browser, coordinator, workspace, viewport):  # noqa: F811
    meeting, people = workspace
    page = open_browser(viewport)
    sign_in(page, coordinator)
    found = {}
    for path in pages(meeting, people[0]):
        page.goto(page.base_url + path)
        problems = page.evaluate(AUDIT_PAGE)
        unseen = [f["what"] for f in tab_through(page) if not f["ring"]]
        problems += [f"focus not visible: {what}" for what in unseen]
        if problems:
            found[path] = problems
    # The search page with results.
    page.goto(page.base_url + "/contacts/")
    page.locator("input[name=q]").fill("Kavaliou")
    page.locator("input[name=q]").press("Enter")
    page.locator("main").get_by_text("Аляксандр Кавалёў").first.wait_for()
    problems = page.evaluate(AUDIT_PAGE)
    if problems:
        found["/contacts/ (results)"] = problems
    assert not found, "\n".join(f"{path}: {problem}" for path, problems in found.items() for problem in problems)


def test_the_capture_form_is_tabbed_in_the_order_it_is_filled_in(open_browser, coordinator, workspace):  # noqa: F811
    meeting, _ = workspace
    page = open_browser(PHONE)
    sign_in(page, coordinator)
    page.goto(f"{page.base_url}/meetings/{meeting.id}")
    # The name field has the focus on arrival; Tab goes on from there.
    assert page.evaluate("document.activeElement.name") == "full_name"
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUS_SHOWN)
        order.append(focused["name"] or focused["what"])
        if focused["what"].startswith("button"):
            break
    assert order == ["phone", "email", "messenger", "city", "paths", "paths", "note", "consent", "button"], order
