"""Data: loaders for the formats people have, splits, scaling, and the shipped sets."""

from nbengine.data.csv import LabelledData, load_labelled_csv
from nbengine.data.registry import SHIPPED, resolve
from nbengine.data.split import Standardizer, stratified_split

__all__ = [
    "LabelledData",
    "load_labelled_csv",
    "SHIPPED",
    "resolve",
    "Standardizer",
    "stratified_split",
]
