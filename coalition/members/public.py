"""The public side of the registry: the directory and the joining form."""

from flask import Blueprint

public_bp = Blueprint("public", __name__)
