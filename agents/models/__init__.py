"""Agents app models: tenancy, agents with draft + versions, environments and their secrets."""

from .actions import ActionKind, AgentAction
from .agent import Agent, AgentVersion, Brain, VersionStatus
from .environment import (
    AuthConnector,
    AuthConnectorCredential,
    AuthKind,
    Environment,
    EnvironmentKind,
    Secret,
    SecretValue,
    Variable,
    VariableValue,
)
from .workspace import Membership, Role, Workspace

__all__ = [
    "ActionKind",
    "Agent",
    "AgentAction",
    "AgentVersion",
    "AuthConnector",
    "AuthConnectorCredential",
    "AuthKind",
    "Brain",
    "Environment",
    "EnvironmentKind",
    "Membership",
    "Role",
    "Secret",
    "SecretValue",
    "Variable",
    "VariableValue",
    "VersionStatus",
    "Workspace",
]
