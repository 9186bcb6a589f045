"""Plans: the YAML format, its models, loading with precise errors, and linting."""

from .loader import check_plan, load_plan, load_plan_text
from .model import Plan, Transition

__all__ = ["Plan", "Transition", "check_plan", "load_plan", "load_plan_text"]
