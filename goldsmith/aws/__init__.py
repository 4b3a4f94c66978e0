"""Goldsmith's AWS boundary: the only package of the product that imports boto3/botocore (the sandbox,
which plays AWS, talks to its own moto server with boto3 too). Failures become AwsError here."""
