"""Import and export of the member list (routes on the members blueprint)."""

from coalition.members.views import bp  # noqa: F401
