"""Pure domain rules: no AWS, no environment. Tested without mocks."""
