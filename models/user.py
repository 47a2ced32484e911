"""Accounts and RBAC tables: `User`, `Role`, the permission catalogue and their link tables.

Usernames and emails are unique case-insensitively (functional unique indexes on `lower()`),
while the stored value keeps the spelling the user chose.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, StringConstraints, field_validator
from sqlalchemy import Column, ForeignKey, Index, Integer, String, func, or_, select
from sqlmodel import Field, Session, SQLModel

from db.types import UTCDateTime
from helpers.time_utils import utc_now
from models.api_fields import NotNull

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$"
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
PASSWORD_MIN_LENGTH = 8
# Long passphrases must work; the bound only stops multi-megabyte bodies from being hashed.
PASSWORD_MAX_LENGTH = 1024


class UserRole(SQLModel, table=True):
    __tablename__ = "user_role"

    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    role_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("role.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )


class RolePermission(SQLModel, table=True):
    __tablename__ = "role_permission"

    role_id: int = Field(
        sa_column=Column(Integer, ForeignKey("role.id", ondelete="CASCADE"), primary_key=True)
    )
    permission: str = Field(
        sa_column=Column(
            String(64), ForeignKey("permission.name", ondelete="CASCADE"), primary_key=True
        )
    )


class PermissionEntry(SQLModel, table=True):
    """One row per `Permission` member: the catalogue roles draw from."""

    __tablename__ = "permission"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    description: str = ""

    @classmethod
    def all(cls, session: Session) -> list[PermissionEntry]:
        return list(session.scalars(select(cls).order_by(cls.name)))


class Role(SQLModel, table=True):
    __tablename__ = "role"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    description: str = ""
    is_system: bool = False
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)

    @classmethod
    def get_by_name(cls, session: Session, name: str) -> Role | None:
        return session.scalars(select(cls).where(cls.name == name)).first()

    @classmethod
    def get_many_by_name(cls, session: Session, names: list[str]) -> list[Role]:
        if not names:
            return []
        return list(session.scalars(select(cls).where(cls.name.in_(names))))

    @classmethod
    def permissions_by_role(cls, session: Session, role_ids: list[int]) -> dict[int, list[str]]:
        result: dict[int, list[str]] = {role_id: [] for role_id in role_ids}
        if not role_ids:
            return result
        rows = session.execute(
            select(RolePermission.role_id, RolePermission.permission)
            .where(RolePermission.role_id.in_(role_ids))
            .order_by(RolePermission.permission)
        )
        for role_id, permission in rows:
            result[role_id].append(permission)
        return result

    @classmethod
    def user_counts(cls, session: Session, role_ids: list[int]) -> dict[int, int]:
        if not role_ids:
            return {}
        rows = session.execute(
            select(UserRole.role_id, func.count())
            .where(UserRole.role_id.in_(role_ids))
            .group_by(UserRole.role_id)
        )
        return {role_id: count for role_id, count in rows}


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_username_lower", func.lower(Column("username")), unique=True),
        Index("uq_users_email_lower", func.lower(Column("email")), unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column("username", String(64), nullable=False))
    email: str = Field(sa_column=Column("email", String(254), nullable=False))
    full_name: str = ""
    hashed_password: str = Field(max_length=255)
    is_active: bool = True
    is_superuser: bool = False
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    password_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_login_count: int = 0
    # How many lockouts since the last success; each one doubles the next lock period.
    lockout_count: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @classmethod
    def get_by_login(cls, session: Session, login: str, *, for_update: bool = False) -> User | None:
        """The user whose username or email equals `login`, ignoring case."""
        needle = login.strip().lower()
        query = select(cls).where(
            or_(func.lower(cls.username) == needle, func.lower(cls.email) == needle)
        )
        if for_update:
            query = query.with_for_update()
        return session.scalars(query).first()

    @classmethod
    def get_by_username(cls, session: Session, username: str) -> User | None:
        query = select(cls).where(func.lower(cls.username) == username.strip().lower())
        return session.scalars(query).first()

    @classmethod
    def exists_with(cls, session: Session, *, username: str | None, email: str | None) -> bool:
        conditions = []
        if username:
            conditions.append(func.lower(cls.username) == username.strip().lower())
        if email:
            conditions.append(func.lower(cls.email) == email.strip().lower())
        if not conditions:
            return False
        return session.scalars(select(cls.id).where(or_(*conditions)).limit(1)).first() is not None

    @classmethod
    def role_names(cls, session: Session, user_ids: list[int]) -> dict[int, list[str]]:
        result: dict[int, list[str]] = {user_id: [] for user_id in user_ids}
        if not user_ids:
            return result
        rows = session.execute(
            select(UserRole.user_id, Role.name)
            .join(Role, Role.id == UserRole.role_id)
            .where(UserRole.user_id.in_(user_ids))
            .order_by(Role.name)
        )
        for user_id, name in rows:
            result[user_id].append(name)
        return result

    @classmethod
    def permission_names(cls, session: Session, user_id: int) -> set[str]:
        rows = session.scalars(
            select(RolePermission.permission)
            .join(UserRole, UserRole.role_id == RolePermission.role_id)
            .where(UserRole.user_id == user_id)
            .distinct()
        )
        return set(rows)


# --- API schemas -------------------------------------------------------------------------

Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254)]
RoleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,63}$")]


def _check_password(value: str) -> str:
    if len(value) < PASSWORD_MIN_LENGTH:
        raise ValueError(f"password must have at least {PASSWORD_MIN_LENGTH} characters")
    if len(value) > PASSWORD_MAX_LENGTH:
        raise ValueError(f"password must have at most {PASSWORD_MAX_LENGTH} characters")
    return value


class UserCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    email: Email
    full_name: str = Field(default="", max_length=200)
    password: str
    is_active: bool = True
    is_superuser: bool = False
    roles: list[str] = Field(default_factory=list)

    _password = field_validator("password")(_check_password)


class UserUpdate(SQLModel):
    """Profile fields an admin may change; roles, activation and passwords have their own routes."""

    model_config = ConfigDict(extra="forbid")

    email: NotNull[Email] = None
    full_name: NotNull[str] = Field(default=None, max_length=200)
    is_superuser: NotNull[bool] = None


class UserRolesUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str]


class PasswordReset(SQLModel):
    model_config = ConfigDict(extra="forbid")

    new_password: str

    _password = field_validator("new_password")(_check_password)


class PasswordChange(SQLModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=PASSWORD_MAX_LENGTH)
    new_password: str

    _password = field_validator("new_password")(_check_password)


class UserPublic(SQLModel):
    id: int
    username: str
    email: str
    full_name: str
    is_active: bool
    is_superuser: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    locked_until: datetime | None
    failed_login_count: int
    roles: list[str] = []


class UsersPage(SQLModel):
    items: list[UserPublic]
    total: int
    limit: int
    offset: int


class Me(SQLModel):
    id: int
    username: str
    email: str
    full_name: str
    is_superuser: bool
    roles: list[str]
    permissions: list[str]
    session_id: str


class RoleCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    name: RoleName
    description: str = Field(default="", max_length=500)
    permissions: list[str] = Field(default_factory=list)


class RoleUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    description: NotNull[str] = Field(default=None, max_length=500)


class RolePermissionsUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    permissions: list[str]


class RolePublic(SQLModel):
    id: int
    name: str
    description: str
    is_system: bool
    permissions: list[str]
    user_count: int = 0


class PermissionPublic(SQLModel):
    name: str
    resource: str
    action: str
    description: str
