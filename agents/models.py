"""Agents app models: tenancy, agents with draft + versions, environments and their secrets."""

from agents.config.models import (
    AuthConnector,
    AuthConnectorCredential,
    AuthKind,
    Environment,
    EnvironmentKind,
    EnvironmentWebhook,
    Secret,
    SecretValue,
    Variable,
    VariableValue,
)
from agents.definitions.action_models import ActionKind, AgentAction
from agents.definitions.models import Agent, AgentVersion, Brain, VersionStatus
from agents.tenancy.models import Membership, Role, Workspace
from agents.testing.models import AgentTestCase, AgentTestRun

__all__ = [
    "ActionKind",
    "Agent",
    "AgentAction",
    "AgentTestCase",
    "AgentTestRun",
    "AgentVersion",
    "AuthConnector",
    "AuthConnectorCredential",
    "AuthKind",
    "Brain",
    "Environment",
    "EnvironmentKind",
    "EnvironmentWebhook",
    "Membership",
    "Role",
    "Secret",
    "SecretValue",
    "Variable",
    "VariableValue",
    "VersionStatus",
    "Workspace",
]
