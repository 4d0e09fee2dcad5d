"""Everything a live call needs from the database, loaded once when its stream connects."""

from __future__ import annotations

from agents.actions.context import CallContext
from agents.config.llm import llm_settings
from agents.config.selectors import environment_values
from agents.config.services import auth_credentials_get
from calls.models import Call


def call_context_for(call: Call) -> CallContext:
    """Template values of the call's environment (secrets decrypted here, kept in memory only)."""
    environment = call.environment
    values = (
        environment_values(environment=environment)
        if environment is not None
        else {"secrets": {}, "secret_hosts": {}, "variables": {}, "auth": {}}
    )
    auth = {
        name: {
            "kind": cred.auth_connector.kind,
            "header_name": cred.auth_connector.header_name,
            "token_url": cred.auth_connector.token_url,
            "scope": cred.auth_connector.scope,
            "allowed_hosts": list(cred.auth_connector.allowed_hosts or []),
            "credentials": auth_credentials_get(credential=cred),
        }
        for name, cred in values["auth"].items()
    }
    snapshot = call.agent_snapshot or {}
    secrets = values["secrets"]
    llm = llm_settings(
        llm_model=snapshot.get("llm_model") or "", variables=values["variables"], secrets=secrets
    ).as_context()
    call_values = {
        "sid": call.call_sid,
        "from": call.from_number,
        "to": call.to_number,
        "digits": call.ivr_params.get("Digits", ""),
        **{k: v for k, v in call.ivr_params.items() if k != "Digits"},
    }
    return CallContext(
        call=call_values,
        variables=values["variables"],
        secrets=secrets,
        secret_hosts=values["secret_hosts"],
        auth=auth,
        environment=environment.kind if environment is not None else "development",
        llm=llm,
    )
