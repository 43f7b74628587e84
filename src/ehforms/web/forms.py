"""The pages' forms (Flask-WTF: each carries its CSRF token), with the contract's wording for
every error. The browser's own validation is off (``novalidate``): the GOV.UK error summary
says what is wrong."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, ValidationError


class SignIn(FlaskForm):
    email = StringField("Email address", validators=[InputRequired("Enter your email address")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password")])


class ChangePassword(FlaskForm):
    new_password = PasswordField("New password", validators=[InputRequired("Enter a new password")])
    confirm_password = PasswordField(
        "Confirm new password", validators=[InputRequired("Confirm your new password")]
    )

    def validate_confirm_password(self, field: Any) -> None:
        if self.new_password.data and field.data != self.new_password.data:
            raise ValidationError("Enter the same password in both fields")


class CaseFilter(FlaskForm):
    case = StringField("Case reference")


def problems(form: FlaskForm) -> list[dict[str, str]]:
    """The error summary's list: each problem linking to its field."""
    found = []
    for name, messages in form.errors.items():
        if name == "csrf_token":
            continue
        for message in messages:
            found.append({"text": str(message), "href": f"#{form[name].id}"})
    return found
