"""The ``spp`` command line (click)."""
