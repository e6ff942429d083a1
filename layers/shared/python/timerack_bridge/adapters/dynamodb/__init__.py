"""DynamoDB adapters over the one table of `tables.py`. Each takes its boto3 client; none builds one at import time."""
