"""Agent actions: static response, API call, end call, send text message (handover: handovers)."""
