"""Small shared enums of the request path (plain ints: they are compared on every request)."""

# Request body framing.
NO_BODY, LENGTH, CHUNKED = 0, 1, 2
# Where request body bytes go.
TO_BUFFER, TO_UPSTREAM, TO_DISCARD = 0, 1, 2
# Response framing towards the client.
RAW, CHUNK = 0, 1
# Why a client connection stopped reading (bit flags, see ClientConnection.pause).
PAUSE_UPSTREAM, PAUSE_BUFFER, PAUSE_PIPELINE = 1, 2, 4
