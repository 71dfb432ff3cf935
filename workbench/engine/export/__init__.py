"""Exports of trained models into formats the rest of the ecosystem loads."""
