"""Forecasting a price series with a many-to-one recurrent model (seed 000's use case)."""

from unrolled.tasks.forecast.forecaster import Forecaster
from unrolled.tasks.forecast.frame import parse_number, prepare, read_csv

__all__ = ["Forecaster", "parse_number", "prepare", "read_csv"]
