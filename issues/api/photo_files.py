"""The stored photo files, served only to who may see their issue (issues.access): out of scope is 404.

The issue representation lists each photo at MEDIA_URL + its storage name (`media/issues/<issue id>/<file>`); this
view answers that URL, so a photo accepted is a photo its readers can open, and nothing serves the media folder
without the scoping check.
"""

from django.http import FileResponse
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from config.errors import NotFound
from issues.access import ScopedIssueMixin
from issues.models import Photo

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class IssuePhotoFileView(ScopedIssueMixin, APIView):
    """Answer one photo file of an issue the caller may see."""

    permission_classes = [IsAuthenticated]
    schema = None  # a file, not part of the JSON API

    def get(self, request, issue_id, name):
        photo = Photo.objects.filter(
            issue__in=self.get_queryset(), issue_id=issue_id, image=f"issues/{issue_id}/{name}"
        ).first()
        if photo is None:
            raise NotFound()
        return photo_file_response(photo)


def photo_file_response(photo: Photo) -> FileResponse:
    """Answer a photo's file, kept out of shared caches; a file gone from the storage is NotFound."""
    try:
        file = photo.image.open("rb")
    except FileNotFoundError:
        raise NotFound() from None
    response = FileResponse(file, content_type=CONTENT_TYPES.get(photo.format, "application/octet-stream"))
    # Personal data: no shared cache keeps a copy.
    response["Cache-Control"] = "private, no-store"
    return response
