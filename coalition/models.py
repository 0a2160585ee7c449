"""Every model of the application, imported in one place for Alembic."""

from coalition.accounts.models import (
    RecoveryCode,
    Role,
    TwoFactorEnrolment,
    User,
    UserRole,
    UserToken,
)
from coalition.audit.models import AuditEntry
from coalition.form_tokens import UsedFormToken
from coalition.grants.award_models import (
    Award,
    GranteeReport,
    ReportAttachment,
    ReportSpending,
    ReportSubmission,
    Tranche,
)
from coalition.grants.decision_models import Appeal
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
from coalition.grants.review_models import ConflictDeclaration, Review, ReviewScore
from coalition.jobs import Job
from coalition.mail.models import OutboxMessage
from coalition.members.models import (
    Member,
    MemberContact,
    MemberCountryRow,
    MemberFocus,
    MemberStatusChange,
)
from coalition.steering.models import (
    SeatVote,
    SeatVoteChange,
    SteeringSeat,
    Vote,
    VoteItem,
    VoteRecusal,
    VoteSeat,
)
from coalition.steering.reports.models import GeneratedReport

__all__ = [
    "Appeal",
    "Application",
    "ApplicationCountry",
    "ApplicationStatusChange",
    "Attachment",
    "AuditEntry",
    "Award",
    "BudgetLine",
    "ConflictDeclaration",
    "Criterion",
    "Fund",
    "FundCountry",
    "GeneratedReport",
    "GranteeReport",
    "Job",
    "Member",
    "MemberContact",
    "MemberCountryRow",
    "MemberFocus",
    "MemberStatusChange",
    "OutboxMessage",
    "RecoveryCode",
    "ReportAttachment",
    "ReportSpending",
    "ReportSubmission",
    "Review",
    "ReviewScore",
    "Role",
    "Round",
    "SeatVote",
    "SeatVoteChange",
    "SteeringSeat",
    "Tranche",
    "TwoFactorEnrolment",
    "UsedFormToken",
    "User",
    "UserRole",
    "UserToken",
    "Vote",
    "VoteItem",
    "VoteRecusal",
    "VoteSeat",
]
