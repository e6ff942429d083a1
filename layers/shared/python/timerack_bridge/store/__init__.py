"""DynamoDB adapters. Each takes its boto3 client as an argument; none builds one at import time."""
