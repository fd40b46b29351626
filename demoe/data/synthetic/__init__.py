"""Embedded synthetic AIO-Blur: small datasets in the published layouts (see ``writer``)."""
