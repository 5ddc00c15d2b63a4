"""The one scoped base of every view that reads issues or areas, API or page: out of scope answers 404.

`ScopedIssueMixin` works in DRF views (APIView, GenericAPIView, viewsets) and in Django class-based views alike;
it reads `self.request.user` only. What a caller may see is orgs.scoping's rule (`Issue.objects.visible_to`, through
issues.selectors.issue_list_for_user, and `area_for_user_or_none` for territory nodes); this module only applies it,
so that no view filters issues by hand and none can forget to.

- `get_queryset()` is the caller's issues; the class-level `queryset` is empty, so code that runs without a
  request (schema generation) sees nothing.
- `get_issue(issue_id)` is one of them, or `config.errors.NotFound` (a malformed id, a missing issue and one out
  of scope give the same answer); `get_area(code)` is a node the caller may read statistics under, or NotFound.
- NotFound is Django's Http404 as well: a page answers its 404 page, the API its error body.

A page view: `class IssuePageView(LoginRequiredMixin, ScopedIssueMixin, TemplateView)`, then `self.get_issue(...)`.
An API view: `class PhotoFileView(ScopedIssueMixin, APIView)`; the issue viewset adds its actions on top
(issues.api.views.ScopedIssueViewSetMixin).
"""

from django.db.models import QuerySet

from config.errors import NotFound
from grids.models import Area
from issues.arguments import issue_pk
from issues.models import Issue
from issues.selectors import issue_list_for_user
from orgs.scoping import area_for_user_or_none


class ScopedIssueMixin:
    """Restrict every issue and area a view reads to what the caller may see; out of scope is 404."""

    queryset = Issue.objects.none()

    def get_queryset(self) -> QuerySet[Issue]:
        """Return the issues the caller may see (prefetched for the representation)."""
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Issue.objects.none()
        return issue_list_for_user(user=self.request.user)

    def get_issue(self, issue_id) -> Issue:
        """Return the issue `issue_id` if the caller may see it, else raise NotFound (the same as a missing one)."""
        pk = issue_pk(issue_id)
        issue = self.get_queryset().filter(pk=pk).first() if pk is not None else None
        if issue is None:
            raise NotFound()
        return issue

    def get_area(self, code: str) -> Area:
        """Return the territory node `code` if the caller may read under it, else raise NotFound."""
        area = area_for_user_or_none(self.request.user, code)
        if area is None:
            raise NotFound()
        return area
