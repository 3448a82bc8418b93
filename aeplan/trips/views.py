"""Trip pages."""
from flask import Blueprint
from flask_login import login_required

bp = Blueprint("trips", __name__, url_prefix="/trips")


@bp.before_request
@login_required
def _signed_in():
    pass
