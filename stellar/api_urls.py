"""REST API routes, gathered from each app's api module."""

from rest_framework.routers import DefaultRouter

router = DefaultRouter()
urlpatterns = router.urls
