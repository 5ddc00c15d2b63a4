"""Forms of the sign-up pages: each checks the shape of what was typed; accounts.services checks the rules."""

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from config.pages import PageForm


class PhoneForm(PageForm):
    """Step 1: the mobile number the code goes to."""

    phone = forms.CharField(
        label=pgettext_lazy("signup", "Phone"),
        max_length=20,
        help_text=_("A mobile number in mainland China; we send it a code by SMS."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel", "autofocus": True}),
    )


class SignupForm(PageForm):
    """Step 2: the code received, and the username and password of the new account."""

    workflow_fields = {"password": "password1"}

    code = forms.CharField(
        label=pgettext_lazy("signup", "Code"),
        max_length=6,
        min_length=6,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]{6}", "autofocus": True}
        ),
    )
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        help_text=_("Letters, digits and @ . + - _ only."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        help_text=_("At least 8 characters, not only digits, not a common password."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_code(self):
        code = self.cleaned_data["code"].strip()
        if not code.isdigit():
            raise forms.ValidationError(_("The code is 6 digits."))
        return code

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        User = get_user_model()
        User._meta.get_field(User.USERNAME_FIELD).run_validators(username)
        return username

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first and "username" in cleaned:
            User = get_user_model()
            try:
                password_validation.validate_password(first, user=User(username=cleaned["username"]))
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned
