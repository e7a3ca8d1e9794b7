"""Compound gate controller: domain core, daemon and the gatectl command line."""
