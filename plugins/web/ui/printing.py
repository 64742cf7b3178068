"""Placeholder blueprint: its pages are being written (see the module's owner)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("printing", __name__)
