"""The HTAN2 data model: the vendored JSON Schemas, and their compilation to Pandera."""

from htan_submission.datamodel.registry import (
    Component,
    DataModelError,
    component_names,
    find_component,
    get_component,
    load_components,
)

__all__ = ["Component", "DataModelError", "component_names", "find_component", "get_component", "load_components"]
