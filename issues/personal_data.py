"""The personal-data rules: who handles an issue, who reads its reporter unmasked, and how everyone else sees them.

One module for every reader of a reporter's name and phone: the workflow (internal notes are written and read by
the staff who handle the issue), the API's issue representation (and so webhooks, which send it), the export, and
pages. API.md: "刘*", "138****5678" for everyone but the reporter and the staff who handle the issue.
"""

import re

from orgs.models import Role
from orgs.scoping import roles_on_issue, scope_for_user

# The roles that call reporters back and so may export them unmasked (`unmasked=true`), where they handle the issue.
# Department staff and grid workers never do: they read the reporter on the issue they handle, one at a time.
UNMASK_EXPORT_ROLES = frozenset({Role.COMMUNITY_STAFF, Role.STREET_OFFICER, Role.DISTRICT_ADMIN})


# Phone numbers as residents type them, in every spelling we have met: mobiles with any separator between any
# digits (138 1234 5678 with double spaces, 138.1234.5678, 138/1234/5678, 138-1234-5678), a +86, 0086 or (86) prefix,
# landlines with an area code (0797-8123456, (0797) 812 3456), local numbers (8123-4567), any other run of 7 or more
# digits, and all of it in full-width digits (１３８…) too. Matched on a copy of the text with full-width forms folded
# to ASCII one character for one, so the spans found are the original's. Issue numbers, dates, times and rooms do not
# match (letters before them, short groups).
_FOLD = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        "＋": "+",
        "（": "(",
        "）": ")",
        "－": "-",
        "．": ".",
        "／": "/",
        "\u3000": " ",
        "‐": "-",
        "‑": "-",
        "–": "-",
        "—": "-",
        "・": ".",
    }
)
_SEP = r"[ \t\n.\-/_·]{0,3}"
PHONE_LIKE = re.compile(
    rf"(?<![0-9A-Za-z+])(?:(?:\+|00)\s*86{_SEP}|\(\s*\+?86\s*\){_SEP})?"
    rf"(?:1{_SEP}[3-9](?:{_SEP}\d){{9}}"  # a mobile, separators anywhere
    rf"|\(?0\d{{2,3}}\)?{_SEP}[2-9]\d{{2,3}}{_SEP}\d{{4}}"  # a landline with its area code
    rf"|(?<![A-Za-z]-)[2-8]\d{{2,3}}[ \-]\d{{4}}"  # a local number
    r"|(?<![A-Za-z]-)\d{7,})(?![0-9A-Za-z])",
    re.ASCII,
)
PHONE_REMOVED = "[电话已删除]"


def _phone_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in PHONE_LIKE.finditer(text.translate(_FOLD))]


def _replace_phones(text: str, replacement) -> str:
    """Return `text` with each phone-like span replaced by `replacement(span's digits)`."""
    if not text:
        return text
    folded, out, last = text.translate(_FOLD), [], 0
    for start, end in _phone_spans(text):
        out += [text[last:start], replacement(re.sub(r"\D", "", folded[start:end], flags=re.ASCII))]
        last = end
    return "".join(out) + text[last:] if out else text


def scrub_phones(text: str) -> str:
    """Return `text` with every phone-number-like string replaced (retention keeps the words, not the numbers)."""
    return _replace_phones(text, lambda digits: PHONE_REMOVED)


def mask_phones(text: str) -> str:
    """Return `text` with every phone-number-like string masked as mask_phone masks a number (public texts)."""
    return _replace_phones(
        text, lambda digits: mask_phone(digits.removeprefix("0086").removeprefix("86") if len(digits) > 11 else digits)
    )


def mask_name(name: str) -> str:
    """Return `name` with everything but its first character replaced by "*"."""
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str) -> str:
    """Return `phone` with its middle hidden: the first 3 and last 4 digits of a mobile number, else the last 2."""
    if not phone:
        return ""
    if len(phone) >= 11:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    if len(phone) > 4:
        return "*" * (len(phone) - 2) + phone[-2:]
    return "*" * len(phone)


def handles_issue(user, issue) -> bool:
    """Return whether `user` is staff handling `issue`: a node role above it, or a department dispatched on it now.

    Roles come from orgs.scoping.roles_on_issue; a department whose dispatch was returned or retired still sees the
    issue but no longer handles it. `issue` needs its dispatches prefetched.
    """
    roles = roles_on_issue(user, issue)
    if roles - {Role.DEPARTMENT_STAFF}:
        return True
    if roles:
        active = {d.department_id for d in issue.dispatches.all() if d.active}
        return bool(active & scope_for_user(user).department_ids)
    return False


def can_see_reporter(user, issue) -> bool:
    """Return whether `user` reads the reporter unmasked: the reporter, the submitting partner app, handling staff.

    A partner app acts through its service user, which is the issue's reporter account when it submitted.
    """
    if user is None or not user.is_authenticated:
        return False
    if issue.reporter_user_id is not None and issue.reporter_user_id == user.pk:
        return True
    return handles_issue(user, issue)


def reporter_for(user, issue) -> dict:
    """Return the reporter's name and phone as `user` may read them (masked unless can_see_reporter says so)."""
    if can_see_reporter(user, issue):
        return {"name": issue.reporter_name, "phone": issue.reporter_phone}
    return {"name": mask_name(issue.reporter_name), "phone": mask_phone(issue.reporter_phone)}


def may_export_unmasked(user) -> bool:
    """Return whether `user` holds a role that may export reporters unmasked (UNMASK_EXPORT_ROLES, anywhere)."""
    return any(role in UNMASK_EXPORT_ROLES for role, _ in scope_for_user(user).node_roles)


def export_reporter(user, issue, *, unmasked: bool) -> dict:
    """Return the reporter as an export shows it: masked, unless asked unmasked (and allowed: may_export_unmasked)."""
    if unmasked:
        return reporter_for(user, issue)
    return {"name": mask_name(issue.reporter_name), "phone": mask_phone(issue.reporter_phone)}
