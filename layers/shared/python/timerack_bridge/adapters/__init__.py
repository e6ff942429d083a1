"""Adapters: the AWS and HTTP implementations of the logic's ports. Each takes its client."""
