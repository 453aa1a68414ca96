"""Forecasting a price series with a many-to-one recurrent model (seed 000's use case)."""

from .forecaster import Forecaster
from .frame import parse_number, prepare, read_csv

__all__ = ["Forecaster", "parse_number", "prepare", "read_csv"]
