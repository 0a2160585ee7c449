"""Every model of the application, imported in one place for Alembic."""

from coalition.accounts.models import RecoveryCode, Role, User, UserRole, UserToken
from coalition.audit.models import AuditEntry
from coalition.mail.models import OutboxMessage

__all__ = [
    "AuditEntry",
    "OutboxMessage",
    "RecoveryCode",
    "Role",
    "User",
    "UserRole",
    "UserToken",
]
