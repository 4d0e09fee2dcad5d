"""A live call's runtime: the session and its collaborators (stream protocol, listener, turn loop,
speaker, monitor), writes off the event loop. It knows no Twilio: the phone side is injected."""
