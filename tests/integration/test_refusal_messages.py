"""Refusals people see come in their language: one from each service that used to say them in English."""
import pytest
from flask_babel import force_locale

from crm.errors import ServiceError
from crm.extensions import db
from crm.services import duplicates, exports, mail_templates, merge
from crm.services.contacts import ValidationError, move_stage
from crm.services.triage import QueueFilters


def said_in(app, locale, message):
    with app.test_request_context(), force_locale(locale):
        return str(message)


def test_a_closed_path_reopened_past_interested(app, make_contact):
    contact = make_contact(paths=("volunteering",))
    move_stage(contact.id, "volunteering", "declined")
    with pytest.raises(ServiceError) as refused:
        move_stage(contact.id, "volunteering", "active")
    assert said_in(app, "en", refused.value) == "A declined or withdrawn path can only be reopened as interested."
    assert said_in(app, "pl", refused.value) == ("Ścieżkę odrzuconą lub porzuconą można wznowić tylko jako "
                                                 "„zainteresowany”.")


def test_an_export_without_columns(app, make_user):
    coordinator = make_user("coord", "coordinator")[0]
    request = exports.ExportRequest(QueueFilters(status="any", assignee="any"), (), "csv", None)
    with pytest.raises(ValidationError) as refused:
        exports.request_export(request, coordinator)
    assert said_in(app, "ru", refused.value.errors["columns"]) == "выберите хотя бы один столбец"
    db.session.rollback()


def test_a_contact_as_its_own_duplicate(app, make_contact):
    contact = make_contact()
    with pytest.raises(ServiceError) as refused:
        duplicates._ordered(contact.id, contact.id)
    assert said_in(app, "uk", refused.value) == "контакт не може бути дублікатом самого себе"


def test_a_mail_subject_on_two_lines(app):
    with pytest.raises(mail_templates.TemplateError) as refused:
        mail_templates.validate("public/join_confirm", {"subject": "one\ntwo"})
    assert said_in(app, "be", refused.value.errors["subject"]) == "тэма — гэта адзін радок"
    assert "one\ntwo" not in str(refused.value)


def test_a_merge_no_longer_undoable(app):
    class Undone:
        undone_at = object()
        undo_until = __import__("datetime").datetime(2100, 1, 1)

    assert said_in(app, "pl", merge.undoable(Undone())) == "to scalenie zostało już cofnięte"
