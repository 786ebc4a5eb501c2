"""foi-sync: FOI casework in the council's own Dynamics 365 tenant."""

__version__ = "0.1.0"
