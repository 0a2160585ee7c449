"""Every model of the application, imported in one place for Alembic."""

from coalition.accounts.models import RecoveryCode, Role, User, UserRole, UserToken
from coalition.audit.models import AuditEntry
from coalition.form_tokens import UsedFormToken
from coalition.grants.models import (
    Application,
    ApplicationCountry,
    ApplicationStatusChange,
    Attachment,
    BudgetLine,
    Criterion,
    Fund,
    FundCountry,
    Round,
)
from coalition.jobs import Job
from coalition.mail.models import OutboxMessage
from coalition.members.models import (
    Member,
    MemberContact,
    MemberCountryRow,
    MemberFocus,
    MemberStatusChange,
)

__all__ = [
    "Application",
    "ApplicationCountry",
    "ApplicationStatusChange",
    "Attachment",
    "AuditEntry",
    "BudgetLine",
    "Criterion",
    "Fund",
    "FundCountry",
    "Job",
    "Member",
    "MemberContact",
    "MemberCountryRow",
    "MemberFocus",
    "MemberStatusChange",
    "OutboxMessage",
    "RecoveryCode",
    "Role",
    "Round",
    "UsedFormToken",
    "User",
    "UserRole",
    "UserToken",
]
