"""Exports of a filtered contact list: request, second-admin approval, build, one download.

Rules (docs/decisions, "exports"):

- Only ``contacts.export`` (coordinators, admins); rows are the triage filters
  narrowed by the requester's permissions, the columns only those chosen, and
  restricted paths only with clearance.
- More than EXPORT_APPROVAL_THRESHOLD people: a stated reason (encrypted) and
  the approval of an admin other than the requester (with clearance when the
  export may hold restricted paths). At most EXPORT_DAILY_CAP requests per user
  per 24 hours.
- The file is built by an RQ job (``workers.jobs.build_export(export_id)``) into
  the encrypted file store, with a canary row; only the requester may download
  it, once, within EXPORT_TTL_HOURS; the bytes are deleted as it is handed over.
- Every step leaves an audit event with the filter, the columns and the count.

Services flush; the caller (request or job) commits.
"""
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..errors import NotFound, ServiceError
from ..extensions import db
from ..jobs import enqueue
from ..models import Contact, User
from ..models.base import utcnow
from ..models.export import EXPORT_FORMATS, Export
from ..security import audit, permissions
from . import export_canary, export_file, files, lockdown
from .contacts import ValidationError
from .triage import QueueFilters, check_filters, queue_statement

REASON_MAX = 1000
FILTER_KEYS = ("status", "assignee", "meeting_id", "city", "path", "stage", "source", "created_from",
               "created_to", "include_snoozed")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _config(name, default):
    return int(current_app.config.get(name, default))


def threshold():
    return _config("EXPORT_APPROVAL_THRESHOLD", 50)


@dataclass(frozen=True)
class ExportRequest:
    filters: QueueFilters
    columns: tuple
    format: str = "csv"
    reason: str | None = None


def filters_to_json(filters):
    """The filters as plain JSON (keys, public ids and dates; never personal data)."""
    out = {}
    for key in FILTER_KEYS:
        value = getattr(filters, key)
        if isinstance(value, (uuid.UUID, date)):
            value = str(value) if isinstance(value, uuid.UUID) else value.isoformat()
        out[key] = value
    return out


def filters_from_json(data):
    kwargs = dict(data or {})
    if kwargs.get("meeting_id"):
        kwargs["meeting_id"] = uuid.UUID(kwargs["meeting_id"])
    for key in ("created_from", "created_to"):
        if kwargs.get(key):
            kwargs[key] = date.fromisoformat(kwargs[key])
    return QueueFilters(**{k: v for k, v in kwargs.items() if k in FILTER_KEYS})


def _require(user, permission):
    if not permissions.can(user, permission):
        raise ServiceError(_l("you may not do this"))


def count_matching(filters, user):
    """How many people ``filters`` select for ``user`` (their permissions applied)."""
    ids = queue_statement(filters, user, select(Contact.id))
    return db.session.scalar(select(func.count()).select_from(ids.subquery()))


def requests_today(user):
    since = utcnow() - timedelta(hours=24)
    return db.session.scalar(select(func.count()).select_from(Export).where(
        Export.requested_by_id == user.id, Export.created_at >= since))


def request_export(export_request, user):
    """Record an export request; queue it at once when small, else wait for an approval."""
    _require(user, "contacts.export")
    try:
        lockdown.refuse_if_active("export.request")
    except lockdown.LockedDown as exc:
        raise ValidationError({"status": str(exc)}) from None
    errors = dict(check_filters(export_request.filters, user))
    columns = tuple(dict.fromkeys(export_request.columns))
    if not columns:
        errors["columns"] = _l("choose at least one column")
    elif set(columns) - set(export_file.COLUMNS):
        errors["columns"] = _l("unknown column")
    if export_request.format not in EXPORT_FORMATS:
        errors["format"] = _l("choose CSV or XLSX")
    reason = (export_request.reason or "").strip() or None
    if reason and len(reason) > REASON_MAX:
        errors["reason"] = _l("is too long (at most %(num)d characters)", num=REASON_MAX)
    if errors:
        raise ValidationError(errors)
    count = count_matching(export_request.filters, user)
    if count == 0:
        raise ValidationError({"status": _l("these filters select nobody")})
    limit = _config("EXPORT_MAX_ROWS", 50_000)
    if count > limit:
        raise ValidationError({"status": _l("these filters select %(count)d people; at most %(limit)d per export",
                                        count=count, limit=limit)})
    needs_approval = count > threshold()
    if needs_approval and not reason:
        raise ValidationError({"reason": _l("is required for more than %(num)d people", num=threshold())})
    if requests_today(user) >= _config("EXPORT_DAILY_CAP", 10):
        raise ValidationError({"status": _l("you reached today's number of exports; ask an admin")})
    export = Export(requested_by_id=user.id, status="pending_approval" if needs_approval else "queued",
                    format=export_request.format, filters=filters_to_json(export_request.filters),
                    columns=list(columns), with_clearance=permissions.has_clearance(user),
                    requested_count=count)
    if reason:
        export.reason = reason
    db.session.add(export)
    db.session.flush()
    audit.record("export.request", "export", export.id, filters=export.filters, columns=export.columns,
                 format=export.format, count=count, needs_approval=needs_approval, reason_given=bool(reason))
    if not needs_approval:
        enqueue("workers.jobs.build_export", export.id)
    return export


def load_export(export_id, user, permission="contacts.export"):
    """An export ``user`` may see: their own, or any for an approver; else NotFound."""
    try:
        export = db.session.get(Export, uuid.UUID(str(export_id)))
    except (TypeError, ValueError, AttributeError):
        raise NotFound("not found") from None
    if export is None or not permissions.can(user, permission):
        raise NotFound("not found")
    if export.requested_by_id != user.id and not permissions.can(user, "exports.approve"):
        raise NotFound("not found")
    return export


def decide(export_id, user, approve):
    """Approve (queue the build) or refuse a waiting export; never one's own."""
    export = load_export(export_id, user, "exports.approve")
    if export.requested_by_id == user.id:
        raise ServiceError(_l("a second admin must approve an export: you requested this one"))
    if export.status != "pending_approval":
        raise ServiceError(_l("this export is not waiting for approval"))
    if export.with_clearance and not permissions.has_clearance(user):
        raise ServiceError(_l("this export may include restricted paths: an admin with clearance must decide"))
    if approve:
        lockdown.refuse_if_active("export.approve")
    export.status = "queued" if approve else "refused"
    export.approved_by_id = user.id
    export.decided_at = utcnow()
    db.session.flush()
    audit.record("export.approve" if approve else "export.refuse", "export", export.id,
                 filters=export.filters, count=export.requested_count, requester=str(export.requested_by_id))
    if approve:
        enqueue("workers.jobs.build_export", export.id)
    return export


def build(export_id):
    """Write the export's file (job body; idempotent: only a queued export without a file is built)."""
    export = db.session.get(Export, uuid.UUID(str(export_id)))
    if export is None or export.status != "queued" or export.file_id is not None:
        return None
    if lockdown.current() is not None:
        return None  # stays queued: lifting the lockdown queues it again
    requester = db.session.get(User, export.requested_by_id) if export.requested_by_id else None
    if requester is None or not permissions.can(requester, "contacts.export") or \
            (export.with_clearance and not permissions.has_clearance(requester)):
        return _fail(export, "the requester may no longer export")
    filters = filters_from_json(export.filters)
    columns = list(export.columns)
    allowed = max(export.requested_count, threshold()) if export.approved_by_id else threshold()
    count = count_matching(filters, requester)
    if count > allowed:
        return _fail(export, "the list grew past what was approved; request it again")
    canary = export_canary.make_canary(columns)
    export_canary.seal(export, canary)
    db.session.flush()
    statement = queue_statement(filters, requester, select(Contact.id))
    rows = export_file.contact_rows(statement, columns, requester, limit=allowed)
    rows = export_file.with_canary(rows, export_file.canary_cells(canary, columns),
                                   export_file.canary_position(count))
    header = [export_file.column_label(key) for key in columns]
    ttl = timedelta(hours=_config("EXPORT_TTL_HOURS", 24))
    writer = export_file.write_xlsx if export.format == "xlsx" else export_file.write_csv
    export_id = export.id
    with files.store_writer("export", requester.id, ttl, content_type=export.format) as sink:
        written = writer(sink, header, rows)
    export = db.session.get(Export, export_id)  # the row builder expunged the session's objects
    export.file_id = sink.stored.id
    export.row_count = written - 1  # the canary is not a person
    export.status = "ready"
    export.ready_at = utcnow()
    export.expires_at = sink.stored.expires_at
    db.session.flush()
    audit.record("export.build", "export", export.id, filters=export.filters, columns=export.columns,
                 format=export.format, count=export.row_count, file=str(export.file_id))
    return export


def _fail(export, reason):
    export.status = "failed"
    export.failure = reason
    db.session.flush()
    audit.record("export.fail", "export", export.id, reason=reason)
    return export


def refresh_status(export, now=None):
    """Mark a ready export whose window closed as expired (its file is purged by cron)."""
    now = now or utcnow()
    expires = export.expires_at
    if expires is not None and expires.tzinfo is None:
        from datetime import UTC

        expires = expires.replace(tzinfo=UTC)
    if export.status == "ready" and expires is not None and now >= expires:
        export.status = "expired"
        if export.file_id is not None:
            try:
                files.delete(export.file_id)
            except NotFound:
                pass
            export.file_id = None
        db.session.flush()
        audit.record("export.expire", "export", export.id)
    return export


def take_download(export_id, user, now=None):
    """Hand the file over once: returns (export, open decrypted stream); the bytes go at commit."""
    export = load_export(export_id, user)
    if export.requested_by_id != user.id:
        raise NotFound("not found")  # only the requester downloads, an approver included
    lockdown.refuse_if_active("export.download")
    refresh_status(export, now)
    if export.status != "ready" or export.file_id is None:
        raise ServiceError(_l("this export cannot be downloaded (already downloaded, expired or not ready)"))
    stream = files.open_stored(export.file_id)  # open before the delete: the descriptor outlives the unlink
    files.delete(export.file_id)
    export.file_id = None
    export.status = "downloaded"
    export.downloaded_at = now or utcnow()
    db.session.flush()
    audit.record("export.download", "export", export.id, count=export.row_count, format=export.format)
    return export, stream


def file_name(export):
    return f"muster-export-{export.created_at:%Y%m%d}-{str(export.id)[:8]}.{export.format}"


def my_exports(user, limit=50):
    return list(db.session.scalars(select(Export).where(Export.requested_by_id == user.id)
                                   .order_by(Export.created_at.desc()).limit(limit)))


def waiting_for(user, limit=50):
    """Exports waiting for an approval ``user`` may give (not their own)."""
    if not permissions.can(user, "exports.approve"):
        return []
    return list(db.session.scalars(select(Export).where(
        Export.status == "pending_approval", Export.requested_by_id != user.id)
        .order_by(Export.created_at).limit(limit)))


def trace(data, user=None):
    """Which exports a leaked file comes from (admins; ``None`` for an operator's CLI); audited."""
    if user is not None:
        _require(user, "audit.view")
    try:
        result = export_canary.trace_file(data)
    except Exception as exc:  # openpyxl and zipfile raise many kinds on a damaged file
        raise ServiceError(_l("this is not a readable CSV or XLSX file")) from exc
    audit.record("export.trace", "export", None, cells=result.cells,
                 found=[str(e.id) for e in result.exports])
    return result


def trace_value(value, user):
    """Which exports' canary has this email address or phone number (admins; audited)."""
    _require(user, "audit.view")
    found = export_canary.trace_values([(value or "").strip()[:320]])
    audit.record("export.trace", "export", None, cells=1, found=[str(e.id) for e in found])
    return export_canary.TraceResult(found, 1)
