"""Request dependencies: the runtime's services and the caller, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from todostream.bootstrap import Runtime
from todostream.observability.tracing import current_traceparent, request_id_var
from todostream.service_layer.profiles import ProfileService
from todostream.service_layer.todos import Caller, TodoService

# Dependencies are `async def` although they never await: FastAPI runs plain `def`
# dependencies in a thread pool, and the hand-off cost more than the work (measured).


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_todo_service(runtime: RuntimeDep) -> TodoService:
    return runtime.todos


async def get_profile_service(runtime: RuntimeDep) -> ProfileService:
    return ProfileService(runtime.uow)


_bearer = HTTPBearer(auto_error=False, description="A JWT whose `sub` names the user.")


async def get_caller(
    runtime: RuntimeDep,
    _documented: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Caller:
    """The user the request acts for; the raw header is checked so a non-Bearer scheme is
    refused rather than mistaken for an anonymous request."""
    user_id = runtime.authenticator.user_id(authorization)
    return Caller(
        user_id=user_id, traceparent=current_traceparent(), request_id=request_id_var.get()
    )


TodoServiceDep = Annotated[TodoService, Depends(get_todo_service)]
ProfileServiceDep = Annotated[ProfileService, Depends(get_profile_service)]
CallerDep = Annotated[Caller, Depends(get_caller)]
IfMatch = Annotated[str | None, Header(description="ETag of the version this write expects")]
