"""Adoption: start a Goldsmith project (`goldsmith init`) and bring Packer templates over (`goldsmith
import-packer`).

Its own package because both write a user's project files rather than bake anything: they are pure (no boto3,
no SSH), sit beside goldsmith/pipeline/ under goldsmith/commands.py, and may use the recipe loader (to check
what they write) and the pipeline export's workflow pieces, never the other way round. goldsmith/recipe/ stays
the models and their rules; scaffold templates ship as package data under scaffold/.
"""
