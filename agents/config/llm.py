"""Where an LLM agent's model settings come from, per environment, and what is missing.

One place decides it for the call runtime (the settings a call uses), publishing (an LLM agent
needs an environment that has them all) and connector diagnostics (the connector's
environment must have them). There is no built-in endpoint or model: an operator chooses them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from agents.config.models import Environment, SecretValue, VariableValue

BASE_URL_VARIABLE = "LLM_BASE_URL"
MODEL_VARIABLE = "LLM_MODEL"
API_KEY_SECRET = "LLM_API_KEY"
# Process-wide fallbacks an operator may set for every workspace (README, configuration).
BASE_URL_ENV = "STELLAR_LLM_BASE_URL"
API_KEY_ENV = "STELLAR_LLM_API_KEY"


@dataclass(frozen=True)
class LlmSettings:
    base_url: str
    model: str
    api_key: str

    def as_context(self) -> dict[str, Any]:
        """The shape CallContext.llm takes."""
        return {"base_url": self.base_url, "model": self.model, "api_key": self.api_key}


def llm_settings(
    *, llm_model: str, variables: dict[str, Any], secrets: dict[str, str]
) -> LlmSettings:
    """A call's settings from its environment's values: the agent's model wins over the
    variable; the environment's values win over the process-wide fallbacks."""
    return LlmSettings(
        base_url=str(variables.get(BASE_URL_VARIABLE) or os.environ.get(BASE_URL_ENV, "")),
        model=str(llm_model or variables.get(MODEL_VARIABLE) or ""),
        api_key=str(secrets.get(API_KEY_SECRET) or os.environ.get(API_KEY_ENV, "")),
    )


def llm_missing(*, environment: Environment, llm_model: str) -> list[str]:
    """What an LLM agent lacks in `environment`, in words a person can act on (empty: all set).
    Only whether values exist is read; no secret is decrypted."""
    variables = dict(
        VariableValue.objects.filter(
            environment=environment, variable__name__in=(BASE_URL_VARIABLE, MODEL_VARIABLE)
        ).values_list("variable__name", "value")
    )
    has_key = SecretValue.objects.filter(
        environment=environment, secret__name=API_KEY_SECRET
    ).exists()
    missing = []
    if not (variables.get(BASE_URL_VARIABLE) or os.environ.get(BASE_URL_ENV)):
        missing.append(f"a base URL (the variable {BASE_URL_VARIABLE})")
    if not (llm_model or variables.get(MODEL_VARIABLE)):
        missing.append(f"a model (the agent's LLM model, or the variable {MODEL_VARIABLE})")
    if not (has_key or os.environ.get(API_KEY_ENV)):
        missing.append(f"an API key (the secret {API_KEY_SECRET})")
    return missing
