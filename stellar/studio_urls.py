"""Studio pages."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import path

from agents.selectors import agent_list, membership_for


@login_required
def home(request):
    membership = membership_for(user=request.user)
    agents = agent_list(workspace=membership.workspace) if membership else []
    return render(request, "studio/home.html", {"membership": membership, "agents": agents})


app_name = "studio"
urlpatterns = [path("", home, name="home")]
