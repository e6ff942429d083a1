"""The API's own shapes: request bodies (input) and replies (output)."""
