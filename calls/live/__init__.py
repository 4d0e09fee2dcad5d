"""Listen & intervene and the Playground: live monitoring over the channel layer, their pages and
websockets."""
