"""Recipe model, YAML loader keeping file:line, variables. Pure: never imports boto3 or paramiko."""
