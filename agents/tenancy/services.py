"""Managing the members of a workspace (a new workspace, with its environments, comes from
agents.config.services.workspace_create)."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from agents.tenancy.models import Membership, Role, Workspace


def membership_add(*, workspace: Workspace, email: str, role: str = Role.VIEWER) -> Membership:
    """Add a user (created without a usable password if new) as a member; default role viewer."""
    user_model = get_user_model()
    user = user_model.objects.filter(email__iexact=email).first()
    if user is None:
        user = user_model.objects.create_user(username=email.lower(), email=email.lower())
        user.set_unusable_password()
        user.save(update_fields=["password"])
    membership, created = Membership.objects.get_or_create(
        workspace=workspace, user=user, defaults={"role": role}
    )
    if not created:
        raise ValidationError(f"{email} is already a member of {workspace}.")
    return membership


def membership_set_role(
    *, membership: Membership, role: str, actor_membership: Membership
) -> Membership:
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}.")
    if role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise PermissionDenied("Only an owner can make someone an owner.")
    if membership.role == Role.OWNER and role != Role.OWNER:
        owners = Membership.objects.filter(workspace=membership.workspace, role=Role.OWNER)
        if owners.count() == 1:
            raise ValidationError("A workspace needs at least one owner.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


def _require_owner_for_owners(*, actor_membership: Membership, roles: tuple[str, ...]) -> None:
    if Role.OWNER in roles and actor_membership.role != Role.OWNER:
        raise PermissionDenied("Only an owner can add, change or remove an owner.")


def membership_invite(
    *, actor_membership: Membership, email: str, role: str = Role.VIEWER
) -> Membership:
    """membership_add on behalf of a member (admins may not create owners)."""
    _require_owner_for_owners(actor_membership=actor_membership, roles=(role,))
    return membership_add(workspace=actor_membership.workspace, email=email, role=role)


def membership_change_role(
    *, membership: Membership, role: str, actor_membership: Membership
) -> Membership:
    _require_owner_for_owners(actor_membership=actor_membership, roles=(membership.role, role))
    return membership_set_role(membership=membership, role=role, actor_membership=actor_membership)


@transaction.atomic
def membership_remove(*, membership: Membership, actor_membership: Membership) -> None:
    _require_owner_for_owners(actor_membership=actor_membership, roles=(membership.role,))
    if membership.role == Role.OWNER:
        owners = Membership.objects.select_for_update().filter(
            workspace=membership.workspace, role=Role.OWNER
        )
        if len(owners) == 1:
            raise ValidationError("A workspace needs at least one owner.")
    membership.delete()
