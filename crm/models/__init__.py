"""All models, so that `from crm.models import Contact` works and Alembic sees every table."""
from .approval import ApprovalRequest
from .access import AccessAlert, AccessSettings, Lockdown
from .audit import AuditEvent
from .contact import Contact, ContactIndex, PathChoice, StageChange
from .followup import FollowUp
from .followup_rule import FollowUpRule, FollowUpRuleVersion
from .imports import ImportRow, ImportRun
from .mail_template import MailTemplate
from .maintenance import KeyRotation
from .meeting import Attendance, Meeting, meeting_host
from .export import Export
from .merge import ContactMerge, DuplicateDismissal
from .note import ContactNote
from .outbox import Outbox
from .registration import PendingRegistration
from .retention import RetentionHold
from .rights import ErasureCounter, ErasureRequest, RightsLink, RightsRequest
from .session import UserSession
from .signal import BlockEntry, BlockToken, RegistrationSource, Signal
from .stored_file import StoredFile
from .triage import ContactTriage
from .user import RecoveryCode, User

# Models whose rows hold Encrypted values (what rotation and verification walk).
ENCRYPTED_MODELS = (Contact, FollowUp, User, Meeting, Outbox, ContactNote)
# A data-rights request holds the typed address encrypted until its lookup job has run.
ENCRYPTED_MODELS = ENCRYPTED_MODELS + (RightsRequest,)
# Pending self-registrations hold encrypted values too (rotation re-encrypts them).
ENCRYPTED_MODELS = ENCRYPTED_MODELS + (PendingRegistration,)
# A merge's undo snapshot is sealed with the field cipher.
ENCRYPTED_MODELS = ENCRYPTED_MODELS + (ContactMerge, Export)
# A two-person approval request holds its reasons encrypted.
ENCRYPTED_MODELS = ENCRYPTED_MODELS + (ApprovalRequest,)
# An admin's retention hold keeps its reason encrypted.
ENCRYPTED_MODELS = ENCRYPTED_MODELS + (RetentionHold,)
# An access alert's review note and a lockdown's lift reason are encrypted.
ENCRYPTED_MODELS = ENCRYPTED_MODELS + (AccessAlert, Lockdown)
# A signal's decision note and a block entry's note are encrypted (decision 0022).
ENCRYPTED_MODELS = ENCRYPTED_MODELS + (Signal, BlockEntry)

__all__ = [
    "BlockEntry", "BlockToken", "RegistrationSource", "Signal",
    "AccessAlert", "AccessSettings", "Lockdown",
    "RetentionHold",
    "ApprovalRequest",
    "ErasureCounter", "ErasureRequest", "RightsLink", "RightsRequest",
    "AuditEvent", "Attendance", "Contact", "ContactIndex", "ContactNote", "ContactTriage", "ENCRYPTED_MODELS",
    "FollowUp", "ImportRow", "ImportRun", "FollowUpRule", "FollowUpRuleVersion",
    "KeyRotation", "Meeting", "Outbox", "PathChoice", "PendingRegistration", "RecoveryCode", "StageChange", "StoredFile", "User", "UserSession",
    "meeting_host",
    "ContactMerge", "DuplicateDismissal", "Export",
]
