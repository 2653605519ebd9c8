"""The caller's own settings."""

from __future__ import annotations

from fastapi import APIRouter

from todostream.api.deps import CallerDep, ProfileServiceDep
from todostream.api.errors import documented
from todostream.service_layer.commands import UpdateProfile
from todostream.service_layer.views import Profile

router = APIRouter(prefix="/api", tags=["profile"], responses=documented(400, 401, 503))


@router.get("/me", response_model=Profile)
async def get_profile(caller: CallerDep, profiles: ProfileServiceDep) -> Profile:
    """Who the caller is and the time zone their dates are read in."""
    return await profiles.get(caller)


@router.patch("/me", response_model=Profile)
async def update_profile(
    command: UpdateProfile, caller: CallerDep, profiles: ProfileServiceDep
) -> Profile:
    """Set the time zone (IANA name); whole-day deadlines follow it."""
    return await profiles.set_time_zone(caller, command.time_zone)
