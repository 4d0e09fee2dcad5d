"""A live call's runtime: the call session and its collaborators, paced agent audio out, ordered
writes off the event loop. No Twilio HTTP here, only the media-stream protocol's events."""
