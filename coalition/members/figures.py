"""Member figures and their charts (staff and public)."""

from coalition.members.views import bp  # noqa: F401
