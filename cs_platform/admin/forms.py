"""Forms of the user-management page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from cs_platform.accounts.forms import choices
from cs_platform.auth.services import MIN_PASSWORD_LENGTH

ROLE_CHOICES = choices([("csm", "CSM"), ("admin", "Admin"), ("viewer", "Viewer")])


class NewUserForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Give an email."),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="That is not an email address."),
            Length(max=254),
        ],
    )
    name = StringField("Name", validators=[DataRequired("Give a name."), Length(max=120)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="csm")
    password = PasswordField(
        "Initial password",
        validators=[
            DataRequired("Give an initial password."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                message=f"The password needs at least {MIN_PASSWORD_LENGTH} characters.",
            ),
        ],
    )


class ChangeUserForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)
    status = SelectField("Status", choices=choices([("active", "Active"), ("off", "Deactivated")]))
