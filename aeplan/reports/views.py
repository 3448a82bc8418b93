"""Client coverage and reports (pages and CSV)."""
from flask import Blueprint
from flask_login import login_required

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.before_request
@login_required
def _signed_in():
    pass
