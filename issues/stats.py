"""Statistics of a territory node over a period (API.md "Statistics"); being written (calendar engineer)."""


def issue_stats(*, area, date_from, date_to, now=None) -> dict:
    """Return the statistics of the issues created in [date_from, date_to] under `area`."""
    raise NotImplementedError("issue_stats is being written")
