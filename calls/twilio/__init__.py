"""The Twilio call lifecycle in one place: the voice webhook and status callback, the <Connect>
and <Dial> callbacks, handover execution, the Media Streams consumer, and every TwiML we answer."""
