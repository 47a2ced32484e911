"""Typed dependencies shared by routers: the database session, the caller, permissions.

Contract other routers rely on (the auth issue fills in the bodies):
- `SessionDep`: the request's session (committed at the boundary).
- `CurrentUser`: the authenticated, active `User` (401 otherwise).
- `require_permission(Permission.X)`: a dependency that yields the user or raises 403.
- `ServiceOrPermission(Permission.X)`: API key header *or* a user JWT with that permission.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlmodel import Session

from db.database import get_session

SessionDep = Annotated[Session, Depends(get_session)]
