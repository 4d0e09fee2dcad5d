"""What the calls app announces to the layers above it, so services never import them."""

from django.dispatch import Signal

# Sent (after commit) with `call_id` once a call has ended and its media stream, if any, has
# closed: the recording pipeline (calls.tasks) enqueues finalize_call on it.
call_finished = Signal()
